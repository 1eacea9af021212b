#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The iSCSI transport options (modtgtd --iscsi KEY=VALUE): `modtgtd --help` lists exactly the
# keys the transport accepts, with defaults it accepts; an unknown key or a value out of
# range stops the start naming it; and a limit set there is applied (max_sessions=1: a
# second session gets Out of Resources, 0x0302, until the first logs out).
source "$(dirname "$0")/functions.sh"
requires python3 timeout
LOGIN=$MODTGT_SRC/tests/tools/iscsi_login.py
IQN=iqn.2026-11.org.modtgt.test:options

# The keys and defaults in --help: lines "          key=value   text".
"$MODTGTD" --help > "$TMP/help.txt"
sed -n 's/^ \{10\}\([a-z_0-9]*\)=\([0-9]*\) .*/\1=\2/p' "$TMP/help.txt" > "$TMP/help-keys.txt"
[ "$(wc -l < "$TMP/help-keys.txt")" -ge 10 ] || fail "--help lists no iSCSI limits: $(cat "$TMP/help.txt")"

# start_refused ARGS...: modtgtd must refuse to start; its output in $TMP/refused.txt.
start_refused() {
  local rc=0
  timeout 20 "$MODTGTD" -f --no-config --iscsi portal=127.0.0.1:0 --socket "$TMP/r.sock" \
    --module-dir "$MODULE_DIR" "$@" > "$TMP/refused.txt" 2>&1 || rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "modtgtd started (rc $rc) with $*"
}
# The transport's own list of keys, from its refusal of an unknown one.
start_refused --iscsi no_such_key=1
grep -q "unknown iscsi option 'no_such_key' (known: portal, " "$TMP/refused.txt" ||
  fail "an unknown key is not refused by name: $(cat "$TMP/refused.txt")"
sed -n "s/.*(known: portal, \([^)]*\)).*/\1/p" "$TMP/refused.txt" | head -n 1 | tr -d ' ' |
  tr ',' '\n' | sort > "$TMP/known.txt"
cut -d= -f1 "$TMP/help-keys.txt" | sort > "$TMP/help-names.txt"
diff "$TMP/known.txt" "$TMP/help-names.txt" || fail "--help and the transport disagree on the keys"
# And the documents name the same keys.
for k in $(cat "$TMP/known.txt"); do
  grep -q "\`$k\`" "$MODTGT_SRC/docs/iscsi.md" || fail "docs/iscsi.md does not document $k"
  grep -q "^\.B $k\$" "$MODTGT_SRC/docs/man/modtgtd.8" || fail "modtgtd(8) does not name $k"
done

start_refused --iscsi max_sessions=0
grep -q "max_sessions='0': want an integer from 1 to 65535" "$TMP/refused.txt" ||
  fail "a value out of range is not refused by name: $(cat "$TMP/refused.txt")"
start_refused --iscsi login_timeout=soon
grep -q "login_timeout='soon'" "$TMP/refused.txt" || fail "a bad value is not named"
start_refused --iscsi max_sessions
grep -q "wants KEY=VALUE" "$TMP/refused.txt" || fail "a key without a value is not refused"

# Every default of --help, given explicitly, is accepted.
start_daemon --iscsi "$(paste -sd, "$TMP/help-keys.txt")"
stop_daemon

# max_sessions=1 applies.
start_daemon --iscsi max_sessions=1
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 0 --bstype null --backing-store null0
mkfifo "$TMP/hold.in"
python3 "$LOGIN" --port "$PORT" --target $IQN --hold < "$TMP/hold.in" > "$TMP/hold.out" &
HOLDER=$!
cleanup_fn "kill $HOLDER 2>/dev/null"
exec {hold}>"$TMP/hold.in"
sessions() { adm --mode target --op show --tid 1 --json | json_get 'j["targets"][0]["sessions"]'; }
sessions_are() { [ "$(sessions)" = "$1" ]; }
wait_for 20 sessions_are 1 || fail "the first session did not log in"
out=$(python3 "$LOGIN" --port "$PORT" --target $IQN --initiator iqn.2026-11.org.modtgt.test:two) &&
  fail "a second session beyond max_sessions=1: $out"
[ "$(json_get 'j["status"]' <<<"$out")" = 0x0302 ] || fail "expected Out of Resources: $out"
grep -q "1 sessions, the most allowed (max_sessions)" "$LOG" || fail "the refusal is not logged"
exec {hold}>&-
wait "$HOLDER" || fail "the first session did not log out cleanly"
wait_for 20 sessions_are 0 || fail "the first session did not end"
python3 "$LOGIN" --port "$PORT" --target $IQN --inquiry 0 > /dev/null ||
  fail "no room after the first session logged out"
stop_daemon
