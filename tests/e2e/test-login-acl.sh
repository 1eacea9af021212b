#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Login outcomes by ACL: a target with no ACL admits nobody; an unknown target is refused;
# binding by initiator name admits only that name; IPv4 and IPv6 addresses and CIDR
# prefixes admit only the initiators inside them (from 127.0.0.2 and ::1); unbinding takes
# access away. A refused initiator gets Authorization Failure (0x0202) and the log names
# who was refused and by which rules.
source "$(dirname "$0")/functions.sh"
requires iscsi-inq python3
IQN=iqn.2026-11.org.modtgt.test:acl
GOOD=iqn.2026-11.org.modtgt.test:client-good
BAD=iqn.2026-11.org.modtgt.test:client-bad
LOGIN=$MODTGT_SRC/tests/tools/iscsi_login.py
V6=0
python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null && V6=1
[ $V6 = 1 ] || [ "${CI:-}" != true ] || fail "no IPv6 loopback on this machine"
if [ $V6 = 1 ]; then start_daemon --iscsi "portal=[::1]:0"; else start_daemon; fi
truncate -s 8M "$TMP/d.img"
adm --mode target --op new --tid 1 --targetname $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/d.img"
URL="iscsi://$PORTAL/$IQN/1"
# status ARGS...: the login status the Python initiator gets ("0x0000" when admitted).
status() {
  python3 "$LOGIN" --port "$PORT" --target $IQN "$@" | json_get 'j["status"]'
}

iscsi-inq -i $GOOD "$URL" >/dev/null 2>&1 && fail "a target without ACL admitted an initiator"
grep -q "0x0202 (authorization failure): initiator '$GOOD' from 127.0.0.1:[0-9]* to target $IQN (tid 1): the target has no ACL, so nobody may log in" "$LOG" ||
  fail "the refusal by an empty ACL is not logged as such"

# Names.
adm --mode target --op bind --tid 1 --initiator-name $GOOD
iscsi-inq -i $GOOD "$URL" >/dev/null || fail "bound initiator name refused"
iscsi-inq -i $BAD "$URL" >/dev/null 2>&1 && fail "unbound initiator name admitted"
grep -q "initiator '$BAD' from 127.0.0.1:[0-9]* to target $IQN (tid 1): initiator name '$BAD' is not among the target's initiator names ('$GOOD')" "$LOG" ||
  fail "the name refusal does not name the rules"
adm --mode target --op unbind --tid 1 --initiator-name $GOOD

# IPv4 addresses and prefixes.
adm --mode target --op bind --tid 1 --initiator-address 127.0.0.1
iscsi-inq -i $BAD "$URL" >/dev/null || fail "address 127.0.0.1 bound but refused"
[ "$(status --source 127.0.0.2)" = 0x0202 ] || fail "127.0.0.2 admitted by 127.0.0.1"
adm --mode target --op unbind --tid 1 --initiator-address 127.0.0.1
adm --mode target --op bind --tid 1 --initiator-address 127.0.0.2/31
[ "$(status --source 127.0.0.2)" = 0x0000 ] || fail "127.0.0.2 refused by 127.0.0.2/31"
[ "$(status --source 127.0.0.3)" = 0x0000 ] || fail "127.0.0.3 refused by 127.0.0.2/31"
[ "$(status --source 127.0.0.4)" = 0x0202 ] || fail "127.0.0.4 admitted by 127.0.0.2/31"
[ "$(status)" = 0x0202 ] || fail "127.0.0.1 admitted by 127.0.0.2/31"
grep -q "from 127.0.0.4:[0-9]* to target $IQN (tid 1): address 127.0.0.4 matches none of the target's address rules ('127.0.0.2/31')" "$LOG" ||
  fail "the address refusal does not name the rules"
adm --mode target --op unbind --tid 1 --initiator-address 127.0.0.2/31
adm --mode target --op bind --tid 1 --initiator-address 127.0.0.0/8
iscsi-inq -i $BAD "$URL" >/dev/null || fail "127.0.0.1 refused by 127.0.0.0/8"
adm --mode target --op unbind --tid 1 --initiator-address 127.0.0.0/8
adm --mode target --op bind --tid 1 --initiator-address 10.9.9.0/24
iscsi-inq -i $BAD "$URL" >/dev/null 2>&1 && fail "an address outside the bound prefix was admitted"

# IPv6 addresses and prefixes (the [::1] portal).
if [ $V6 = 1 ]; then
  PORTAL6=$(adm --mode system --op show --json | json_get 'j["portals"][1]')
  PORT6=${PORTAL6##*:}
  URL6="iscsi://$PORTAL6/$IQN/1"
  iscsi-inq -i $BAD "$URL6" >/dev/null 2>&1 && fail "::1 admitted by 10.9.9.0/24"
  adm --mode target --op bind --tid 1 --initiator-address fd00::/8
  iscsi-inq -i $BAD "$URL6" >/dev/null 2>&1 && fail "::1 admitted by fd00::/8"
  grep -q "address ::1 matches none of the target's address rules ('10.9.9.0/24', 'fd00::/8')" "$LOG" ||
    fail "the IPv6 refusal does not name the rules"
  adm --mode target --op bind --tid 1 --initiator-address ::/127
  iscsi-inq -i $BAD "$URL6" >/dev/null || fail "::1 refused by ::/127"
  iscsi-inq -i $BAD "$URL" >/dev/null 2>&1 && fail "127.0.0.1 admitted by IPv6 rules"
  adm --mode target --op unbind --tid 1 --initiator-address ::/127
  adm --mode target --op bind --tid 1 --initiator-address ::1
  [ "$(python3 "$LOGIN" --host ::1 --port "$PORT6" --target $IQN | json_get 'j["status"]')" = 0x0000 ] ||
    fail "::1 refused by ::1"
  adm --mode target --op unbind --tid 1 --initiator-address ::1
  adm --mode target --op unbind --tid 1 --initiator-address fd00::/8
fi

# Addresses and names together: both must match.
adm --mode target --op bind --tid 1 --initiator-address 127.0.0.0/8
adm --mode target --op bind --tid 1 --initiator-name $GOOD
iscsi-inq -i $GOOD "$URL" >/dev/null || fail "name and address both match, refused"
iscsi-inq -i $BAD "$URL" >/dev/null 2>&1 && fail "address matches but the name does not, admitted"

out=$(iscsi-inq "iscsi://$PORTAL/iqn.2026-11.org.modtgt.test:nosuch/1" 2>&1) && fail "unknown target admitted"
echo "$out"
grep -q "0x0203 (target not found).*no target named 'iqn.2026-11.org.modtgt.test:nosuch'" "$LOG" ||
  fail "the unknown target is not logged"
stop_daemon
