#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bs_ram: a memory-backed thin LUN keeps what is written (qemu-img round trip of random
# data, byte-identical), reads zeros where nothing was written, and needs a size.
source "$(dirname "$0")/functions.sh"
requires qemu-img cmp python3
IQN=iqn.2026-11.org.modtgt.test:ram
start_daemon
new_target 1 $IQN
rc=0
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype ram --backing-store ram/ > "$TMP/out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "a ram LUN without a size was created"
grep -q "needs a size" "$TMP/out" || fail "no clear reason for the missing size: $(cat "$TMP/out")"
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype ram --backing-store ram/ \
  --bsopts size=64M --params thin_provisioning=1
head -c 40M /dev/urandom > "$TMP/src"
URL="iscsi://$PORTAL/$IQN/1"
qemu-img convert -n -f raw -O raw "$TMP/src" "$URL"
qemu-img convert -f raw -O raw "$URL" "$TMP/back"
[ "$(stat -c %s "$TMP/back")" = $((64 << 20)) ] || fail "LUN size is not 64 MiB"
cmp -n $((40 << 20)) "$TMP/src" "$TMP/back" || fail "data read back differs"
cmp -i $((40 << 20)) -n $((24 << 20)) "$TMP/back" /dev/zero || fail "unwritten tail is not zeros"
adm --mode system --op show --json |
  python3 -c 'import json,sys; m=[x for x in json.load(sys.stdin)["modules"] if x["name"]=="ram"][0]; assert "tid 1 lun 1" in m["users"], m' ||
  fail "bs_ram does not list its LUN as a user"
stop_daemon
