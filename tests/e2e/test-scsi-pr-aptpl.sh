#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Persistent reservations with APTPL survive a SIGKILL and a restart (issue 12, acceptance
# 2), with two initiator names: both register, one reserves EXCLUSIVE ACCESS with APTPL
# set; after kill -9 and the same command line again, READ KEYS and READ RESERVATION show
# both registrations and the reservation, and the reservation still conflicts for the
# other initiator. The state file is beside the configuration (pr/), private, and goes when
# the LUN is deleted: a LUN re-created at the same place starts without it. A daemon with
# --no-config has nowhere to persist: PTPL_C 0, APTPL refused.
source "$(dirname "$0")/functions.sh"
requires python3
PROBE=$MODTGT_BUILD/tests/tools/reservation_probe
[ -x "$PROBE" ] || fail "$PROBE is not built (libiscsi-dev at configure time)"

IQN=iqn.2026-12.org.modtgt.test:aptpl
I1=iqn.2026-12.org.modtgt.test:node-one
I2=iqn.2026-12.org.modtgt.test:node-two
truncate -s 16M "$TMP/lun1.img"

start_daemon
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/lun1.img"
url() { echo "iscsi://$PORTAL/$IQN/1"; }
probe() {  # probe INITIATOR COMMAND... -> its output (the exit code is not checked)
  local who=$1; shift
  "$PROBE" "$who" "$(url)" "$@" 2>>"$TMP/probe.err" || true
}
expect() {  # expect WHAT GOT WANT
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# (libiscsi's login sends TEST UNIT READY itself: the power-on unit attention is gone
# before the probe's first command.)
expect "capabilities" "$(probe $I1 caps)" "ptpl_c=1 ptpl_a=0"
expect "register node-one" "$(probe $I1 register-aptpl 0x1111)" "ok"
expect "register node-two" "$(probe $I2 register-aptpl 0x2222)" "ok"
expect "reserve" "$(probe $I1 reserve 0x1111 3)" "ok"
expect "capabilities after APTPL" "$(probe $I1 caps)" "ptpl_c=1 ptpl_a=1"
expect "keys before" "$(probe $I2 keys)" "keys 2 0x1111 0x2222"
expect "reservation before" "$(probe $I2 reservation)" "reservation 0x1111 3"
expect "conflict before" "$(probe $I2 read)" "status 0x18"

files=("$TMP"/pr/lu-*.json)
[ -f "${files[0]}" ] || fail "no state file in $TMP/pr: $(ls -la "$TMP" "$TMP/pr" 2>&1)"
[ "$(stat -c %a "${files[0]}")" = 600 ] || fail "the state file is not private"
grep -q "node-two" "${files[0]}" || fail "the state file lacks node-two's registration"

info "SIGKILL, then the same command line again"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
start_daemon
grep -q "restored 2 persistent reservation registration(s) and the reservation" "$LOG" ||
  fail "the log does not say the state was restored"

expect "keys after" "$(probe $I2 keys)" "keys 2 0x1111 0x2222"
expect "reservation after" "$(probe $I1 reservation)" "reservation 0x1111 3"
expect "capabilities after" "$(probe $I2 caps)" "ptpl_c=1 ptpl_a=1"
expect "conflict after, read" "$(probe $I2 tur read)" "ok
status 0x18"
expect "conflict after, write" "$(probe $I2 tur write)" "ok
status 0x18"
expect "the holder still has access" "$(probe $I1 tur write read)" "ok
ok
ok"

# A REGISTER with APTPL 0 ends the persistence: the file goes.
expect "register without APTPL" "$(probe $I2 register 0x2222)" "ok"
[ ! -e "${files[0]}" ] || fail "the state file stays after a REGISTER with APTPL 0"
expect "register again with APTPL" "$(probe $I2 register-aptpl 0x2222)" "ok"
[ -f "${files[0]}" ] || fail "no state file after APTPL was set again"

# Deleting the LUN deletes its file; a LUN re-created at the same place starts clean.
adm --mode logicalunit --op delete --tid 1 --lun 1
[ ! -e "${files[0]}" ] || fail "the state file outlived its LUN"
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/lun1.img"
expect "keys of the re-created LUN" "$(probe $I2 keys)" "keys 0"
expect "no conflict on the re-created LUN" "$(probe $I2 read)" "ok"
stop_daemon

info "--no-config: nowhere to persist"
start_daemon --no-config
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/lun1.img"
expect "capabilities without a state folder" "$(probe $I1 caps)" "ptpl_c=0 ptpl_a=0"
expect "APTPL refused" "$(probe $I1 register-aptpl 0x1111)" "sense 5/26/00"
expect "without APTPL it works" "$(probe $I1 register 0x1111)" "ok"
stop_daemon
