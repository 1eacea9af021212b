#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SIGTERM while an initiator is mid-transfer: the daemon closes the session and exits 0,
# and the admin socket is removed. Also: bad command lines are refused with exit 2.
source "$(dirname "$0")/functions.sh"
requires qemu-img
IQN=iqn.2026-11.org.modtgt.test:stop
rc=0; "$MODTGTD" --no-config --threads 0 > "$TMP/out" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "bad --threads gave exit $rc"
rc=0; "$MODTGTD" --no-config --iscsi bogus=1 > "$TMP/out" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "bad --iscsi gave exit $rc"
start_daemon --threads 2
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype null --backing-store null0 --bsopts size=64G
URL="iscsi://$PORTAL/$IQN/1"
# A client with 8 reads always in flight, for far longer than this test runs.
qemu-img bench -c 1000000000 -d 8 -f raw "$URL" > "$TMP/client.out" 2>&1 &
client=$!
cleanup_fn "kill -KILL $client 2>/dev/null"
logged_in() {
  adm --mode target --op show --json |
    python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["targets"][0]["nexuses"] else 1)'
}
wait_for 20 logged_in || fail "the client never logged in"
start=$SECONDS
stop_daemon
[ $((SECONDS - start)) -le 15 ] || fail "shutdown took $((SECONDS - start)) s"
[ ! -e "$SOCK" ] || fail "admin socket left behind"
grep -q "stopped" "$LOG" || fail "no clean stop in the log"
