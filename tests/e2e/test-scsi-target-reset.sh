#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# TARGET WARM RESET and TARGET COLD RESET reach every session of the target (issue 12):
# initiator B stays logged in (a reservation_probe paused between its steps) while
# initiator A resets the target. A warm reset gives both their unit attention (29/02 SCSI
# BUS RESET OCCURRED) and releases B's SPC-2 reservation, while a persistent reservation
# stays; a cold reset answers A, then drops every connection of the target, B's included,
# and a new session finds the power-on state with the persistent reservation still there.
# A session of a second target sees neither reset.
source "$(dirname "$0")/functions.sh"
requires python3
PROBE=$MODTGT_BUILD/tests/tools/reservation_probe
[ -x "$PROBE" ] || fail "$PROBE is not built (libiscsi-dev at configure time)"

T1=iqn.2026-12.org.modtgt.test:reset
T2=iqn.2026-12.org.modtgt.test:reset-other
A=iqn.2026-12.org.modtgt.test:node-a
B=iqn.2026-12.org.modtgt.test:node-b
C=iqn.2026-12.org.modtgt.test:node-c
truncate -s 16M "$TMP/t1.img" "$TMP/t2.img"
start_daemon
new_target 1 $T1
new_target 2 $T2
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/t1.img"
adm --mode logicalunit --op new --tid 2 --lun 1 --backing-store "$TMP/t2.img"
url() { echo "iscsi://$PORTAL/$1/1"; }
probe() {  # probe INITIATOR TARGET COMMAND... -> its output
  local who=$1 t=$2; shift 2
  "$PROBE" "$who" "$(url "$t")" "$@" 2>>"$TMP/probe.err" || true
}
expect() {  # expect WHAT GOT WANT
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}
sessions() { adm --mode target --op show --tid "$1" --json | json_get 'j["targets"][0]["sessions"]'; }
# background NAME INITIATOR TARGET COMMAND...: a probe whose "pause" steps wait for
# resume NAME; its output goes to $TMP/NAME.out.
background() {
  local name=$1 who=$2 t=$3; shift 3
  mkfifo "$TMP/$name.in"
  "$PROBE" "$who" "$(url "$t")" "$@" < "$TMP/$name.in" > "$TMP/$name.out" 2>>"$TMP/probe.err" &
  cleanup_fn "kill $! 2>/dev/null"
  eval "exec {fd_$name}>\"\$TMP/$name.in\""
}
resume() { local v="fd_$1"; echo go >&"${!v}"; }
paused_count() { grep -c '^paused$' "$TMP/$1.out" 2>/dev/null || echo 0; }
paused_at_least() { [ "$(paused_count "$1")" -ge "$2" ]; }
wait_paused() {  # wait_paused NAME N: until NAME has paused N times
  wait_for 20 paused_at_least "$1" "$2" || fail "$1 did not pause ($(cat "$TMP/$1.out"))"
}
sessions_are() { [ "$(sessions "$1")" = "$2" ]; }
line_is() { [ "$(sed -n "$2p" "$TMP/$1.out")" = "$3" ]; }  # line_is NAME N TEXT

background b $B $T1 tur reserve6 pause tur pause tur pause
background c $C $T2 tur pause tur pause tur
wait_paused b 1
wait_paused c 1
# (libiscsi's login sends TEST UNIT READY itself: a new session's power-on unit attention
# is gone before the probe's first command.)
expect "B's first commands" "$(cat "$TMP/b.out")" "ok
ok
paused"
expect "A meets B's SPC-2 reservation" "$(probe $A $T1 read)" "status 0x18"

info "TARGET WARM RESET from A"
expect "warm reset" "$(probe $A $T1 warm-reset tur read)" "ok
sense 6/29/02
ok"
resume b
wait_paused b 2
expect "B after the warm reset" "$(sed -n 4p "$TMP/b.out")" "sense 6/29/02"
resume c
wait_paused c 2
expect "the other target's session" "$(sed -n 3p "$TMP/c.out")" "ok"

# A persistent reservation stays through a warm reset.
expect "A reserves" "$(probe $A $T1 register 0xa reserve 0xa 3)" "ok
ok"
expect "warm reset with a PR" "$(probe $A $T1 warm-reset tur reservation)" "ok
sense 6/29/02
reservation 0xa 3"
resume b
wait_paused b 3
expect "B after the second warm reset" "$(sed -n 6p "$TMP/b.out")" "sense 6/29/02"
[ "$(sessions 1)" = 1 ] || fail "B's session is not logged in: $(sessions 1)"

info "TARGET COLD RESET from A"
expect "cold reset" "$(probe $A $T1 cold-reset)" "ok"
wait_for 20 sessions_are 1 0 || fail "B's session outlived the cold reset: $(sessions 1)"
[ "$(sessions 2)" = 1 ] || fail "the other target's session was dropped: $(sessions 2)"
resume c
wait_for 20 line_is c 5 ok || fail "C after the cold reset: $(cat "$TMP/c.out")"
grep -q "TARGET COLD RESET" "$LOG" || fail "the log does not say why B was dropped"
expect "a new session after the cold reset" "$(probe $B $T1 reservation read)" "reservation 0xa 3
status 0x18"
stop_daemon
