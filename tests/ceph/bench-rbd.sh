#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# By hand, not in CI: 4 KiB random reads and writes at queue depth 32 through an RBD LUN
# (qemu-img bench over iscs://, ../shared/tools/bench.sh beside the repository, or BENCH=path) compared with
# `rbd bench` straight on the same image, in the same run, on a throwaway single-node
# cluster (tests/e2e/ceph.sh). rbd bench runs before and after the LUN exists (while the
# LUN holds the image's exclusive lock, rbd bench could not write).
#
#   MODTGT_BUILD=build tests/ceph/bench-rbd.sh [IMAGE_SIZE]     (default 1G)
#
# Prints a TSV: client, shape, iops (and bench.sh's detail to stderr).
source "$(dirname "$0")/../e2e/functions.sh"
source "$(dirname "$0")/../e2e/ceph.sh"
rbd_requires
requires qemu-img awk
BENCH=${BENCH:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/tools/bench.sh}
[ -x "$BENCH" ] || fail "no bench.sh at $BENCH (set BENCH=)"
SIZE=${1:-1G}
CEPH_CLI_TIMEOUT=600
ceph_start
P=$CEPH_POOL
rbd_new bench "$SIZE"
# Fill the image so reads hit data (reads of absent objects are answered without I/O).
rbdc bench --io-type write --io-size 4M --io-threads 8 --io-pattern seq --io-total "$SIZE" \
  "$P/bench" > /dev/null

rbd_bench() {  # rbd_bench TYPE -> "IOPS (client cpu N us/io)"
  local TIMEFORMAT='%U %S' iops cpu
  { time rbdc bench --io-type "$1" --io-size 4K --io-threads 32 --io-pattern rand \
      --io-total 256M "$P/bench" > "$TMP/rbd-bench.out" 2> /dev/null; } 2> "$TMP/rbd-bench.time"
  iops=$(awk '/^elapsed:/ {for (i = 1; i < NF; i++) if ($i == "ops/sec:") print int($(i + 1))}' \
    "$TMP/rbd-bench.out")
  # 256 MiB / 4 KiB = 65536 I/Os; user+sys of the whole rbd process (connect included).
  cpu=$(awk '{printf "%.2f", ($1 + $2) * 1e6 / 65536}' "$TMP/rbd-bench.time")
  echo "$iops	(client cpu $cpu us/io)"
}
out=$TMP/results.tsv
printf 'client\tshape\tiops\n' > "$out"
for round in before; do
  printf 'rbd-bench-%s\trandread_4k_qd32\t%s\n' $round "$(rbd_bench read)" >> "$out"
  printf 'rbd-bench-%s\trandwrite_4k_qd32\t%s\n' $round "$(rbd_bench write)" >> "$out"
done

start_daemon
IQN=iqn.2026-11.org.modtgt.test:bench
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --cfgstring "rbd/$P/bench$CEPH_OPTS"
TARGET_PID=$DAEMON_PID BENCH_SHAPES=randread_4k_qd32,randwrite_4k_qd32 BENCH_DETAIL=$TMP/detail.tsv \
  "$BENCH" "iscsi://$PORTAL/$IQN/1" modtgt-rbd > "$TMP/bench.tsv"
awk -F'\t' 'NR > 1 {printf "modtgt-iscsi\t%s\t%s\t(target cpu %s us/io)\n", $2, $3, $5}' "$TMP/bench.tsv" >> "$out"
info "daemon threads with one rbd LUN: $(ls /proc/$DAEMON_PID/task | wc -l)"
adm --mode logicalunit --op delete --tid 1 --lun 1
stop_daemon

printf 'rbd-bench-after\trandread_4k_qd32\t%s\n' "$(rbd_bench read)" >> "$out"
printf 'rbd-bench-after\trandwrite_4k_qd32\t%s\n' "$(rbd_bench write)" >> "$out"
cat "$out"
