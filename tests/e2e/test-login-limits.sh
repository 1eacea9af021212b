#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A flood of connections that never log in cannot lock a real initiator out, and costs the
# daemon a bounded amount (issue 11, acceptance 3): 1,000 idle connections from 127.0.0.2
# and 100 each from 127.0.0.3 and 127.0.0.4 (max_pending_logins lowered to 150 for this
# test), plus 50 idle admin connections held all along; the target
# keeps at most max_pending_logins_per_address (64) of one address and max_pending_logins
# in all, dropping the quietest for room, and drops the rest once login_timeout (5 s here)
# passes. Meanwhile a real initiator from 127.0.0.1 logs in and does I/O (iscsi-inq and a
# qemu-img round trip), an admin request answers within a second (before, during and after
# the I/O), a connection sending random bytes is dropped, and the daemon keeps serving
# afterwards.
#
# Floods are started with `flood NAME ARGS...` (tests/tools/hold_connections.py) and
# counted with `still_open NAME`; another kind of idle client (e.g. idle admin
# connections) is added in the "floods" section below the same way.
source "$(dirname "$0")/functions.sh"
requires iscsi-inq qemu-img python3 cmp
HOLD=$MODTGT_SRC/tests/tools/hold_connections.py
IQN=iqn.2026-11.org.modtgt.test:limits
start_daemon --iscsi login_timeout=5,max_pending_logins=150
new_target 1 $IQN
truncate -s 16M "$TMP/lun.img"
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/lun.img"

declare -A FLOOD_IN FLOOD_OUT
# flood NAME ARGS...: holds connections (hold_connections.py ARGS) until the test ends.
flood() {
  local name=$1 in out line
  shift
  mkfifo "$TMP/$name.in" "$TMP/$name.out"
  python3 "$HOLD" "$@" < "$TMP/$name.in" > "$TMP/$name.out" &
  cleanup_fn "kill $! 2>/dev/null"
  exec {in}>"$TMP/$name.in"
  exec {out}<"$TMP/$name.out"
  FLOOD_IN[$name]=$in
  FLOOD_OUT[$name]=$out
  read -r -t 120 -u "$out" line || fail "flood $name did not start"
  info "flood $name: $line"
}
# still_open NAME: prints how many of the flood's connections the target has not closed.
still_open() {
  local line
  echo count >&"${FLOOD_IN[$1]}"
  read -r -t 60 -u "${FLOOD_OUT[$1]}" line || fail "flood $1 does not answer"
  echo "${line#open }"
}
# open_at_most NAME N: true once the target holds at most N of the flood's connections.
open_at_most() { [ "$(still_open "$1")" -le "$2" ]; }

# ---- floods ----
flood idle2 --port "$PORT" --source 127.0.0.2 -n 1000
flood idle3 --port "$PORT" --source 127.0.0.3 -n 100
flood idle4 --port "$PORT" --source 127.0.0.4 -n 100
flood admin --unix "$SOCK" -n 50
# (more idle clients go here)

# admin_answers_fast WHAT: `system show` answers within a second behind 50 idle admin
# clients (the admin server drops a client idle for 10 s: the ones it dropped are replaced
# first).
admin_answers_fast() {
  local t0 t1 ms line
  echo refill >&"${FLOOD_IN[admin]}"
  read -r -t 60 -u "${FLOOD_OUT[admin]}" line || fail "flood admin does not answer"
  [ "$line" = "open 50" ] || fail "could not hold 50 idle admin connections: $line"
  t0=$(date +%s%N)
  adm --mode system --op show > /dev/null || fail "the admin request failed ($1)"
  t1=$(date +%s%N)
  ms=$(( (t1 - t0) / 1000000 ))
  info "admin request $1: $ms ms with $(still_open admin) idle admin connections held"
  [ "$ms" -lt 1000 ] || fail "the admin request took $ms ms ($1)"
}
admin_answers_fast "during the flood"

wait_for 30 open_at_most idle2 64 || fail "127.0.0.2 holds $(still_open idle2) connections, more than 64"
total=$(( $(still_open idle2) + $(still_open idle3) + $(still_open idle4) ))
[ "$total" -le 150 ] || fail "the target holds $total idle connections, more than 150"
info "idle connections held by the target: $total"

# ---- a real initiator, while the floods are held ----
iscsi-inq "iscsi://$PORTAL/$IQN/1" | grep -q DIRECT_ACCESS || fail "INQUIRY refused during the flood"
head -c 16M /dev/urandom > "$TMP/src.raw"
qemu-img convert -n -f raw -O raw "$TMP/src.raw" "iscsi://$PORTAL/$IQN/1" > "$TMP/qemu.out" 2>&1 &
QEMU_PID=$!
admin_answers_fast "during the initiator's writes"
wait $QEMU_PID || fail "qemu-img write during the flood: $(cat "$TMP/qemu.out")"
qemu-img convert -f raw -O raw "iscsi://$PORTAL/$IQN/1" "$TMP/back.raw" ||
  fail "qemu-img read during the flood"
cmp "$TMP/src.raw" "$TMP/back.raw" || fail "data read back differs"
# Another address inside the flooded ones logs in too (the quietest flood connection goes).
python3 "$MODTGT_SRC/tests/tools/iscsi_login.py" --port "$PORT" --source 127.0.0.2 \
  --target $IQN --inquiry 1 > /dev/null || fail "a real login from the flooded address failed"

# ---- random bytes ----
flood garbage --port "$PORT" --source 127.0.0.6 -n 1 --garbage 4096
wait_for 20 open_at_most garbage 0 || fail "a connection sending random bytes was not dropped"

admin_answers_fast "after the random bytes"

# ---- the login timeout drops what is left; the daemon serves on ----
for f in idle2 idle3 idle4; do
  wait_for 30 open_at_most $f 0 || fail "idle connections of $f outlived login_timeout"
done
grep -q "dropping a connection from 127.0.0.2 that has not logged in, to make room (max_pending_logins_per_address)" "$LOG" ||
  fail "dropping for room is not logged"
grep -q "login timed out from 127.0.0.[234]:[0-9]* (login_timeout)" "$LOG" ||
  fail "the login timeout is not logged"
# Throttled: a line a second at most, however many connections are dropped.
n=$(grep -c "login timed out\|dropping a connection" "$LOG")
[ "$n" -le 40 ] || fail "$n log lines for the flood: not throttled"
kill -0 "$DAEMON_PID" || fail "modtgtd died"
iscsi-inq "iscsi://$PORTAL/$IQN/1" | grep -q DIRECT_ACCESS || fail "INQUIRY after the flood"
cmp -n 16M "$TMP/src.raw" "$TMP/lun.img" || fail "backing file differs"
stop_daemon
