#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# =============================================================================
# bench/run.sh - modtgt and Debian's tgt side by side, same LUNs, same clients.
#
# Usage: bench/run.sh [options] [BUILD_DIR]      (BUILD_DIR default: ./build)
#   --rounds N        alternating rounds (default 3; the table shows medians)
#   --shapes LIST     comma list (default all): randread_4k_qd32, randwrite_4k_qd32,
#                     read_4k_qd1, seqread_128k_qd16, seqwrite_128k_qd16
#   --stores LIST     comma list (default all): null, rdwr, rdwr-direct, uring,
#                     uring-direct
#   --client C        qemu | loadgen | both (default both)
#   --secs S          seconds per measurement (default 2)
#   --threads N       modtgtd --threads (default: modtgtd's default, one loop per core)
#   --modtgtd-args S  more modtgtd options, split on spaces (e.g. "--log-level debug")
#   --sessions N      loadgen sessions per measurement (default 1, like qemu-img)
#   --out DIR         write raw.tsv, table.md and the logs there (default: bench-out-DATE)
#   --no-ceiling      skip the loopback TCP ceiling and floor (bench/tcp_ceiling, tcp_floor)
#   --keep            keep the work folder (LUN files, daemon logs)
#
# Builds nothing: BUILD_DIR must hold modtgtd, modtgtadm, the modules and bench/loadgen
# (ninja -C BUILD modtgtd modtgtadm lld_iscsi bs_null bs_rdwr bs_uring loadgen tcp_ceiling
#  tcp_floor).
#
# Both targets run at once on 127.0.0.1, each on a free port: modtgtd with --no-config and
# an admin socket in a temp folder; tgtd (package tgt) in a mount namespace of its own
# (bench/lib.sh). Each gets the same LUNs, one target per store:
#   null           modtgt bs_null (1 TiB) / tgt bs_null
#   rdwr           1 GiB sparse file, pread/pwrite store (modtgt bs_rdwr, tgt rdwr)
#   rdwr-direct    same with O_DIRECT (--bsoflags direct)
#   uring          modtgt bs_uring on a 1 GiB sparse file; compared with tgt rdwr
#   uring-direct   same with O_DIRECT; compared with tgt rdwr-direct
# The buffered stores of both targets share one file, the O_DIRECT ones another (see
# lun_file below), so every store of a read shape reads the same file layout.
# Every measurement uses the first 1 GiB of the LUN. In each round, for each shape and
# store, modtgt and tgt are measured one after the other (the order flips every round)
# with each client; the order of the stores turns by one every round, and every second
# round it is also reversed. The write shapes overwrite the LUNs (they are throwaway files).
#
# Clients:
#   qemu     qemu-img bench -t none through qemu's libiscsi driver (one session, one
#            thread). It has no random mode: "random" 4 KiB shapes step by a large odd
#            stride coprime with the number of blocks (each block once, scattered).
#            The count is calibrated once so a run lasts about --secs.
#            Mean latency = QD / IOPS (Little's law); no p99.
#   loadgen  bench/loadgen.c (libiscsi's asynchronous API): truly random offsets, measured
#            mean and p99 latency, --sessions sessions.
# Target CPU per I/O = delta of utime+stime of the target process (all threads,
# /proc/PID/stat) over the client run / I/Os done.
#
# Output: OUT/raw.tsv (one line per measurement), OUT/table.md (medians, ratios
# modtgt/tgt), the table also on stdout. Exit 0, or 2 on a setup or client failure.
# =============================================================================
set -u -o pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

usage() { sed -n '3,/^# =====/{/^# =====/d;s/^# \{0,1\}//;p}' "$0"; }

