#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CRC32C header digests, negotiated by libiscsi and QEMU when asked: a 16 MiB round trip
# through qemu-img stays byte-identical. (libiscsi offers no data digest; the kernel
# initiator test covers data digests.)
source "$(dirname "$0")/functions.sh"
requires qemu-img iscsi-inq cmp
IQN=iqn.2026-11.org.modtgt.test:digest
head -c 16M /dev/urandom > "$TMP/src.raw"
truncate -s 16M "$TMP/lun.img"
start_daemon
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/lun.img"
# libiscsi tools take the digest as a URL argument; QEMU's driver as its header-digest option.
iscsi-inq "iscsi://$PORTAL/$IQN/1?header_digest=crc32c" >/dev/null || fail "login with header digest"
URL="json:{\"driver\":\"raw\",\"file\":{\"driver\":\"iscsi\",\"transport\":\"tcp\",\"portal\":\"$PORTAL\",\"target\":\"$IQN\",\"lun\":1,\"header-digest\":\"crc32c\"}}"
qemu-img convert -n -O raw "$TMP/src.raw" "$URL"
qemu-img convert -O raw "$URL" "$TMP/back.raw"
cmp "$TMP/src.raw" "$TMP/back.raw" || fail "data differs with digests"
stop_daemon
