#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CRC32C header and data digests, negotiated by libiscsi when asked (?header_digest=crc32c):
# a 16 MiB round trip through qemu-img stays byte-identical.
source "$(dirname "$0")/functions.sh"
requires qemu-img iscsi-inq cmp
IQN=iqn.2026-11.org.modtgt.test:digest
head -c 16M /dev/urandom > "$TMP/src.raw"
truncate -s 16M "$TMP/lun.img"
start_daemon
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/lun.img"
URL="iscsi://$PORTAL/$IQN/1?header_digest=crc32c"
iscsi-inq "$URL" >/dev/null || fail "login with header digest"
qemu-img convert -n -f raw -O raw "$TMP/src.raw" "$URL"
qemu-img convert -f raw -O raw "$URL" "$TMP/back.raw"
cmp "$TMP/src.raw" "$TMP/back.raw" || fail "data differs with digests"
stop_daemon
