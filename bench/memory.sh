#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# =============================================================================
# bench/memory.sh - modtgtd's resident size: idle with many LUNs and sessions, and along a
# long run under load (it must not grow).
#
# Usage: bench/memory.sh [options] [BUILD_DIR]   (BUILD_DIR default: ./build)
#   --minutes M     length of the loaded run (default 10)
#   --sample S      seconds between RSS samples under load (default 30)
#   --out DIR       rss.tsv and summary.md (default bench-memory-DATE)
#
# Layout: 8 targets x 32 LUNs = 256 LUNs: per target LUNs 1-28 bs_null (1 TiB), 29-30
# bs_rdwr, 31-32 bs_uring (64 MiB sparse files). 64 sessions (bench/loadgen), 8 per
# target on LUNs 1, 2, 3, 4, 29, 30, 31, 32.
# Phases, RSS (VmRSS of modtgtd) at each step:
#   started      modtgtd, no target
#   luns         the 256 LUNs created
#   idle64       64 sessions logged in, no I/O (loadgen --idle)
#   load t=...   64 sessions x QD 4, 4 KiB random 70% reads / 30% writes, M minutes,
#                sampled every S seconds
#   idle64-after the same 64 idle sessions again after the load
#   after        every session logged out
# =============================================================================
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
usage() { sed -n '3,/^# =====/{/^# =====/d;s/^# \{0,1\}//;p}' "$0"; }

MINUTES=10; SAMPLE=30; OUT=; BUILD_ARG=./build
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=${2:?}; shift 2 ;;
    --sample) SAMPLE=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (--help)" ;;
    *) BUILD_ARG=$1; shift ;;
  esac
done
awk -v m="$MINUTES" 'BEGIN{exit !(m > 0)}' || die "--minutes must be > 0"
[[ "$SAMPLE" =~ ^[1-9][0-9]*$ ]] || die "--sample must be a positive integer"
bench_init "$BUILD_ARG"
LOADGEN=$BUILD/bench/loadgen
[ -x "$LOADGEN" ] || die "$LOADGEN missing (ninja -C $BUILD loadgen)"
OUT=${OUT:-./bench-memory-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT" || die "cannot create $OUT"
TSV=$OUT/rss.tsv
Q=iqn.2026-12.bench.mem
LOAD_SECS=$(awk -v m="$MINUTES" 'BEGIN{printf "%d", m * 60}')

printf 'phase\tseconds\trss_kib\tthreads\tload_avg\n' > "$TSV"
T0=$(date +%s)
sample() {
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" $(( $(date +%s) - T0 )) "$(rss_kib "$MODTGT_PID")" \
    "$(awk '/^Threads:/{print $2}' "/proc/$MODTGT_PID/status")" "$(cut -d' ' -f1 /proc/loadavg)" >> "$TSV"
  note "$(tail -1 "$TSV")"
}

start_modtgt 0
sample started
for t in $(seq 1 8); do
  modtgt_target "$t" "$Q:t$t" || die "target $t"
  for l in $(seq 1 32); do
    if [ "$l" -le 28 ]; then
      a=(--bstype null --backing-store null0 --bsopts size=1T)
    else
      truncate -s 64M "$BW/t$t-l$l.img"
      a=(--bstype "$([ "$l" -le 30 ] && echo rdwr || echo uring)" --backing-store "$BW/t$t-l$l.img")
    fi
    madm --mode logicalunit --op new --tid "$t" --lun "$l" "${a[@]}" >/dev/null || die "LUN $t/$l"
  done
done
sample luns
URLS=()
for t in $(seq 1 8); do
  for l in 1 2 3 4 29 30 31 32; do URLS+=("iscsi://127.0.0.1:$MODTGT_PORT/$Q:t$t/$l"); done
done

idle_phase() {  # NAME: 64 idle sessions; RSS sampled once they are all logged in
  "$LOADGEN" --idle --sessions 64 --time 5 "${URLS[@]}" > "$BW/idle.out" 2> "$BW/idle.err" &
  local lg=$!
  wait_until 60 grep -q "logged in, idle" "$BW/idle.err" || { cat "$BW/idle.err" >&2; die "idle sessions did not log in"; }
  sleep 2  # let the 64 logins settle (pools filled), then sample while they are still idle
  sample "$1"
  wait "$lg" || { cat "$BW/idle.err" >&2; die "idle loadgen failed"; }
}

idle_phase idle64
"$LOADGEN" --sessions 64 --threads 2 --qd 4 --bs 4096 --rw randrw --mix 70 --span $((64 << 20)) \
  --time "$LOAD_SECS" "${URLS[@]}" > "$OUT/load.out" 2>&1 &
LG=$!
_bench_pids+=("$LG")
end=$(( $(date +%s) + LOAD_SECS ))
while kill -0 "$LG" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do
  sleep "$SAMPLE"
  kill -0 "$LG" 2>/dev/null && sample "load"
done
wait "$LG" || { cat "$OUT/load.out" >&2; die "loaded run failed"; }
idle_phase idle64-after
sample after

python3 - "$TSV" "$OUT/load.out" > "$OUT/summary.md" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
res = [l for l in open(sys.argv[2]) if l.startswith("result ")]
mib = lambda k: f"{int(k) / 1024:.1f}"
load = [r for r in rows if r["phase"] == "load"]
print("| phase | RSS MiB | threads |")
print("| --- | --- | --- |")
for r in rows:
    if r["phase"] != "load":
        print(f"| {r['phase']} | {mib(r['rss_kib'])} | {r['threads']} |")
if load:
    rs = [int(r["rss_kib"]) for r in load]
    half = len(rs) // 2
    print(f"| load, first sample (t={load[0]['seconds']} s) | {mib(rs[0])} | {load[0]['threads']} |")
    print(f"| load, max over {len(rs)} samples | {mib(max(rs))} | |")
    print(f"| load, last sample (t={load[-1]['seconds']} s) | {mib(rs[-1])} | |")
    if half:
        print(f"\nUnder load: max of the first half {mib(max(rs[:half]))} MiB, of the second half "
              f"{mib(max(rs[half:]))} MiB (growth {(max(rs[half:]) - max(rs[:half])) / 1024:+.1f} MiB).")
if res:
    print("\nloadgen: " + res[-1].strip())
EOF
cat "$OUT/summary.md"