ROUNDS=3; SECS=2; CLIENT=both; THREADS=0; SESSIONS=1; OUT=; CEILING=1; BUILD_ARG=./build
ALL_SHAPES=randread_4k_qd32,randwrite_4k_qd32,read_4k_qd1,seqread_128k_qd16,seqwrite_128k_qd16
SHAPES=$ALL_SHAPES; STORES=null,rdwr,rdwr-direct,uring,uring-direct
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=${2:?}; shift 2 ;;
    --shapes) SHAPES=${2:?}; shift 2 ;;
    --stores) STORES=${2:?}; shift 2 ;;
    --client) CLIENT=${2:?}; shift 2 ;;
    --secs) SECS=${2:?}; shift 2 ;;
    --threads) THREADS=${2:?}; shift 2 ;;
    --modtgtd-args) read -r -a MODTGTD_EXTRA_ARGS <<< "${2?}"; shift 2 ;;
    --sessions) SESSIONS=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    --no-ceiling) CEILING=0; shift ;;
    --keep) BENCH_KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (--help)" ;;
    *) BUILD_ARG=$1; shift ;;
  esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
[[ "$THREADS" =~ ^[0-9]+$ ]] || die "--threads must be a number"
[[ "$SESSIONS" =~ ^[1-9][0-9]*$ ]] || die "--sessions must be a positive integer"
awk -v s="$SECS" 'BEGIN{exit !(s+0 >= 0.2)}' || die "--secs must be >= 0.2"
case "$CLIENT" in qemu) CLIENTS=(qemu) ;; loadgen) CLIENTS=(loadgen) ;;
  both) CLIENTS=(qemu loadgen) ;; *) die "--client must be qemu, loadgen or both" ;; esac
for s in ${SHAPES//,/ }; do [[ ",$ALL_SHAPES," == *",$s,"* ]] || die "unknown shape '$s'"; done
for s in ${STORES//,/ }; do
  case "$s" in null|rdwr|rdwr-direct|uring|uring-direct) ;; *) die "unknown store '$s'" ;; esac
done

bench_init "$BUILD_ARG"
LOADGEN=$BUILD/bench/loadgen
[[ " ${CLIENTS[*]} " == *" loadgen "* ]] && { [ -x "$LOADGEN" ] || die "$LOADGEN missing (ninja -C $BUILD loadgen)"; }
[[ " ${CLIENTS[*]} " == *" qemu "* ]] && need qemu-img "qemu-utils + qemu-block-extra"
OUT=${OUT:-./bench-out-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT" || die "cannot create $OUT"
RAW=$OUT/raw.tsv
TMO=$(awk -v s="$SECS" 'BEGIN{print int(s * 10 + 60)}')  # client timeout, seconds
GIB=$((1024 * 1024 * 1024))
Q=iqn.2026-12.bench

# ----------------------------------------------------------------------------- targets
start_modtgt "$THREADS"
start_tgt
note "modtgtd pid $MODTGT_PID port $MODTGT_PORT; tgtd pid $TGT_PID port $TGT_PORT; work $BW"
# One file per I/O mode, shared by every file store of both targets: buffered.img (modtgt
# rdwr and uring, tgt rdwr) and direct.img (the -direct stores). A store's write shapes
# fill holes of its file, and an O_DIRECT read of a file of holes and scattered 4 KiB
# blocks costs several times one of a file without holes, so with a file per store the
# store that wrote more (the faster one) read a denser file: bs_uring's 128 KiB O_DIRECT
# reads measured 0.52-0.75x bs_rdwr's that way (docs/perf-profile.md, "bs_uring: large
# O_DIRECT reads"). Shared, every store of a read shape reads the same layout (a read shape
# writes nothing between two stores), and buffered stores read the same page cache.
lun_file() { if [[ "$1" == *-direct ]]; then echo "$BW/direct.img"; else echo "$BW/buffered.img"; fi; }
truncate -s 1G "$BW/buffered.img" "$BW/direct.img"
tid=0
declare -A M_IQN T_IQN
for s in ${STORES//,/ }; do
  tid=$((tid + 1)); iqn=$Q.modtgt:$s; M_IQN[$s]=$iqn
  modtgt_target "$tid" "$iqn" || die "modtgt: target $iqn"
  case "$s" in
    null) madm --mode logicalunit --op new --tid "$tid" --lun 1 --bstype null --backing-store null0 --bsopts size=1T >/dev/null ;;
    *) fl=(); [[ "$s" == *-direct ]] && fl=(--bsoflags direct)
       madm --mode logicalunit --op new --tid "$tid" --lun 1 --bstype "${s%-direct}" \
         --backing-store "$(lun_file "$s")" "${fl[@]}" >/dev/null ;;
  esac || die "modtgt: LUN for store $s"
