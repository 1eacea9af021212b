#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Paired A/B of branch uring-large: two modtgtd side by side (A started with the environment
# ENV_A, B with ENV_B; e.g. ENV_B=SOME_VAR=1 for an experiment switch), the same LUNs on
# each (STORES, default "rdwr uring": 1 GiB sparse files), one loadgen SHAPE. Every round
# measures each store on both daemons; which daemon goes first alternates, and the stores'
# order turns by one every round. WARM=1 reads each LUN file once first (see
# docs/perf-profile.md, "bs_uring: large writes"). Prints "round daemon store IOPS MB/s
# target-CPU-us/IO" lines; abstat.py takes the medians of the per-round ratios.
# Usage: [BUILD_DIR=build] [SHAPE=seqwrite_128k_qd16] [ROUNDS=6] [SECS=2] [WARM=1] \
#        [STORES="rdwr uring"] [ENV_A=X=1] [ENV_B=X=1] bench/results/2026-12-05-uring-large/ab.sh
set -u
HERE=$(cd "$(dirname "$0")/../.." && pwd)  # bench/
BENCH_PROG=ab
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_init "${BUILD_DIR:-./build}"
SHAPE=${SHAPE:-seqwrite_128k_qd16}; ROUNDS=${ROUNDS:-6}; SECS=${SECS:-2}
case $SHAPE in
  seqwrite_128k_qd16) A="--qd 16 --bs 131072 --rw seqwrite" ;;
  randwrite_4k_qd32) A="--qd 32 --bs 4096 --rw randwrite" ;;
  read_4k_qd1) A="--qd 1 --bs 4096 --rw randread" ;;
  randread_4k_qd32) A="--qd 32 --bs 4096 --rw randread" ;;
  *) die "unknown shape $SHAPE" ;;
esac
declare -A PORT PID
adm() { local d=$1; shift; "$BUILD/modtgtadm" --socket "$BW/$d/s" "$@"; }
mk() {  # NAME ENV...: starts a daemon
  local name=$1; shift
  mkdir -p "$BW/$name"
  env "$@" "$BUILD/modtgtd" -f --no-config --iscsi portal=127.0.0.1:0 --socket "$BW/$name/s" \
    --module-dir "$BUILD/lib/modtgt" --log-level warn >> "$BW/$name/log" 2>&1 &
  PID[$name]=$!; _bench_pids+=($!)
  wait_until 20 adm "$name" --mode system --op show || die "daemon $name did not start"
  PORT[$name]=$(adm "$name" --mode system --op show --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["portals"][0].rsplit(":",1)[1])')
}
lun() {  # DAEMON TID STORE
  local d=$1 t=$2 s=$3 fl=()
  adm "$d" --mode target --op new --tid "$t" --targetname "iqn.2026-12.ab:$s" >/dev/null
  adm "$d" --mode target --op bind --tid "$t" --initiator-address ALL >/dev/null
  truncate -s 1G "$BW/$d/$s.img"
  [ -n "${WARM:-}" ] && cat "$BW/$d/$s.img" > /dev/null
  [[ $s == *-direct ]] && fl=(--bsoflags direct)
  adm "$d" --mode logicalunit --op new --tid "$t" --lun 1 --bstype "${s%-direct}" \
    --backing-store "$BW/$d/$s.img" "${fl[@]}" >/dev/null || die "LUN $s on $d"
}
# shellcheck disable=SC2086
mk A ${ENV_A:-X=1}; mk B ${ENV_B:-X=1}
read -r -a SL <<<"${STORES:-rdwr uring}"
t=0; for s in "${SL[@]}"; do t=$((t + 1)); lun A $t "$s"; lun B $t "$s"; done
run() {  # DAEMON STORE
  local d=$1 s=$2 t0 t1 out
  t0=$(proc_ticks "${PID[$d]}")
  # shellcheck disable=SC2086
  out=$("$BUILD/bench/loadgen" $A --time "$SECS" --span 1073741824 \
    "iscsi://127.0.0.1:${PORT[$d]}/iqn.2026-12.ab:$s/1" 2>&1 | grep ^result)
  t1=$(proc_ticks "${PID[$d]}")
  awk -v d="$d" -v s="$s" -v t=$((t1 - t0)) -v h="$CLK_TCK" '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "%s\t%s\t%s\t%s\t%.1f\n", d, s, v["iops"], v["mbps"], t / h * 1e6 / v["ios"] }' <<<"$out"
}
for r in $(seq 1 "$ROUNDS"); do
  order="A B"; [ $((r % 2)) = 0 ] && order="B A"
  rot=$(( (r - 1) % ${#SL[@]} )); rs=("${SL[@]:rot}" "${SL[@]:0:rot}")
  for s in "${rs[@]}"; do for d in $order; do printf '%s\t%s\n' "$r" "$(run "$d" "$s")"; done; done
done
