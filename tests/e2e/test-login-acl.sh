#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Login outcomes: an unknown target and an initiator the ACL does not admit are refused;
# binding by initiator name admits only that name; unbinding takes access away.
source "$(dirname "$0")/functions.sh"
requires iscsi-inq
IQN=iqn.2026-11.org.modtgt.test:acl
GOOD=iqn.2026-11.org.modtgt.test:client-good
BAD=iqn.2026-11.org.modtgt.test:client-bad
start_daemon
truncate -s 8M "$TMP/d.img"
adm --mode target --op new --tid 1 --targetname $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/d.img"
URL="iscsi://$PORTAL/$IQN/1"
iscsi-inq -i $GOOD "$URL" >/dev/null 2>&1 && fail "a target without ACL admitted an initiator"
adm --mode target --op bind --tid 1 --initiator-name $GOOD
iscsi-inq -i $GOOD "$URL" >/dev/null || fail "bound initiator name refused"
iscsi-inq -i $BAD "$URL" >/dev/null 2>&1 && fail "unbound initiator name admitted"
adm --mode target --op unbind --tid 1 --initiator-name $GOOD
adm --mode target --op bind --tid 1 --initiator-address 127.0.0.1
iscsi-inq -i $BAD "$URL" >/dev/null || fail "address 127.0.0.1 bound but refused"
adm --mode target --op unbind --tid 1 --initiator-address 127.0.0.1
adm --mode target --op bind --tid 1 --initiator-address 10.9.9.0/24
iscsi-inq -i $BAD "$URL" >/dev/null 2>&1 && fail "an address outside the bound prefix was admitted"
out=$(iscsi-inq "iscsi://$PORTAL/iqn.2026-11.org.modtgt.test:nosuch/1" 2>&1) && fail "unknown target admitted"
echo "$out"
stop_daemon
