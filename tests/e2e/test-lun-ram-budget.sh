#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The memory budget of the ram LUNs (issue 11): with MODTGT_RAM_BUDGET=8M
# - a ram LUN larger than the budget (16M, 8 EiB) is refused at creation, and a resize past
#   it is refused, with a reason naming the budget and the variable;
# - LUNs may overcommit it together (thin): two 6M LUNs; once their pages reach 8M, a write
#   to new blocks answers CHECK CONDITION, DATA PROTECT / SPACE ALLOCATION FAILED WRITE
#   PROTECT (7/27h/07h, SBC-4 4.7.3.6), writes nothing, and the daemon keeps serving;
#   rewriting blocks that hold memory still works; deleting a LUN gives its memory back;
# - a bad MODTGT_RAM_BUDGET leaves bs_ram listed in state error with the reason.
source "$(dirname "$0")/functions.sh"
requires python3 qemu-img cmp
SCSI_IO=$MODTGT_BUILD/tests/tools/scsi_io
[ -x "$SCSI_IO" ] || { [ "${CI:-}" = true ] && fail "$SCSI_IO not built (libiscsi-dev?)"; echo "SKIP: scsi_io" >&2; exit 77; }
IQN=iqn.2026-11.org.modtgt.test:rambudget
export MODTGT_RAM_BUDGET=8M
start_daemon --bstype ram
grep -q "memory budget of all ram LUNs: 8.0 MiB" "$LOG" || fail "the budget is not logged at load"
new_target 1 $IQN

for size in "--size 16M" "--size 8388608T" "--bsopts size=8E"; do
  rc=0
  adm --mode logicalunit --op new --tid 1 --lun 1 --bstype ram --backing-store ram/ \
    $size > "$TMP/out" 2>&1 || rc=$?
  [ $rc -ne 0 ] || fail "a $size ram LUN was created under an 8M budget"
  grep -q "larger than the memory budget of all ram LUNs, 8.0 MiB" "$TMP/out" &&
    grep -q MODTGT_RAM_BUDGET "$TMP/out" || fail "unclear refusal of $size: $(cat "$TMP/out")"
done
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype ram --backing-store ram/ --size 6M
adm --mode logicalunit --op new --tid 1 --lun 2 --bstype ram --backing-store ram/ --size 6M
rc=0
adm --mode logicalunit --op update --tid 1 --lun 2 --size 12M > "$TMP/out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "larger than the memory budget" "$TMP/out" ||
  fail "a resize past the budget: exit $rc: $(cat "$TMP/out")"

# LUN 1 full (6M), then 2M of LUN 2: 8M, exactly the budget.
head -c $((6 << 20)) /dev/urandom > "$TMP/one"
qemu-img convert -n -f raw -O raw "$TMP/one" "iscsi://$PORTAL/$IQN/1"
out=$("$SCSI_IO" "iscsi://$PORTAL/$IQN/2" write 0 4096 0xab)
[[ $out == status=0x00* ]] || fail "a write within the budget: $out"
# One more page: refused with the thin-provisioning sense, nothing written.
out=$("$SCSI_IO" "iscsi://$PORTAL/$IQN/2" write 4096 8 0xcd)
info "write past the budget: $out"
[[ $out == "status=0x02 "*"sense=7/27/07"* ]] || fail "a write past the budget: $out (want DATA PROTECT 27/07)"
"$SCSI_IO" "iscsi://$PORTAL/$IQN/2" read 4096 8 "$TMP/hole" > /dev/null
cmp -n 4096 "$TMP/hole" /dev/zero || fail "the refused write left data behind"
grep -q "memory budget of all ram LUNs (8.0 MiB.*) is used up" "$LOG" || fail "the exhaustion is not logged"
# Blocks that hold memory can still be rewritten; the daemon still serves.
out=$("$SCSI_IO" "iscsi://$PORTAL/$IQN/2" write 0 8 0xee)
[[ $out == status=0x00* ]] || fail "a rewrite of allocated blocks: $out"
adm --mode system --op show > /dev/null || fail "the admin stopped answering"
kill -0 "$DAEMON_PID" || fail "the daemon died"
qemu-img convert -f raw -O raw "iscsi://$PORTAL/$IQN/1" "$TMP/one.back"
cmp "$TMP/one" "$TMP/one.back" || fail "LUN 1 lost data"

# Deleting LUN 1 gives its 6M back: the refused write now succeeds.
adm --mode logicalunit --op delete --tid 1 --lun 1
out=$("$SCSI_IO" "iscsi://$PORTAL/$IQN/2" write 4096 8 0xcd)
[[ $out == status=0x00* ]] || fail "a write after memory was freed: $out"
stop_daemon

# A bad budget: the module does not load, and says why.
export MODTGT_RAM_BUDGET=lots
start_daemon --no-config
adm --mode system --op show --json > "$TMP/show"
python3 - "$TMP/show" <<'PY' || fail "bs_ram with a bad budget: $(cat "$TMP/show")"
import json, sys
m = [m for m in json.load(open(sys.argv[1]))["modules"] if m["name"] == "ram"][0]
assert m["state"] == "error", m
assert "MODTGT_RAM_BUDGET='lots' is not a size" in m["error"], m
PY
stop_daemon
echo "PASS: $TEST_NAME"
