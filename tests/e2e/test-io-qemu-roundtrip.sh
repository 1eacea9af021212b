#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# qemu-img convert of a random 64 MiB image into a file LUN and back is byte-identical,
# and still is after a daemon restart with the same backing file (the LUN made again by
# hand: --no-config; test-config-restart.sh covers the saved configuration).
source "$(dirname "$0")/functions.sh"
requires qemu-img cmp
IQN=iqn.2026-11.org.modtgt.test:qemu
head -c 64M /dev/urandom > "$TMP/src.raw"
truncate -s 64M "$TMP/lun.img"
setup() {
  start_daemon --no-config "$@"
  new_target 1 $IQN
  adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/lun.img"
}
setup
URL="iscsi://$PORTAL/$IQN/1"
qemu-img convert -p -n -f raw -O raw "$TMP/src.raw" "$URL" >/dev/null
qemu-img convert -f raw -O raw "$URL" "$TMP/back.raw"
cmp "$TMP/src.raw" "$TMP/back.raw" || fail "data read back differs"
cmp "$TMP/src.raw" "$TMP/lun.img" || fail "backing file differs from what was written"
stop_daemon

rm -f "$TMP/back.raw"
setup --threads 1
URL="iscsi://$PORTAL/$IQN/1"
qemu-img convert -f raw -O raw "$URL" "$TMP/back.raw"
cmp "$TMP/src.raw" "$TMP/back.raw" || fail "data differs after a restart"
stop_daemon
