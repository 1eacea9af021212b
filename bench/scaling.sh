#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# =============================================================================
# bench/scaling.sh - total IOPS against the number of sessions and of event loops.
#
# Usage: bench/scaling.sh [options] [BUILD_DIR]   (BUILD_DIR default: ./build)
#   --threads LIST    modtgtd --threads values (default 1,2)
#   --sessions LIST   session counts (default 1,4,16,64)
#   --targets N       targets the sessions are spread over, round robin (default 8)
#   --qd N            commands in flight per session (default 16)
#   --shapes LIST     randread,randwrite (default both; 4 KiB, null LUNs)
#   --rounds N        rounds (default 3, median reported); --secs S per run (default 3)
#   --no-tgt          skip Debian's tgt (measured once per round as the reference)
#   --out DIR         raw.tsv and table.md (default bench-scaling-DATE)
#
# Each target holds one bs_null LUN (1 TiB; offsets within the first 1 GiB). The client is
# bench/loadgen with min(2, sessions) threads. Per point: total IOPS, mean and p99 latency
# (loadgen), target CPU us per I/O (/proc/PID/stat), client CPU. modtgtd is restarted per
# --threads value; tgt (its default thread pool) gets the same sessions and targets.
# =============================================================================
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
usage() { sed -n '3,/^# =====/{/^# =====/d;s/^# \{0,1\}//;p}' "$0"; }

THREADS_L=1,2; SESSIONS_L=1,4,16,64; NT=8; QD=16; SHAPES=randread,randwrite; ROUNDS=3; SECS=3
TGT=1; OUT=; BUILD_ARG=./build
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS_L=${2:?}; shift 2 ;;
    --sessions) SESSIONS_L=${2:?}; shift 2 ;;
    --targets) NT=${2:?}; shift 2 ;;
    --qd) QD=${2:?}; shift 2 ;;
    --shapes) SHAPES=${2:?}; shift 2 ;;
    --rounds) ROUNDS=${2:?}; shift 2 ;;
    --secs) SECS=${2:?}; shift 2 ;;
    --no-tgt) TGT=0; shift ;;
    --out) OUT=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (--help)" ;;
    *) BUILD_ARG=$1; shift ;;
  esac
