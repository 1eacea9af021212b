#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SIGTERM while an initiator is mid-transfer: the daemon closes the session and exits 0,
# and the admin socket is removed. Also: bad command lines are refused with exit 2.
source "$(dirname "$0")/functions.sh"
requires qemu-img
IQN=iqn.2026-11.org.modtgt.test:stop
rc=0; "$MODTGTD" --threads 0 > "$TMP/out" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "bad --threads gave exit $rc"
rc=0; "$MODTGTD" --iscsi bogus=1 > "$TMP/out" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "bad --iscsi gave exit $rc"
start_daemon --threads 2
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype null --backing-store null0 --bsopts size=64G
URL="iscsi://$PORTAL/$IQN/1"
qemu-img convert -f raw -O raw "$URL" /dev/null 2>/dev/null &
client=$!
cleanup_fn "kill $client 2>/dev/null"
wait_for 20 bash -c "'$MODTGTADM' --socket '$SOCK' --mode target --op show --json | grep -q initiator" ||
  fail "the client never logged in"
stop_daemon
[ ! -e "$SOCK" ] || fail "admin socket left behind"
wait $client 2>/dev/null && fail "client finished reading 64 GiB?" || true
