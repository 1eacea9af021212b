#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bs_rbd when the cluster goes away: with the only OSD stopped, I/O to the RBD LUN fails
# with BUSY (retriable) within osd_op_timeout (5 s here), the LUN shows a lost connection,
# and meanwhile the daemon's other LUN and its admin socket keep answering at once (no event
# loop waits for Ceph). With the OSD back, I/O works again without touching the daemon, the
# data written before the loss is intact, and the LUN shows the connection restored.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/ceph.sh"
rbd_requires
requires qemu-io cmp python3
SCSI_IO=$MODTGT_BUILD/tests/tools/scsi_io
[ -x "$SCSI_IO" ] || fail "no $SCSI_IO (libiscsi-dev missing at build time?)"
IQN=iqn.2026-11.org.modtgt.test:rbd-loss
TIMEOUT=5
ceph_start
P=$CEPH_POOL
rbd_new vol 64M
start_daemon
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 \
  --cfgstring "rbd/$P/vol;osd_op_timeout=$TIMEOUT;mon_op_timeout=$TIMEOUT$CEPH_OPTS"
adm --mode logicalunit --op new --tid 1 --lun 2 --cfgstring ram/other --size 64M
URL1="iscsi://$PORTAL/$IQN/1"
URL2="iscsi://$PORTAL/$IQN/2"
show() { adm --mode logicalunit --op show --tid 1 --lun 1 --json; }
field() { show | json_get "j['luns'][0]$1"; }
ms_of() { sed -n 's/.*ms=\([0-9]*\).*/\1/p' <<< "$1"; }

out=$("$SCSI_IO" "$URL1" write 0 2048 0x6b fua)
[[ $out == status=0x00* ]] || fail "write before the loss: $out"

# ---- the OSD goes away ----
# A clean stop (memstore saves the image's objects): checked, or the OSD would come back
# empty and the test would only see I/O never coming back.
ceph_osd_stop || fail "the OSD did not stop cleanly: the cluster would come back without its data"
t_loss=$(date +%s%N)
"$SCSI_IO" "$URL1" read 0 8 > "$TMP/read1.out" &
reader=$!
# While the RBD read waits for Ceph, the other LUN and the admin socket answer at once.
t0=$(date +%s%N)
qemu-io -f raw -c "write -P 0x21 0 4M" -c "read -P 0x21 0 4M" "$URL2" > "$TMP/other.out" ||
  fail "LUN 2 during the outage: $(cat "$TMP/other.out")"
grep -q "Pattern verification failed" "$TMP/other.out" && fail "LUN 2 pattern mismatch"
adm --mode system --op show > /dev/null || fail "the admin socket does not answer during the outage"
other_ms=$((($(date +%s%N) - t0) / 1000000))
info "during the outage: LUN 2 write+read 4 MiB and an admin show took $other_ms ms"
[ $other_ms -lt 3000 ] || fail "the other LUN was held up by the outage ($other_ms ms)"
wait $reader || fail "scsi_io read failed: $(cat "$TMP/read1.out")"
out=$(cat "$TMP/read1.out")
read_ms=$(ms_of "$out")
info "read during the outage: $out"
[[ $out == status=0x08* ]] || fail "a read during the outage was not answered BUSY: $out"
[ "$read_ms" -ge $((TIMEOUT * 1000 - 500)) ] && [ "$read_ms" -le $((TIMEOUT * 1000 + 5000)) ] ||
  fail "the read failed after $read_ms ms, not after about osd_op_timeout=$TIMEOUT s"
out=$("$SCSI_IO" "$URL1" write 4096 8 0x7c fua)
info "FUA write during the outage: $out"
[[ $out == status=0x08* ]] || fail "a FUA write during the outage was not answered BUSY: $out"
[ "$(field '["events"]["conn_lost"]')" -ge 1 ] || fail "no connection-lost event: $(show)"
[ "$(field '["events"]["connected"]')" = False ] || fail "the LUN shows connected during the outage"
# The FUA write's write stage completes from librbd's cache at once, cluster or not: that
# must not count as the connection restored.
[ "$(field '["events"]["conn_restored"]')" -eq 0 ] ||
  fail "a connection-restored event while the OSD is still down: $(show)"

# ---- the OSD comes back ----
# Deadlines for the cluster's own recovery are generous (a loaded machine boots and peers
# the OSD slowly); the time it took is printed. ceph_osd_start returns once the pool serves
# I/O again: from then on, how long the LUN takes is modtgt's own doing.
t_start=$(date +%s%N)
ceph_osd_start 180 || { ceph_diag; fail "the cluster does not serve again within 180 s"; }
info "the cluster serves again $((($(date +%s%N) - t_start) / 1000000)) ms after the OSD restart"
t_back=$(date +%s%N)
readable() { "$SCSI_IO" "$URL1" read 0 2048 "$TMP/back" | grep -q "status=0x00"; }
wait_for 120 readable || { ceph_diag; fail "I/O does not work again after the cluster came back"; }
info "I/O works again $((($(date +%s%N) - t_back) / 1000000)) ms after the cluster served (outage $((($(date +%s%N) - t_loss) / 1000000)) ms)"
python3 - "$TMP/back" <<'PY' || fail "data written before the outage changed"
import sys
assert open(sys.argv[1], "rb").read() == b"\x6b" * (1 << 20)
PY
out=$("$SCSI_IO" "$URL1" write 4096 8 0x7d fua)
[[ $out == status=0x00* ]] || fail "write after the outage: $out"
connected() { [ "$(field '["events"]["connected"]')" = True ]; }
wait_for 20 connected || fail "the LUN does not show the connection restored: $(show)"
[ "$(field '["events"]["conn_restored"]')" -ge 1 ] || fail "no connection-restored event: $(show)"
[ "$(field '["lock"]["state"]')" = locked ] || fail "the LUN lost its lock across the outage: $(show)"
stop_daemon
