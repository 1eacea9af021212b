#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ALUA on one daemon with a ram LU (no cluster lock; docs/alua.md): without a group the LU
# reports TPGS 0 and refuses REPORT TARGET PORT GROUPS; with `target update --params
# alua_group=3,alua_peers=5` it reports TPGS 3, VPD 0x83 relative port 3 and target port
# group 3, REPORT TARGET PORT GROUPS (both formats) with group 3 active/optimized and
# peer 5 standby; SET TARGET PORT GROUPS to standby makes the LU refuse TEST UNIT READY
# with 02/04/0b and gives another nexus ASYMMETRIC ACCESS STATE CHANGED (06/2a/06); bad
# parameter lists are refused; unavailable answers 02/04/0c; back to active/optimized
# works; the setting survives a restart (saved configuration) and a bad one is refused.
source "$(dirname "$0")/functions.sh"
PROBE=$MODTGT_BUILD/tests/tools/alua_probe
[ -x "$PROBE" ] || fail "no $PROBE (libiscsi-dev missing at build time?)"
IQN=iqn.2026-11.org.modtgt.test:alua
start_daemon
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype ram --backing-store ram/ --bsopts size=16M
URL="iscsi://$PORTAL/$IQN/1"
probe() { "$PROBE" "$URL" "$@"; }
check() {  # check WANT ARGS...: probe ARGS prints exactly WANT
  local want=$1 out
  shift
  out=$(probe "$@" 2>&1) || true
  [ "$out" = "$want" ] || fail "alua_probe $*: got '$out', want '$want'"
}

check "tpgs=0" tpgs
out=$(probe rtpg 2>&1 || true)
[[ $out == *sense=5/24/00* ]] || fail "REPORT TARGET PORT GROUPS without ALUA (unsupported service action): $out"

rc=0
adm --mode target --op update --tid 1 --params alua_group=3,alua_peers=3 > "$TMP/out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "own group" "$TMP/out" || fail "a peer equal to the group was accepted: $(cat "$TMP/out")"
rc=0
adm --mode target --op update --tid 1 --params alua_mode=explicit,alua_nonholder=nonoptimized,alua_group=3 > "$TMP/out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "needs implicit" "$TMP/out" || fail "nonoptimized without implicit ALUA was accepted: $(cat "$TMP/out")"
rc=0
adm --mode target --op update --tid 1 --params colour=blue > "$TMP/out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "unknown target parameter" "$TMP/out" || fail "an unknown key was accepted: $(cat "$TMP/out")"
check "tpgs=0" tpgs

adm --mode target --op update --tid 1 --params alua_group=3,alua_peers=5
# The list of targets shows the setting ("--tid N" prints tgtadm's parameter layout instead).
adm --mode target --op show | grep -q "ALUA: group=3 peers=5 mode=both nonholder=standby" ||
  fail "target show: $(adm --mode target --op show)"
[ "$(adm --mode target --op show --tid 1 --json | json_get 'j["targets"][0]["alua"]')" = \
  "group=3 peers=5 mode=both nonholder=standby" ] || fail "target show --json: no alua setting"
check "tpgs=3" tpgs
check "relport=3 tpg=3" vpd83
check "group=3 state=0 pref=0 status=0 ports=3
group=5 state=2 pref=0 status=0 ports=5" rtpg
check "format=1 itt=30
group=3 state=0 pref=0 status=0 ports=3
group=5 state=2 pref=0 status=0 ports=5" rtpg 1

# Bad parameter lists: an unknown group, a state that cannot be set, both active.
check "status=0x02 sense=5/26/00" stpg 9=0
check "status=0x02 sense=5/26/00" stpg 3=15
check "status=0x02 sense=5/26/00" stpg 3=0,5=0

# Standby: another nexus gets ASYMMETRIC ACCESS STATE CHANGED, then TEST UNIT READY is
# refused with 02/04/0b.
check "stpg status=0x00
other status=0x02 sense=6/2a/06" ua-stpg 3=2
check "status=0x02 sense=2/04/0b" tur
check "group=3 state=2 pref=0 status=1 ports=3
group=5 state=0 pref=0 status=0 ports=5" rtpg
[ "$(adm --mode logicalunit --op show --tid 1 --lun 1 --json | json_get 'j["luns"][0]["alua_state"]')" = standby ] ||
  fail "logicalunit show does not give the standby state"
check "status=0x00" stpg 3=3
check "status=0x02 sense=2/04/0c" tur
check "status=0x00" stpg 3=0
check "status=0x00" tur

# The setting is saved: a restart brings it back.
stop_daemon
start_daemon
URL="iscsi://$PORTAL/$IQN/1"
check "tpgs=3" tpgs
check "relport=3 tpg=3" vpd83
grep -q '"alua"' "$CONFIG" || fail "the saved configuration has no alua entry"
adm --mode target --op update --tid 1 --params alua_group=0
check "tpgs=0" tpgs
check "status=0x00" tur
stop_daemon
