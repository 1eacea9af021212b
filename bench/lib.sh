# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash disable=SC2034  # (variables for the scripts that source it)
# Shared helpers of the bench scripts (sourced by bench/run.sh, bench/scaling.sh and
# bench/memory.sh; not run on its own). They start the two targets on loopback, each with
# state of its own in a temp folder, and stop exactly the processes they started:
#
#   bench_init BUILD_DIR             checks the build (modtgtd, modtgtadm, modules), makes
#                                    $BW (work folder, removed at exit unless --keep)
#   free_port                        a TCP port free on 127.0.0.1 (the kernel's pick)
#   start_modtgt THREADS             modtgtd --no-config on 127.0.0.1:0, admin socket in
#                                    $BW; sets MODTGT_PID, MODTGT_PORT
#   madm ARGS...                     modtgtadm on that socket
#   modtgt_target TID IQN            a target open to every initiator
#   start_tgt                        Debian's tgtd on a free port, in a mount namespace of
#                                    its own whose /run is $BW/tgt-run (so its control
#                                    socket and lock file are ours, nothing in the host's
#                                    /run); sets TGT_PID, TGT_PORT
#   tadm ARGS...                     tgtadm --lld iscsi inside that namespace
#   tgt_target TID IQN               a target open to every initiator
#   proc_ticks PID                   utime+stime of PID (all threads), clock ticks
#   rss_kib PID                      resident set size (VmRSS) in KiB
#   median                           median of the numbers on stdin ("NA" if none)
#   die MSG / note MSG
# tgtd ignores SIGTERM: it is stopped with SIGKILL, by PID.
set -u -o pipefail

BENCH_PROG=${BENCH_PROG:-${0##*/}}
die() { echo "$BENCH_PROG: error: $*" >&2; exit 2; }
note() { echo "$BENCH_PROG: $*" >&2; }

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
MODTGT_PID=; TGT_PID=; BW=; BENCH_KEEP=${BENCH_KEEP:-0}
_bench_pids=()

bench_cleanup() {
  local p
  for p in "${_bench_pids[@]}"; do
    kill -0 "$p" 2>/dev/null || continue
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [ -n "$BW" ] && [ -d "$BW" ]; then
    if [ "$BENCH_KEEP" = 1 ]; then note "work folder kept: $BW"; else rm -rf "$BW"; fi
  fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found (Debian package: $2)"; }

bench_init() {
  BUILD=$(cd "${1:?build folder}" 2>/dev/null && pwd) || die "build folder '$1' does not exist"
  local f
  for f in modtgtd modtgtadm lib/modtgt/transport/lld_iscsi.so; do
    [ -e "$BUILD/$f" ] || die "$BUILD/$f is missing: build it first (ninja -C BUILD modtgtd modtgtadm lld_iscsi bs_null bs_rdwr bs_uring loadgen)"
  done
  need python3 python3
  BW=$(mktemp -d "${TMPDIR:-/tmp}/modtgt-bench.XXXXXX")
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

proc_ticks() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo GONE; return; }
  s=${s##*) }  # fields after "pid (comm) "; comm may hold spaces
  awk '{print $12 + $13}' <<<"$s"
}

rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }

median() {
  sort -g | awk '{a[NR]=$1} END{if (NR==0) print "NA"; else if (NR%2) print a[(NR+1)/2];
                                else print (a[NR/2]+a[NR/2+1])/2}'
}

wait_until() {  # wait_until SECONDS CMD...: polls CMD every 0.05 s
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt "$end" ] || return 1
    sleep 0.05
  done
}

MODTGTD_EXTRA_ARGS=()
madm() { "$BUILD/modtgtadm" --socket "$BW/modtgtd.sock" "$@"; }

start_modtgt() {
  local threads=${1:-0} targs=()
  [ "$threads" -gt 0 ] && targs=(--threads "$threads")
  # More options from the caller (bench/run.sh --modtgtd-args).
  targs+=("${MODTGTD_EXTRA_ARGS[@]}")
  "$BUILD/modtgtd" -f --no-config --iscsi portal=127.0.0.1:0 --socket "$BW/modtgtd.sock" \
    --module-dir "$BUILD/lib/modtgt" --log-level warn "${targs[@]}" >> "$BW/modtgtd.log" 2>&1 &
  MODTGT_PID=$!
  _bench_pids+=("$MODTGT_PID")
  wait_until 20 madm --mode system --op show ||
    { tail -5 "$BW/modtgtd.log" >&2; die "modtgtd did not answer on $BW/modtgtd.sock"; }
  MODTGT_PORT=$(madm --mode system --op show --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["portals"][0].rsplit(":",1)[1])')
}

stop_modtgt() {
  [ -n "$MODTGT_PID" ] || return 0
  kill -TERM "$MODTGT_PID"; wait "$MODTGT_PID" 2>/dev/null; MODTGT_PID=
  rm -f "$BW/modtgtd.sock"
}

modtgt_target() {
  madm --mode target --op new --tid "$1" --targetname "$2" >/dev/null &&
    madm --mode target --op bind --tid "$1" --initiator-address ALL >/dev/null
}

start_tgt() {
  need tgtd tgt; need unshare util-linux; need nsenter util-linux
  mkdir -p "$BW/tgt-run"
  TGT_PORT=$(free_port)
  # A private /run: tgtd's control socket (/var/run/tgtd/socket.0) and its lock live in
  # $BW/tgt-run, so this tgtd meets no other tgtd on the machine and leaves nothing behind.
  unshare -m --propagation private sh -c \
    'mount --bind "$1" /run && mkdir -p /run/tgtd && exec tgtd -f --iscsi portal=127.0.0.1:"$2"' \
    sh "$BW/tgt-run" "$TGT_PORT" >> "$BW/tgtd.log" 2>&1 &
  TGT_PID=$!
  _bench_pids+=("$TGT_PID")
  wait_until 20 tadm --mode system --op show ||
    { tail -5 "$BW/tgtd.log" >&2; die "tgtd did not answer (port $TGT_PORT)"; }
  wait_until 20 listening "$TGT_PORT" ||
    die "tgtd does not listen on 127.0.0.1:$TGT_PORT"
}

listening() { ss -ltnH "sport = :$1" | grep -q .; }

tadm() { nsenter -t "$TGT_PID" -m tgtadm -C 0 --lld iscsi "$@"; }

tgt_target() {
  tadm --mode target --op new --tid "$1" --targetname "$2" &&
    tadm --mode target --op bind --tid "$1" --initiator-address ALL
}
