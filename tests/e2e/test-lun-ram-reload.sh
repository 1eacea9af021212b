#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# No silent data loss for a ram LUN (issue 11, acceptance 5). A ram LUN's memory is a memfd
# the daemon keeps with the LUN (ABI 1.3 dev_keep_fd), so:
# 1. under live I/O (tests/tools/verified_io: 16 verified reads and writes in flight, no
#    auto-reconnect), bs_ram is reloaded RELOADS times (alternating two copies of the
#    file); every reload succeeds, I/O was held and resumed, the session never dropped, and
#    afterwards every block holds what was last written;
# 2. data written with qemu-img survives `logicalunit --op update` that rebuilds the LU
#    and reopens the device (product_id, thin_provisioning), byte for byte;
# 3. the memory follows the LUN: after the LUN is deleted and created again it is empty.
source "$(dirname "$0")/functions.sh"
requires python3 qemu-img cmp
IOTEST=$MODTGT_BUILD/tests/tools/verified_io
[ -x "$IOTEST" ] || { [ "${CI:-}" = true ] && fail "$IOTEST not built (libiscsi-dev?)"; echo "SKIP: verified_io" >&2; exit 77; }
IQN=iqn.2026-11.org.modtgt.test:ramreload
RELOADS=${RELOADS:-10}
NBLOCKS=16384   # 8 MiB of 512-byte blocks

start_daemon --bstype ram
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype ram --backing-store ram/ \
  --size $((NBLOCKS * 512)) --params thin_provisioning=1
RAM=$MODULE_DIR/backing-store/bs_ram.so
cp "$RAM" "$TMP/bs_ram_copy.so"

# ---- 1. bsreload under live I/O ----
"$IOTEST" "iscsi://$PORTAL/$IQN/1" $NBLOCKS "$TMP/stop" > "$TMP/io.out" 2>&1 &
IO_PID=$!
cleanup_fn "kill $IO_PID 2>/dev/null"
# Wait until I/O is flowing: the daemon has logged the session in.
wait_for 20 grep -q "normal session tsih" "$LOG" || fail "the initiator did not log in: $(cat "$TMP/io.out")"
ok=0
for i in $(seq 1 "$RELOADS"); do
  if [ $((i % 2)) = 1 ]; then file=$TMP/bs_ram_copy.so; else file=$RAM; fi
  adm --mode system --op bsreload --bstype ram --path "$file" > "$TMP/reload.out" 2>&1 ||
    fail "reload $i from $file failed: $(cat "$TMP/reload.out")"
  ok=$((ok + 1))
  # Let some I/O run on the new code before the next reload (poll the initiator, no sleep
  # of a fixed length as a wait for a condition: this is pacing).
  sleep 0.2
  kill -0 $IO_PID 2>/dev/null || fail "initiator died after reload $i: $(cat "$TMP/io.out")"
done
touch "$TMP/stop"
rc=0
wait $IO_PID || rc=$?
cat "$TMP/io.out" >&2
[ $rc = 0 ] || fail "the initiator saw errors or lost data (exit $rc)"
grep -q " 0 errors" "$TMP/io.out" || fail "initiator summary missing"
written=$(sed -n 's/.* \([0-9]*\) blocks written and verified.*/\1/p' "$TMP/io.out")
[ "${written:-0}" -gt 1000 ] || fail "only ${written:-0} blocks were written: too little I/O to show anything"
logins=$(grep -c "normal session tsih" "$LOG" || true)
[ "$logins" = 1 ] || fail "expected exactly one session login, the log has $logins"
reloaded=$(grep -c "module 'ram' reloaded from" "$LOG" || true)
[ "$reloaded" = "$ok" ] || fail "the log shows $reloaded reloads, expected $ok"
held=$(grep -o "[0-9]* held command(s) resumed" "$LOG" | awk '{s += $1} END {print s + 0}')
info "$ok reloads under I/O, $held commands held and resumed, $written blocks verified after them"
[ "$held" -gt 0 ] || fail "no command was ever held: the reloads did not happen under I/O"

# ---- 2. a rebuild of the LU (update) keeps the data ----
head -c $((6 << 20)) /dev/urandom > "$TMP/src"
qemu-img convert -n -f raw -O raw "$TMP/src" "iscsi://$PORTAL/$IQN/1"
adm --mode logicalunit --op update --tid 1 --lun 1 --params product_id=RAMREBUILT > "$TMP/upd.out" ||
  fail "update: $(cat "$TMP/upd.out")"
adm --mode logicalunit --op update --tid 1 --lun 1 --params thin_provisioning=0 > "$TMP/upd.out" ||
  fail "update: $(cat "$TMP/upd.out")"
adm --mode system --op bsreload --bstype ram > /dev/null
qemu-img convert -f raw -O raw "iscsi://$PORTAL/$IQN/1" "$TMP/back"
cmp -n $((6 << 20)) "$TMP/src" "$TMP/back" || fail "data changed across the LU rebuilds"
rebuilt=$(grep -c "tid 1 lun 1 updated (logical unit rebuilt)" "$LOG" || true)
[ "$rebuilt" = 2 ] || fail "expected two rebuilds of the LU, the log has $rebuilt"

# ---- 3. deleting the LUN frees its memory; a new LUN starts empty ----
adm --mode logicalunit --op delete --tid 1 --lun 1
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype ram --backing-store ram/ \
  --size $((NBLOCKS * 512))
qemu-img convert -f raw -O raw "iscsi://$PORTAL/$IQN/1" "$TMP/fresh"
cmp -n $((NBLOCKS * 512)) "$TMP/fresh" /dev/zero || fail "a re-created LUN shows old data"
stop_daemon
echo "PASS: $TEST_NAME"