done
# tgt has no io_uring store: uring is compared with tgt's rdwr, uring-direct with rdwr-direct.
tgt_store() { case "$1" in uring) echo rdwr ;; uring-direct) echo rdwr-direct ;; *) echo "$1" ;; esac; }
tid=0
for s in $(for x in ${STORES//,/ }; do tgt_store "$x"; done | awk '!seen[$0]++'); do
  tid=$((tid + 1)); iqn=$Q.tgt:$s; T_IQN[$s]=$iqn
  tgt_target "$tid" "$iqn" || die "tgt: target $iqn"
  case "$s" in
    null) tadm --mode logicalunit --op new --tid "$tid" --lun 1 --bstype null --backing-store null0 ;;
    *) fl=(); [[ "$s" == *-direct ]] && fl=(--bsoflags direct)
       tadm --mode logicalunit --op new --tid "$tid" --lun 1 --bstype rdwr \
         --backing-store "$(lun_file "$s")" "${fl[@]}" ;;
  esac || die "tgt: LUN for store $s"
done

# ----------------------------------------------------------------------------- clients
# shape -> "QD BS RANDOM WRITE"
shape_def() {
  case "$1" in
    randread_4k_qd32) echo "32 4096 1 0" ;; randwrite_4k_qd32) echo "32 4096 1 1" ;;
    read_4k_qd1) echo "1 4096 1 0" ;; seqread_128k_qd16) echo "16 131072 0 0" ;;
    seqwrite_128k_qd16) echo "16 131072 0 1" ;;
  esac
}
# Stride for the qemu "random" shapes: odd, about 0.618 of the 4 KiB slots, coprime with them.
SLOTS=$((GIB / 4096)); P=$((SLOTS * 618 / 1000 | 1))
gcd() { local a=$1 b=$2 t; while [ "$b" -ne 0 ]; do t=$((a % b)); a=$b; b=$t; done; echo "$a"; }
while [ "$(gcd "$P" "$SLOTS")" -ne 1 ]; do P=$((P + 2)); done
STRIDE=$((P * 4096))
declare -A COUNT   # calibrated qemu-img count per target/store/shape

# Runs one measurement; prints "iops mbps lat_mean_us lat_p99_us ticks ios client_cpu_s".
run_qemu() {  # PORT IQN PID KEY QD BS RANDOM WRITE
  local port=$1 iqn=$2 pid=$3 key=$4 qd=$5 bs=$6 rnd=$7 wr=$8 n out t0 t1 secs step cpu args
  local img="json:{\"driver\":\"raw\",\"size\":$GIB,\"file\":{\"driver\":\"iscsi\",\"transport\":\"tcp\",\"portal\":\"127.0.0.1:$port\",\"target\":\"$iqn\",\"lun\":1}}"
  step=$bs; [ "$rnd" = 1 ] && step=$STRIDE
  n=${COUNT[$key]:-}
  if [ -z "$n" ]; then  # calibrate: a probe that also warms up
    n=$(( bs == 4096 ? 4000 : 800 ))
    args=(bench -f raw -t none -c "$n" -d "$qd" -s "$bs" -S "$step")
    [ "$wr" = 1 ] && args+=(-w)
    out=$(timeout -k 5 120 qemu-img "${args[@]}" "$img" 2>&1) || { echo "$out" >&2; return 1; }
    secs=$(awk '/Run completed in/{print $4}' <<<"$out")
    n=$(awk -v n="$n" -v s="$secs" -v t="$SECS" -v d="$qd" 'BEGIN{if (s<=0) s=0.001; c=int(n/s*t); if (c<8*d) c=8*d; print c}')
    COUNT[$key]=$n
  fi
  args=(bench -f raw -t none -c "$n" -d "$qd" -s "$bs" -S "$step")
  [ "$wr" = 1 ] && args+=(-w)
  t0=$(proc_ticks "$pid")
  out=$(timeout -k 5 "$TMO" /usr/bin/time -f 'CPU %U %S' qemu-img "${args[@]}" "$img" 2>&1) ||
    { echo "$out" | tail -3 >&2; return 1; }
  t1=$(proc_ticks "$pid")
  [ "$t1" = GONE ] && die "target pid $pid vanished"
  secs=$(awk '/Run completed in/{print $4}' <<<"$out")
  cpu=$(awk '/^CPU /{printf "%.2f", $2 + $3}' <<<"$out")
  awk -v n="$n" -v s="$secs" -v bs="$bs" -v qd="$qd" -v t=$((t1 - t0)) -v c="${cpu:-NA}" 'BEGIN{
    if (s <= 0) s = 0.0005; iops = n / s;
    printf "%.0f %.1f %.1f NA %d %d %s\n", iops, iops * bs / 1e6, qd / iops * 1e6, t, n, c }'
}

