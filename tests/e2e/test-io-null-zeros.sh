#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A null LUN reads zeros (bs_null answers MODTGT_STS_ZEROS, module ABI 1.6: the daemon sends
# the Data-In from its shared zero buffer): through libiscsi (qemu-img) without and with
# CRC32C header digests, on a second LUN after writes, and with header and data digests
# and 512 KiB Data-In segments (tests/tools/iscsi_recovery.py --scenario zeros; libiscsi
# offers no data digest), the digests checked by the initiator.
source "$(dirname "$0")/functions.sh"
requires qemu-img iscsi-inq cmp python3
IQN=iqn.2026-12.org.modtgt.test:nullzeros
start_daemon
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 0 --bstype null --backing-store null0 --bsopts size=64M
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype null --backing-store null1 --bsopts size=64M
iscsi-inq "iscsi://$PORTAL/$IQN/1?header_digest=crc32c" >/dev/null || fail "login with header digest"
url() {  # LUN, header digest (none|crc32c)
  echo "json:{\"driver\":\"raw\",\"size\":16777216,\"file\":{\"driver\":\"iscsi\",\"transport\":\"tcp\",\"portal\":\"$PORTAL\",\"target\":\"$IQN\",\"lun\":$1,\"header-digest\":\"$2\"}}"
}
head -c 16M /dev/zero > "$TMP/zero16"
for hd in none crc32c; do
  rm -f "$TMP/back"
  qemu-img convert -f raw -O raw "$(url 0 $hd)" "$TMP/back" || fail "read with header digest $hd"
  cmp "$TMP/back" "$TMP/zero16" || fail "null LUN does not read zeros (header digest $hd)"
done
# Writes are discarded: LUN 1 still reads zeros afterwards.
head -c 4M /dev/urandom > "$TMP/junk"
qemu-img convert -n -f raw -O raw "$TMP/junk" "$(url 1 crc32c)" || fail "write to the null LUN"
rm -f "$TMP/back"
qemu-img convert -f raw -O raw "$(url 1 crc32c)" "$TMP/back" || fail "read after writes"
cmp "$TMP/back" "$TMP/zero16" || fail "null LUN reads what was written"
python3 "$MODTGT_SRC/tests/tools/iscsi_recovery.py" --port "$PORT" --target "$IQN" \
  --scenario zeros || fail "zeros with data digests (log: $LOG)"
stop_daemon
