#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iscsi-inq shows the LUN's standard INQUIRY and VPD pages; iscsi-readcapacity16 shows the
# size; identity (serial, NAA) is stable across a daemon restart with the same config.
source "$(dirname "$0")/functions.sh"
requires iscsi-inq iscsi-readcapacity16
IQN=iqn.2026-11.org.modtgt.test:inq
truncate -s 100M "$TMP/disk.img"
setup() {
  start_daemon
  new_target 1 $IQN
  adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/disk.img"
}
setup
URL="iscsi://$PORTAL/$IQN/1"
std=$(iscsi-inq "$URL")
echo "$std"
grep -q "Peripheral Device Type:DIRECT_ACCESS" <<<"$std" || fail "not a disk"
grep -qi "Vendor:MODTGT" <<<"$std" || fail "vendor"
sn1=$(iscsi-inq -e 1 -c 0x80 "$URL")
echo "$sn1"
grep -q "Unit Serial Number:" <<<"$sn1" || fail "no VPD 0x80"
id1=$(iscsi-inq -e 1 -c 0x83 "$URL")
echo "$id1"
grep -q "NAA" <<<"$id1" || fail "no NAA designator in VPD 0x83"
iscsi-inq -e 1 -c 0x00 "$URL" | tee /dev/stderr | grep -q "0xb0" || fail "VPD 0xb0 not listed"
iscsi-inq -e 1 -c 0xb0 "$URL" >/dev/null || fail "VPD 0xb0"
iscsi-inq -e 1 -c 0xb1 "$URL" >/dev/null || fail "VPD 0xb1"
iscsi-inq -e 1 -c 0xb2 "$URL" >/dev/null || fail "VPD 0xb2"
cap=$(iscsi-readcapacity16 "$URL")
echo "$cap"
grep -q "Logical block length:512" <<<"$cap" || fail "block length"
grep -q "Last addressable LBA:204799" <<<"$cap" || fail "capacity (100 MiB = 204800 blocks)"

stop_daemon
setup
sn2=$(iscsi-inq -e 1 -c 0x80 "$URL")
id2=$(iscsi-inq -e 1 -c 0x83 "$URL")
[ "$sn1" = "$sn2" ] || fail "serial number changed across a restart"
[ "$id1" = "$id2" ] || fail "device identification changed across a restart"
stop_daemon