done
for v in "$NT" "$QD" "$ROUNDS" ${THREADS_L//,/ } ${SESSIONS_L//,/ }; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "'$v' is not a positive integer"
done
for s in ${SHAPES//,/ }; do case "$s" in randread|randwrite) ;; *) die "unknown shape $s" ;; esac; done
bench_init "$BUILD_ARG"
LOADGEN=$BUILD/bench/loadgen
[ -x "$LOADGEN" ] || die "$LOADGEN missing (ninja -C $BUILD loadgen)"
OUT=${OUT:-./bench-scaling-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT" || die "cannot create $OUT"
RAW=$OUT/raw.tsv
Q=iqn.2026-12.bench

if [ "$TGT" = 1 ]; then
  start_tgt
  for t in $(seq 1 "$NT"); do
    tgt_target "$t" "$Q.tgt:s$t" && tadm --mode logicalunit --op new --tid "$t" --lun 1 \
      --bstype null --backing-store null0 || die "tgt: target $t"
  done
fi

urls() {  # PORT WHO: one URL per target
  local t; for t in $(seq 1 "$NT"); do echo "iscsi://127.0.0.1:$1/$Q.$2:s$t/1"; done
}

printf 'round\ttarget\tthreads\tsessions\tshape\tiops\tlat_mean_us\tlat_p99_us\ttarget_cpu_us_per_io\tclient_cpu_s\n' > "$RAW"
measure() {  # ROUND WHO THREADS SESSIONS SHAPE PID PORT
  local r=$1 who=$2 th=$3 n=$4 sh=$5 pid=$6 port=$7 out t0 t1 lt
  lt=$(( n < 2 ? 1 : 2 ))
  t0=$(proc_ticks "$pid")
  # shellcheck disable=SC2046
  out=$(timeout -k 5 "$(awk -v s="$SECS" 'BEGIN{print int(s + 120)}')" "$LOADGEN" --sessions "$n" --threads "$lt" --qd "$QD" --bs 4096 \
    --rw "$sh" --time "$SECS" --span $((1 << 30)) $(urls "$port" "$who") 2>&1) ||
    { echo "$out" | tail -3 >&2; die "loadgen failed ($who, $n sessions, $sh)"; }
  t1=$(proc_ticks "$pid")
  awk -v r="$r" -v who="$who" -v th="$th" -v n="$n" -v sh="$sh" -v t=$((t1 - t0)) -v h="$CLK_TCK" '/^result /{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\n", r, who, th, n, sh, v["iops"], v["lat_mean_us"],
      v["lat_p99_us"], (v["ios"] > 0) ? t / h * 1e6 / v["ios"] : 0, v["client_cpu_s"] }' <<<"$out" >> "$RAW"
  note "$(tail -1 "$RAW")"
}

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
  echo "modtgt: $(git -C "$HERE/.." describe --always --dirty 2>/dev/null || echo unknown); $NT targets x 1 null LUN; QD $QD per session; ${SECS}s per run"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/info.txt"
for th in ${THREADS_L//,/ }; do
  start_modtgt "$th"
  for t in $(seq 1 "$NT"); do
    modtgt_target "$t" "$Q.modtgt:s$t" && madm --mode logicalunit --op new --tid "$t" --lun 1 \
      --bstype null --backing-store null0 --bsopts size=1T >/dev/null || die "modtgt: target $t"
  done
  for r in $(seq 1 "$ROUNDS"); do
    for n in ${SESSIONS_L//,/ }; do
      for sh in ${SHAPES//,/ }; do
        measure "$r" modtgt "$th" "$n" "$sh" "$MODTGT_PID" "$MODTGT_PORT"
        [ "$TGT" = 1 ] && measure "$r" tgt "$th" "$n" "$sh" "$TGT_PID" "$TGT_PORT"
      done
    done
  done
  stop_modtgt
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/info.txt"

python3 - "$RAW" > "$OUT/table.md" <<'EOF'
import csv, statistics, sys
from collections import defaultdict
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
d = defaultdict(lambda: defaultdict(list))
for r in rows:
    k = (r["shape"], int(r["threads"]), int(r["sessions"]), r["target"])
    for f in ("iops", "lat_mean_us", "lat_p99_us", "target_cpu_us_per_io", "client_cpu_s"):
        d[k][f].append(float(r[f]))
m = lambda k, f: statistics.median(d[k][f]) if d[k][f] else None
print("Total IOPS (median of rounds; [min-max]), 4 KiB on null LUNs; tgt measured in the same "
      "rounds (tgt has no --threads: its rows repeat per modtgt setting).\n")
print("| shape | --threads | sessions | modtgt IOPS | modtgt p99 us | modtgt CPU us/IO | tgt IOPS | tgt CPU us/IO | IOPS ratio |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for k in sorted({k[:3] for k in d}):
    mk, tk = k + ("modtgt",), k + ("tgt",)
    mi, ti = m(mk, "iops"), m(tk, "iops")
    rg = f" [{min(d[mk]['iops']):.0f}-{max(d[mk]['iops']):.0f}]" if d[mk]["iops"] else ""
    f = lambda v, p=0: "NA" if v is None else f"{v:.{p}f}"
    print(f"| {k[0]} | {k[1]} | {k[2]} | {f(mi)}{rg} | {f(m(mk, 'lat_p99_us'))} | {f(m(mk, 'target_cpu_us_per_io'), 2)} "
          f"| {f(ti)} | {f(m(tk, 'target_cpu_us_per_io'), 2)} | {'NA' if not mi or not ti else f'{mi / ti:.2f}'} |")
EOF
cat "$OUT/info.txt" "$OUT/table.md"
