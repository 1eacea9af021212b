#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bs_rbd's cluster lock with two gateways (two modtgtd) on one image of a real cluster:
# gateway A's LUN holds the exclusive lock; gateway B's LUN on the same image takes it
# (breaking A's lock, which blocklists A's client); A reports the lost lock (logicalunit
# show: lock_lost event, state unlocked) and answers writes with NOT READY, TARGET PORT IN
# STANDBY STATE (02/04/0b: multipath retries on another gateway), and nothing A is asked
# to write afterwards reaches the image (checked with rbd export), while B's writes do. A
# then serves reads again as a standby (its module reconnected with a new client).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/ceph.sh"
rbd_requires
requires python3 cmp
SCSI_IO=$MODTGT_BUILD/tests/tools/scsi_io
[ -x "$SCSI_IO" ] || fail "no $SCSI_IO (libiscsi-dev missing at build time?)"
IQN=iqn.2026-11.org.modtgt.test:rbd-lock
ceph_start
P=$CEPH_POOL
rbd_new shared 64M
CFG="rbd/$P/shared$CEPH_OPTS"

# Gateway A: the test's daemon.
start_daemon
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --cfgstring "$CFG"
PORTAL_A=$PORTAL
SOCK_A=$SOCK

# Gateway B: a second daemon with its own socket and log.
SOCK_B=$TMP/b.sock
LOG_B=$TMP/b.log
"$MODTGTD" -f --iscsi portal=127.0.0.1:0 --socket "$SOCK_B" --module-dir "$MODULE_DIR" \
  --config "$TMP/b.json" --log-level info >> "$LOG_B" 2>&1 &
PID_B=$!
cleanup_fn "kill -TERM $PID_B 2>/dev/null; _ceph_wait_gone $PID_B 60; tail -n 20 $LOG_B >&2"
admb() { "$MODTGTADM" --socket "$SOCK_B" "$@"; }
wait_for 20 admb --mode system --op show || fail "gateway B does not start"
PORTAL_B=$(admb --mode system --op show --json | json_get 'j["portals"][0]')

showa() { adm --mode logicalunit --op show --tid 1 --lun 1 --json; }
showb() { admb --mode logicalunit --op show --tid 1 --lun 1 --json; }
field() { json_get "j['luns'][0]$1"; }
[ "$(showa | field '["lock"]["state"]')" = locked ] || fail "A does not hold the lock: $(showa)"
[ "$(showa | field '["lock"]["supported"]')" = True ] || fail "A's LUN has no lock group"
owner_a=$(rbdc lock ls --format json "$P/shared" | json_get 'j[0]["address"]')
out=$("$SCSI_IO" "iscsi://$PORTAL_A/$IQN/1" write 0 8 0x58 fua)
[[ $out == status=0x00* ]] || fail "A's first write: $out"

# B takes the lock.
t0=$(date +%s%N)
admb --mode target --op new --tid 1 --targetname $IQN
admb --mode target --op bind --tid 1 --initiator-address ALL
admb --mode logicalunit --op new --tid 1 --lun 1 --cfgstring "$CFG"
[ "$(showb | field '["lock"]["state"]')" = locked ] || fail "B does not hold the lock: $(showb)"
owner_b=$(rbdc lock ls --format json "$P/shared" | json_get 'j[0]["address"]')
[ "$owner_a" != "$owner_b" ] || fail "the lock owner did not change ($owner_a)"
lost() { [ "$(showa | field '["events"]["lock_lost"]')" = 1 ]; }
wait_for 20 lost || fail "A reports no lost lock: $(showa)"
info "A saw the lost lock $((($(date +%s%N) - t0) / 1000000)) ms after B's LUN was created"
[ "$(showa | field '["lock"]["state"]')" = unlocked ] || fail "A's lock state after the loss: $(showa)"
showa | field '["events"]["last"]' | grep -q "lock lost" || fail "A's last event: $(showa)"
cephc osd blocklist ls 2>/dev/null | grep -q "${owner_a%%/*}" ||
  info "note: A's address is not in the blocklist listing"

# A must not write any more; B writes.
out=$("$SCSI_IO" "iscsi://$PORTAL_A/$IQN/1" write 0 8 0x59 fua)
info "A's write after the loss: $out"
[[ $out == *sense=2/04/0b* ]] || fail "A's write after the loss was not answered standby: $out"
out=$("$SCSI_IO" "iscsi://$PORTAL_A/$IQN/1" write 16 8 0x59)
[[ $out == *sense=2/04/0b* ]] || fail "A's second write after the loss: $out"
out=$("$SCSI_IO" "iscsi://$PORTAL_B/$IQN/1" write 8 8 0x5a fua)
[[ $out == status=0x00* ]] || fail "B's write: $out"
rbdc export --no-progress "$P/shared" "$TMP/export"
python3 - "$TMP/export" <<'PY' || fail "the image does not hold exactly A's first and B's writes"
import sys
d = open(sys.argv[1], "rb").read()
assert d[0:4096] == b"\x58" * 4096, "A's write before the loss"
assert d[4096:8192] == b"\x5a" * 4096, "B's write"
assert d[8192:12288] == b"\0" * 4096, "A's write after the loss reached the image"
assert b"\x59" not in d, "A's write after the loss reached the image"
PY

# A, standing by, reads again once its module has a new client.
readable() { "$SCSI_IO" "iscsi://$PORTAL_A/$IQN/1" read 0 16 "$TMP/a.read" | grep -q "status=0x00"; }
wait_for 20 readable || fail "A does not serve reads as a standby"
cmp -n 8192 "$TMP/a.read" "$TMP/export" || fail "A reads other data than the image holds"
[ "$(showb | field '["events"]["lock_lost"]')" = 0 ] || fail "B lost the lock: $(showb)"
[ "$(showb | field '["lock"]["state"]')" = locked ] || fail "B no longer holds the lock: $(showb)"

kill -TERM $PID_B
wait $PID_B || fail "gateway B exited with status $?"
stop_daemon
