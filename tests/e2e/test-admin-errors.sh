#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Bad admin requests get a clear error and a non-zero exit, and change nothing.
source "$(dirname "$0")/functions.sh"
requires python3
start_daemon
IQN=iqn.2026-11.org.modtgt.test:adm

expect_fail() {  # expect_fail PATTERN ARGS...: the command fails and says PATTERN
  local pat=$1; shift
  local rc=0
  adm "$@" > "$TMP/out" 2>&1 || rc=$?
  [ $rc -ne 0 ] || fail "'modtgtadm $*' succeeded but should have failed"
  grep -qiE "$pat" "$TMP/out" || fail "'modtgtadm $*' said '$(cat "$TMP/out")', expected /$pat/"
}

new_target 1 $IQN
expect_fail "exist" --mode target --op new --tid 1 --targetname $IQN-other
expect_fail "exist" --mode target --op new --tid 2 --targetname $IQN
expect_fail "name" --mode target --op new --tid 3 --targetname "not a valid name"
expect_fail "target" --mode target --op delete --tid 42
expect_fail "." --mode target --op frobnicate --tid 1
expect_fail "." --mode nonsense --op show
expect_fail "target" --mode logicalunit --op new --tid 9 --lun 1 --backing-store /nonexistent
expect_fail "nonexistent|no such file|not found" \
  --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/nonexistent"
expect_fail "module|bstype|backing.store" \
  --mode logicalunit --op new --tid 1 --lun 1 --bstype nosuch --backing-store x
truncate -s 1M "$TMP/d.img"
expect_fail "param|readonly|unknown" \
  --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/d.img" --params bogus=1
# None of the refused requests created a LUN.
n=$(adm --mode target --op show --json | python3 -c '
import json,sys
j=json.load(sys.stdin)
ts=j["targets"] if isinstance(j,dict) and "targets" in j else j
print(sum(len(t.get("luns",[])) for t in ts))')
[ "$n" = 0 ] || fail "a refused request left $n LUN(s) behind"
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/d.img"
expect_fail "exist" --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/d.img"
expect_fail "lun" --mode logicalunit --op delete --tid 1 --lun 7

# Raw protocol garbage on the socket gets an error reply, and the daemon keeps serving.
python3 - "$SOCK" <<'PY'
import socket, sys, json
for payload in [b"this is not json\n", b"[1,2,3]\n", b'{"mode": 5}\n', b'{"mode":"target","op":"new","tid":"x"}\n']:
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(payload)
    reply = s.makefile().readline(); s.close()
    r = json.loads(reply)
    assert r.get("ok") is False and r.get("error", {}).get("message"), reply
PY
adm --mode system --op show >/dev/null || fail "daemon stopped answering after bad requests"

# A daemon that is not there: clear message, non-zero exit.
rc=0
"$MODTGTADM" --socket "$TMP/nobody.sock" --mode system --op show > "$TMP/out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "no daemon but exit 0"
grep -qi "connect" "$TMP/out" || fail "no clear message without a daemon: $(cat "$TMP/out")"
stop_daemon
