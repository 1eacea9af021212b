#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# profile-hotpath.sh - the per-I/O cost of modtgtd's hot path, in a form that is repeatable
# on a noisy shared machine.
#
# Usage: [PROFILE_MODE=callgrind|cpu] scripts/profile-hotpath.sh BUILD_DIR OUTDIR [SHAPE...]
#
# Starts BUILD_DIR/modtgtd (one loop thread, --no-config, portal on 127.0.0.1 port 0, admin
# socket in OUTDIR) with one target and its LUNs: 1 null (1 GiB), 2 rdwr (1 GiB sparse file
# in OUTDIR), and in cpu mode 3 uring buffered and 4 uring O_DIRECT (OUTDIR must take
# O_DIRECT). Each shape runs twice with `qemu-img bench` (qemu's libiscsi driver): once with
# 1 I/O and once with PROFILE_IOS I/Os; cost per I/O = (cost(N) - cost(1)) / (N - 1), so
# login, logout and the client's set-up cancel out.
#
# PROFILE_MODE=callgrind (default): modtgtd runs under `valgrind --tool=callgrind`; the cost
#   is user-space instructions (Ir), stable to a fraction of a percent run to run. Counters
#   are zeroed before and dumped after each run; the dumps (callgrind.out.*) stay in OUTDIR
#   for callgrind_annotate. valgrind 3.19 hangs on io_uring, so uring shapes need cpu mode.
#   Default PROFILE_IOS 20000.
# PROFILE_MODE=cpu: modtgtd runs natively; the cost is its utime+stime (/proc/PID/stat, all
#   threads, kernel time included) in microseconds per I/O, plus the wall-clock IOPS of the
#   client. Noisier (a shared machine): repeat and compare side by side. Default
#   PROFILE_IOS 200000.
#
# Shapes: STORE-{r,w}QD with STORE in null rdwr uring direct, e.g. null-w32 null-r1.
# PROFILE_BS: I/O size in bytes (default 4096, offsets scattered by a large odd stride);
#   another size runs sequentially (e.g. PROFILE_BS=131072 for the 128 KiB write path).
# Prints one TSV line per shape. Needs: qemu-img with iscsi:// (qemu-block-extra),
# python3, valgrind (callgrind mode).
set -eu -o pipefail
BUILD=$(cd "$1" && pwd); OUT=$2; shift 2
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
MODE=${PROFILE_MODE:-callgrind}
SHAPES=("$@")
if [ "$MODE" = callgrind ]; then
  N=${PROFILE_IOS:-20000}
  [ ${#SHAPES[@]} -gt 0 ] || SHAPES=(null-w32 null-r32 null-r1 rdwr-w32 rdwr-r32 rdwr-r1)
  LAUNCH=(valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p"
          --dump-instr=no)
else
  N=${PROFILE_IOS:-200000}
  [ ${#SHAPES[@]} -gt 0 ] || SHAPES=(null-w32 null-r32 null-r1 rdwr-w32 rdwr-r32 rdwr-r1
    uring-w32 uring-r32 uring-r1 direct-w32 direct-r32 direct-r1)
  LAUNCH=()
fi
SOCK=$OUT/modtgtd.sock
IQN=iqn.2026-12.org.modtgt.profile:hot
adm() { "$BUILD/modtgtadm" --socket "$SOCK" "$@"; }

rm -f "$OUT"/callgrind.out.*
"${LAUNCH[@]}" "$BUILD/modtgtd" -f --no-config --threads 1 --iscsi portal=127.0.0.1:0 \
  --socket "$SOCK" --module-dir "$BUILD/lib/modtgt" --log-level warn \
  > "$OUT/modtgtd.log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 600); do adm --mode system --op show > /dev/null 2>&1 && break; sleep 0.1; done
adm --mode system --op show > /dev/null
PORTAL=$(adm --mode system --op show --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["portals"][0])')
adm --mode target --op new --tid 1 --targetname $IQN
adm --mode target --op bind --tid 1 --initiator-address ALL
truncate -s 1G "$OUT/rdwr.img" "$OUT/uring.img" "$OUT/direct.img"
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype null --backing-store null0 --bsopts size=1G
adm --mode logicalunit --op new --tid 1 --lun 2 --bstype rdwr --backing-store "$OUT/rdwr.img"
[ "$MODE" = callgrind ] ||
adm --mode logicalunit --op new --tid 1 --lun 3 --bstype uring --backing-store "uring/$OUT/uring.img"
[ "$MODE" = callgrind ] ||
adm --mode logicalunit --op new --tid 1 --lun 4 --bstype uring --backing-store "uring/$OUT/direct.img" \
  --bsoflags direct

# The cost so far: Ir of the last dump (callgrind), or utime+stime in clock ticks (cpu).
cost() {
  if [ "$MODE" = callgrind ]; then
    awk '/^(summary|totals):/ {print $2; exit}' "$(ls -v "$OUT"/callgrind.out.$PID.* | tail -1)"
  else
    awk '{print $14 + $15}' "/proc/$PID/stat"
  fi
}
run() {  # run LUN QD RW COUNT NAME
  local bs=${PROFILE_BS:-4096}
  local args=(bench -f raw -t none -c "$4" -d "$2" -s "$bs")
  [ "$bs" = 4096 ] && args+=(-S 663605248)
  [ "$3" = w ] && args+=(-w)
  local t0=0 s0
  if [ "$MODE" = callgrind ]; then callgrind_control -z $PID > /dev/null; else t0=$(cost); fi
  s0=$(date +%s%N)
  qemu-img "${args[@]}" "iscsi://$PORTAL/$IQN/$1" > /dev/null
  WALL_NS=$(( $(date +%s%N) - s0 ))
  if [ "$MODE" = callgrind ]; then
    callgrind_control -d "$5" $PID > /dev/null
    COST=$(cost)
  else
    COST=$(( $(cost) - t0 ))
  fi
}
declare -A LUN=([null]=1 [rdwr]=2 [uring]=3 [direct]=4)
HZ=$(getconf CLK_TCK)
if [ "$MODE" = callgrind ]; then
  printf 'shape\tir_per_io\n'
else
  printf 'shape\tcpu_us_per_io\tiops\n'
fi
for s in "${SHAPES[@]}"; do
  store=${s%-*}; rest=${s#*-}; rw=${rest:0:1}; qd=${rest:1}
  lun=${LUN[$store]}
  run "$lun" "$qd" "$rw" 1 "$s-1"; c1=$COST
  run "$lun" "$qd" "$rw" "$N" "$s"; cn=$COST
  if [ "$MODE" = callgrind ]; then
    printf '%s\t%s\n' "$s" $(( (cn - c1) / (N - 1) ))
  else
    awk -v s="$s" -v c1="$c1" -v cn="$cn" -v n="$N" -v hz="$HZ" -v ns="$WALL_NS" \
      'BEGIN { printf "%s\t%.2f\t%.0f\n", s, (cn - c1) * 1e6 / hz / (n - 1), n / (ns / 1e9) }'
  fi
done
