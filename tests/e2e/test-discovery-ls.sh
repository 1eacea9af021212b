#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Discovery: iscsi-ls lists every target and its LUNs; SendTargets answers with the
# address the initiator connected to (127.0.0.1), never the wildcard.
source "$(dirname "$0")/functions.sh"
requires iscsi-ls python3
start_daemon
truncate -s 64M "$TMP/a.img"
new_target 1 iqn.2026-11.org.modtgt.test:alpha
new_target 2 iqn.2026-11.org.modtgt.test:beta
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/a.img"
adm --mode logicalunit --op new --tid 2 --lun 3 --bstype null --backing-store null0

out=$(iscsi-ls -s "iscsi://$PORTAL")
echo "$out"
grep -q "Target:iqn.2026-11.org.modtgt.test:alpha Portal:127.0.0.1:$PORT,1" <<<"$out" ||
  fail "alpha missing or wrong portal in SendTargets answer"
grep -q "Target:iqn.2026-11.org.modtgt.test:beta Portal:127.0.0.1:$PORT,1" <<<"$out" ||
  fail "beta missing"
grep -q "Lun:1 .*Type:DIRECT_ACCESS" <<<"$out" || fail "LUN 1 of alpha not listed"
grep -q "Lun:3 .*Type:DIRECT_ACCESS" <<<"$out" || fail "LUN 3 of beta not listed"

# A target that does not admit this initiator is not offered by SendTargets=All.
adm --mode target --op new --tid 3 --targetname iqn.2026-11.org.modtgt.test:hidden
out=$(iscsi-ls "iscsi://$PORTAL")
grep -q hidden <<<"$out" && fail "a target with no ACL entry was offered"
stop_daemon
