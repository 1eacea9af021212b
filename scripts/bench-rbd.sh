#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Speed of an RBD LUN next to librbd's own ceiling, in the same run on the same image:
# 4 KiB random read and write at queue depth 32
#   - through modtgtd (bs_rbd) with qemu-img bench over qemu's libiscsi driver, and
#   - straight on the image with `rbd bench` (librbd, 32 threads).
# A throwaway single-node Ceph (tests/e2e/ceph.sh). A measurement, not a pass/fail test.
#
#   MODTGT_BUILD=build scripts/bench-rbd.sh [SIZE_MIB] [COUNT]
#
# LUN_CEPH_ARGS="--name=value ..." gives Ceph options to the LUN's librados client only
# (bs_rbd reads CEPH_ARGS), not to the cluster nor to `rbd bench`: to try client settings.
#
# Prints one TSV line per shape: shape, modtgt IOPS, rbd bench IOPS, ratio, then the CPU
# microseconds per I/O of each process involved (user + system): through modtgtd the daemon,
# the OSD and the client (qemu-img); straight on the image `rbd bench` and the OSD. On a small
# machine client, target and OSD share the cores, so the ratio follows the CPU per I/O; the
# daemon's figure minus `rbd bench`'s is what the iSCSI path and bs_rbd add to librbd.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export MODTGT_BUILD=${MODTGT_BUILD:-$here/../build}
source "$here/../tests/e2e/functions.sh"
source "$here/../tests/e2e/ceph.sh"
rbd_requires
requires qemu-img
SIZE_MIB=${1:-256}
COUNT=${2:-40000}
IQN=iqn.2026-11.org.modtgt.bench:rbd
ceph_start
rbdc create --size "${SIZE_MIB}M" --image-feature layering,exclusive-lock "$CEPH_POOL/bench"
# Every object written once, so reads hit data on both sides.
rbdc bench --io-type write --io-size 4M --io-threads 4 --io-total "${SIZE_MIB}M" \
  --io-pattern seq "$CEPH_POOL/bench" > /dev/null

CEPH_ARGS=${LUN_CEPH_ARGS:-} start_daemon --no-config
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --cfgstring "rbd/$CEPH_POOL/bench$CEPH_OPTS"
URL="iscsi://$PORTAL/$IQN/1"

# qemu-img bench IOPS for one shape (a large odd stride stands in for random offsets).
qemu_iops() {  # qemu_iops read|write
  local w=() stride=$(( (SIZE_MIB * 256 * 618 / 1000) | 1 ))
  [ "$1" = write ] && w=(-w)
  # qemu-img bench's own "Run completed in S seconds." (no login or start-up in it)
  qemu-img bench -f raw -t none -d 32 -s 4096 -S $((stride * 4096)) -c "$COUNT" "${w[@]}" \
    "json:{\"driver\":\"raw\",\"size\":$((SIZE_MIB << 20)),\"file\":{\"driver\":\"iscsi\",\"transport\":\"tcp\",\"portal\":\"$PORTAL\",\"target\":\"$IQN\",\"lun\":1}}" |
    awk -v n="$COUNT" '/Run completed in/ {print int(n / $4)}'
}
rbd_iops() {  # rbd_iops read|write: librbd's own figure (ops/sec of the summary line)
  rbdc bench --io-type "$1" --io-size 4K --io-threads 32 --io-total $((COUNT * 4))K \
    --io-pattern rand "$CEPH_POOL/bench" 2>&1 | awk '/elapsed:/ {for (i=1;i<=NF;i++) if ($i=="ops/sec:") print int($(i+1))}'
}

# CPU time (user + system, clock ticks) of a process and of its reaped children.
ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
per_io() { echo $(( ($2 - $1) * 1000000 / TCK / COUNT )); }  # per_io T0 T1: us per I/O
# The OSD itself (CEPH_OSD_PID is the timeout(1) wrapping it).
OSD=$(pgrep -P "$CEPH_OSD_PID" ceph-osd || true)
OSD=${OSD:-$CEPH_OSD_PID}

printf 'shape\tmodtgt_iops\trbd_bench_iops\tratio\tmodtgtd_us\tosd_us\tclient_us\trbd_bench_us\tosd_us\n'
for shape in read write; do
  # The LUN holds the exclusive lock; rbd bench (another client) needs it for writes:
  # the LUN goes while rbd bench runs, and comes back after.
  d0=$(ticks "$DAEMON_PID"); o0=$(ticks "$OSD"); c0=$(ticks $$)
  qemu_iops $shape > "$TMP/m"  # not in $(...): the client must be this shell's child
  m=$(cat "$TMP/m")
  dm=$(per_io "$d0" "$(ticks "$DAEMON_PID")"); om=$(per_io "$o0" "$(ticks "$OSD")")
  cm=$(per_io "$c0" "$(ticks $$)")
  adm --mode logicalunit --op delete --tid 1 --lun 1
  o0=$(ticks "$OSD"); c0=$(ticks $$)
  rbd_iops $shape > "$TMP/r"
  r=$(cat "$TMP/r")
  orb=$(per_io "$o0" "$(ticks "$OSD")"); crb=$(per_io "$c0" "$(ticks $$)")
  adm --mode logicalunit --op new --tid 1 --lun 1 --cfgstring "rbd/$CEPH_POOL/bench$CEPH_OPTS"
  printf 'randread_4k_qd32\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "$r" \
    "$(python3 -c "print(f'{$m/$r:.2f}' if $r else 'NA')")" "$dm" "$om" "$cm" "$crb" "$orb" |
    sed "s/randread/rand$shape/"
done
stop_daemon
