#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Live reload of a backing-store module under I/O (issue 3, acceptance 3): a libiscsi
# initiator (tests/tools/verified_io.c) keeps 16 verified reads and writes in flight on
# an rdwr LUN while bs_rdwr is reloaded 24 times (alternating two copies of the file, plus
# refused reloads that must roll back), then reads every block back. Passes only if no I/O
# error reached the initiator, every block holds what was last written, the session was
# never dropped (no auto-reconnect; exactly one normal-session login in the daemon log),
# and every reload reported success (or, for the refused files, the rollback).
source "$(dirname "$0")/functions.sh"
requires python3
[ -f /usr/include/iscsi/iscsi.h ] || { [ "${CI:-}" = true ] && fail "libiscsi-dev missing"; echo "SKIP: libiscsi-dev" >&2; exit 77; }
TESTMODS=$MODTGT_BUILD/tests/modules/backing-store
IQN=iqn.2026-11.org.modtgt.test:bsreload
RELOADS=${RELOADS:-24}
NBLOCKS=8192   # 4 MiB of 512-byte blocks

IOTEST=$MODTGT_BUILD/tests/tools/verified_io
[ -x "$IOTEST" ] || fail "$IOTEST is not built"

start_daemon --bstype null,rdwr
new_target 1 $IQN
truncate -s $((NBLOCKS * 512)) "$TMP/disk.img"
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype rdwr --backing-store "$TMP/disk.img"
# A second copy of the module file: reloads alternate between two different files.
RDWR=$MODULE_DIR/backing-store/bs_rdwr.so
cp "$RDWR" "$TMP/bs_rdwr_copy.so"

"$IOTEST" "iscsi://127.0.0.1:$PORT/$IQN/1" $NBLOCKS "$TMP/stop" > "$TMP/iotest.out" 2>&1 &
IO_PID=$!
cleanup_fn "kill $IO_PID 2>/dev/null"
sleep 1
kill -0 $IO_PID 2>/dev/null || fail "initiator exited early: $(cat "$TMP/iotest.out")"

ok=0
for i in $(seq 1 "$RELOADS"); do
  if [ $((i % 2)) = 1 ]; then file=$TMP/bs_rdwr_copy.so; else file=$RDWR; fi
  adm --mode system --op bsreload --bstype rdwr --path "$file" > "$TMP/reload.out" 2>&1 ||
    fail "reload $i from $file failed: $(cat "$TMP/reload.out")"
  ok=$((ok + 1))
  if [ $((i % 8)) = 4 ]; then
    # A refused file under I/O: the error names the rollback and I/O goes on.
    rc=0
    adm --mode system --op bsreload --bstype rdwr --path "$TESTMODS/bs_notelf.so" > "$TMP/reload.out" 2>&1 || rc=$?
    [ $rc = 9 ] && grep -q "rolled back to the previous code" "$TMP/reload.out" ||
      fail "refused reload: exit $rc: $(cat "$TMP/reload.out")"
  fi
  sleep 0.15
  kill -0 $IO_PID 2>/dev/null || fail "initiator died after reload $i: $(cat "$TMP/iotest.out")"
done
info "$ok reloads done under I/O"
[ "$ok" -ge 20 ] || fail "only $ok reloads"
path=$(adm --mode system --op show --json |
  json_get "[m['path'] for m in j['modules'] if m['name'] == 'rdwr' and m.get('kind', 'backing-store') == 'backing-store'][0]")
[ "$path" = "$(realpath "$RDWR")" ] || fail "rdwr path after the last reload: $path"

touch "$TMP/stop"
rc=0
wait $IO_PID || rc=$?
cat "$TMP/iotest.out" >&2
[ $rc = 0 ] || fail "the initiator saw errors (exit $rc)"
grep -q " 0 errors" "$TMP/iotest.out" || fail "initiator summary missing"
logins=$(grep -c "normal session tsih" "$LOG" || true)
[ "$logins" = 1 ] || fail "expected exactly one session login, the log has $logins"
reloaded=$(grep -c "module 'rdwr' reloaded from" "$LOG" || true)
[ "$reloaded" -ge "$ok" ] || fail "the log shows $reloaded reloads, expected $ok"
held=$(grep -o "[0-9]* held command(s) resumed" "$LOG" | awk '{s += $1} END {print s + 0}')
info "$held commands were held during the reloads and resumed"
[ "$held" -gt 0 ] || fail "no command was ever held: the reloads did not happen under I/O"
adm --mode logicalunit --op delete --tid 1 --lun 1
adm --mode system --op bsunload --bstype rdwr
stop_daemon
echo "PASS: $TEST_NAME"
