#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# An IPv6 portal ([::1]:0) works beside an IPv4 one: discovery over IPv6 answers with the
# IPv6 address the initiator connected to, and I/O works over it.
source "$(dirname "$0")/functions.sh"
requires iscsi-ls iscsi-inq python3
python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null || {
  [ "${CI:-}" = true ] && fail "no IPv6 loopback on this machine"
  echo "SKIP: no IPv6 loopback" >&2; exit 77; }
IQN=iqn.2026-11.org.modtgt.test:v6
start_daemon --iscsi "portal=[::1]:0"
PORTAL6=$(adm --mode system --op show --json | json_get 'j["portals"][1]')
case "$PORTAL6" in "[::1]:"*) ;; *) fail "second portal is '$PORTAL6', expected [::1]:PORT";; esac
truncate -s 8M "$TMP/d.img"
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/d.img"
out=$(iscsi-ls "iscsi://$PORTAL6")
echo "$out"
grep -qF "Target:$IQN Portal:$PORTAL6,1" <<<"$out" || fail "SendTargets over IPv6 did not answer [::1]"
out=$(iscsi-ls "iscsi://$PORTAL")
grep -qF "Target:$IQN Portal:$PORTAL,1" <<<"$out" || fail "SendTargets over IPv4 did not answer 127.0.0.1"
iscsi-inq "iscsi://$PORTAL6/$IQN/1" | grep -q DIRECT_ACCESS || fail "INQUIRY over IPv6"
stop_daemon