run_loadgen() {  # PORT IQN PID KEY QD BS RANDOM WRITE
  local port=$1 iqn=$2 pid=$3 qd=$5 bs=$6 rnd=$7 wr=$8 out t0 t1 rw
  if [ "$rnd" = 1 ]; then rw="rand"; else rw="seq"; fi
  if [ "$wr" = 1 ]; then rw+="write"; else rw+="read"; fi
  t0=$(proc_ticks "$pid")
  out=$(timeout -k 5 "$TMO" "$LOADGEN" --sessions "$SESSIONS" --qd "$qd" --bs "$bs" \
    --rw "$rw" --time "$SECS" --span "$GIB" "iscsi://127.0.0.1:$port/$iqn/1" 2>&1) ||
    { echo "$out" | tail -3 >&2; return 1; }
  t1=$(proc_ticks "$pid")
  [ "$t1" = GONE ] && die "target pid $pid vanished"
  awk -v t=$((t1 - t0)) '/^result /{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "%s %s %s %s %d %s %s\n", v["iops"], v["mbps"], v["lat_mean_us"], v["lat_p99_us"], t,
      v["ios"], v["client_cpu_s"] }' <<<"$out"
}

printf 'round\tclient\tshape\tstore\ttarget\tiops\tMBps\tlat_mean_us\tlat_p99_us\ttarget_cpu_us_per_io\tclient_cpu_s\n' > "$RAW"
measure() {  # ROUND CLIENT SHAPE STORE WHO
  local r=$1 c=$2 sh=$3 s=$4 who=$5 port iqn pid res
  if [ "$who" = modtgt ]; then port=$MODTGT_PORT; iqn=${M_IQN[$s]}; pid=$MODTGT_PID
  else port=$TGT_PORT; iqn=${T_IQN[$(tgt_store "$s")]}; pid=$TGT_PID; fi
  # shellcheck disable=SC2046
  res=$("run_$c" "$port" "$iqn" "$pid" "$who/$iqn/$sh" $(shape_def "$sh")) && [ -n "$res" ] ||
    die "$c $sh on $who $s failed"
  read -r iops mbps lat p99 ticks ios ccpu <<<"$res"
  cpu=$(awk -v t="$ticks" -v h="$CLK_TCK" -v n="$ios" 'BEGIN{printf "%.2f", (n > 0) ? t / h * 1e6 / n : 0}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$c" "$sh" "$s" "$who" "$iops" "$mbps" \
    "$lat" "$p99" "$cpu" "$ccpu" >> "$RAW"
  note "round $r $c $sh $s $who: $iops IOPS $mbps MB/s lat $lat us p99 $p99 us, target $cpu us CPU/IO"
}

# ----------------------------------------------------------------------------- run
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
  echo "modtgt: $(git -C "$HERE/.." describe --always --dirty 2>/dev/null || echo unknown), threads ${THREADS/#0/default}${MODTGTD_EXTRA_ARGS[*]:+, options ${MODTGTD_EXTRA_ARGS[*]}}"
  echo "tgt: $(dpkg-query -W -f='${Version}' tgt 2>/dev/null)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/info.txt"
T_START=$(date +%s)
# The stores' order turns every round: a store measured right after others had written
# GiBs of new page cache ran 128 KiB buffered writes at a third of the speed, at 3-6 times
# the CPU per I/O, whatever its code (docs/perf-profile.md, "bs_uring: large writes"), so
# a fixed order would always charge the same store. (Reading the files once first removes
# that, but makes 4 KiB buffered random writes cost 3-4 times the CPU for every store and
# both targets; not investigated, probably the large folios readahead puts in the page cache.)
read -r -a STORE_LIST <<<"${STORES//,/ }"
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="modtgt tgt"; else order="tgt modtgt"; fi
  rot=$(( (r - 1) % ${#STORE_LIST[@]} ))
  round_stores=("${STORE_LIST[@]:rot}" "${STORE_LIST[@]:0:rot}")
  # Every second round backwards too: turning alone keeps neighbours in their order for
  # most rounds (rdwr-direct came before uring-direct in all three rounds of a default run).
  if [ $((r % 2)) = 0 ]; then
    for ((i = 0, j = ${#round_stores[@]} - 1; i < j; i++, j--)); do
      t=${round_stores[i]}; round_stores[i]=${round_stores[j]}; round_stores[j]=$t
    done
  fi
  for sh in ${SHAPES//,/ }; do
    for s in "${round_stores[@]}"; do
      for c in "${CLIENTS[@]}"; do
        for who in $order; do measure "$r" "$c" "$sh" "$s" "$who"; done
      done
    done
  done
  echo "load average after round $r: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/info.txt"
done
if [ "$CEILING" = 1 ]; then
  if [ -x "$BUILD/bench/tcp_ceiling" ]; then
    for wsz in 131072 1048576; do
      v=$(for _ in 1 2 3; do "$BUILD/bench/tcp_ceiling" --time "$SECS" --write-size "$wsz" | awk '/^result /{sub("mbps=","",$2); print $2}'; done | median)
      echo "loopback TCP ceiling, 1 stream, $((wsz / 1024)) KiB writes: $v MB/s (median of 3)" >> "$OUT/info.txt"
    done
  else
    note "$BUILD/bench/tcp_ceiling not built: no loopback ceiling"
  fi
  # The floor of the wake-up-bound shapes: a do-nothing epoll server answering iSCSI-shaped
  # exchanges (bench/tcp_floor.c). Median of 3 by latency; the whole line of that run.
  if [ -x "$BUILD/bench/tcp_floor" ]; then
    for sd in "read 1 plain" "read 1 iscsi" "read 32 plain" "write 1 plain" "write 32 plain"; do
      set -- $sd
      v=$(for _ in 1 2 3; do "$BUILD/bench/tcp_floor" --shape "$1" --depth "$2" --client "$3" --time "$SECS" | awk '/^result /{print}'; done |
          awk '{split($5,a,"="); print a[2] "\t" $0}' | sort -g | sed -n 2p | cut -f2-)
      echo "loopback floor (bench/tcp_floor, median of 3): ${v#result }" >> "$OUT/info.txt"
    done
  else
    note "$BUILD/bench/tcp_floor not built: no loopback floor"
  fi
fi
echo "duration: $(( $(date +%s) - T_START )) s" >> "$OUT/info.txt"
cp "$BW/modtgtd.log" "$BW/tgtd.log" "$OUT/" 2>/dev/null
python3 "$HERE/table.py" "$RAW" > "$OUT/table.md" || die "table.py failed"
cat "$OUT/info.txt" "$OUT/table.md"
