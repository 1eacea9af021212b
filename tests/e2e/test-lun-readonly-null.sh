#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A read-only LUN refuses writes (DATA PROTECT) and keeps the file unchanged; a null LUN
# reads zeros and has the size its config gives.
source "$(dirname "$0")/functions.sh"
requires qemu-img iscsi-readcapacity16 cmp
IQN=iqn.2026-11.org.modtgt.test:ro
head -c 4M /dev/urandom > "$TMP/ro.img"
cp "$TMP/ro.img" "$TMP/ro.orig"
start_daemon
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/ro.img" --params readonly=1
adm --mode logicalunit --op new --tid 1 --lun 2 --bstype null --backing-store null0 --bsopts size=1G
head -c 1M /dev/urandom > "$TMP/junk"
if qemu-img convert -n -f raw -O raw "$TMP/junk" "iscsi://$PORTAL/$IQN/1" 2>"$TMP/err"; then
  fail "a write to a read-only LUN succeeded"
fi
cmp "$TMP/ro.img" "$TMP/ro.orig" || fail "read-only backing file changed"
qemu-img convert -f raw -O raw "iscsi://$PORTAL/$IQN/1" "$TMP/back"
cmp "$TMP/back" "$TMP/ro.orig" || fail "read-only LUN reads wrong data"
iscsi-readcapacity16 "iscsi://$PORTAL/$IQN/2" | grep -q "RETURNED LOGICAL BLOCK ADDRESS:2097151" ||
  fail "null LUN size"
# Read the first MiB only (a raw image of 1 MiB over the LUN).
qemu-img convert -f raw -O raw \
  "json:{\"driver\":\"raw\",\"size\":1048576,\"file\":{\"driver\":\"iscsi\",\"transport\":\"tcp\",\"portal\":\"$PORTAL\",\"target\":\"$IQN\",\"lun\":2}}" \
  "$TMP/zeros"
cmp "$TMP/zeros" <(head -c 1M /dev/zero) || fail "null LUN does not read zeros"
stop_daemon
