#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iscsi-inq shows the LUN's standard INQUIRY and VPD pages; iscsi-readcapacity16 shows the
# size; identity (serial, NAA) is stable across a daemon restart with the same config,
# made again by hand (--no-config: the derivation itself, not the saved configuration).
source "$(dirname "$0")/functions.sh"
requires iscsi-inq iscsi-readcapacity16
IQN=iqn.2026-11.org.modtgt.test:inq
truncate -s 100M "$TMP/disk.img"
setup() {
  start_daemon --no-config
  new_target 1 $IQN
  adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/disk.img"
}
setup
URL="iscsi://$PORTAL/$IQN/1"
std=$(iscsi-inq "$URL")
echo "$std"
grep -q "Peripheral Device Type:DIRECT_ACCESS" <<<"$std" || fail "not a disk"
grep -qi "Vendor:MODTGT" <<<"$std" || fail "vendor"
sn1=$(iscsi-inq -e 1 -c 128 "$URL")
echo "$sn1"
grep -q "Unit Serial Number:" <<<"$sn1" || fail "no VPD 0x80"
id1=$(iscsi-inq -e 1 -c 131 "$URL")
echo "$id1"
grep -aq "Designator Type:(3) NAA" <<<"$id1" || fail "no NAA designator in VPD 0x83"
# (iscsi-inq takes page codes in decimal)
pages=$(iscsi-inq -e 1 -c 0 "$URL")
for p in 0x00 0x80 0x83 0xb0 0xb1 0xb2; do
  grep -q "Page:$p" <<<"$pages" || fail "VPD page $p not listed as supported"
done
iscsi-inq -e 1 -c 176 "$URL" | grep -q "maximum transfer length:" || fail "VPD 0xb0"
iscsi-inq -e 1 -c 177 "$URL" >/dev/null || fail "VPD 0xb1"
iscsi-inq -e 1 -c 178 "$URL" >/dev/null || fail "VPD 0xb2"
cap=$(iscsi-readcapacity16 "$URL")
echo "$cap"
grep -q "LOGICAL BLOCK LENGTH IN BYTES:512" <<<"$cap" || fail "block length"
grep -q "RETURNED LOGICAL BLOCK ADDRESS:204799" <<<"$cap" || fail "capacity (100 MiB = 204800 blocks)"

stop_daemon
setup
URL="iscsi://$PORTAL/$IQN/1"  # a new daemon listens on a new port
sn2=$(iscsi-inq -e 1 -c 128 "$URL")
id2=$(iscsi-inq -e 1 -c 131 "$URL")
[ "$sn1" = "$sn2" ] || fail "serial number changed across a restart"
[ "$id1" = "$id2" ] || fail "device identification changed across a restart"
stop_daemon
