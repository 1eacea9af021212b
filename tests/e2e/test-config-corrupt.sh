#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A damaged state file never loses what the admin configured (issue 9, acceptance 2):
#   - a crash between writing the new file and renaming it (a PATH.tmp-* left beside an
#     intact file): the daemon starts with the last good configuration and removes the
#     leftover;
#   - a torn file (truncated), an empty one, one with a duplicate key or an unknown schema:
#     the start is refused with a message naming the file and what is wrong, the file is
#     left byte for byte as it was, and the previous good copy (PATH.prev) starts the daemon
#     when chosen explicitly;
#   - a backing file missing at start: the LUN comes back offline (NOT READY, with the
#     reason in logicalunit show), stays in the file, and comes back online with
#     --params online=1 once the file is there again.
source "$(dirname "$0")/functions.sh"
requires python3 cmp iscsi-readcapacity16

IQN=iqn.2026-12.org.modtgt.test:corrupt
truncate -s 32M "$TMP/a.img" "$TMP/b.img"

start_daemon
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/a.img"
adm --mode logicalunit --op new --tid 1 --lun 2 --backing-store "$TMP/b.img" --params vendor_id=TORN
adm --mode system --op dump > "$TMP/good.dump"
[ -s "$CONFIG.prev" ] || fail "no previous good copy $CONFIG.prev after several changes"
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=

# 1. Crash between write and rename: a half-written temporary next to the good file.
head -c 100 "$CONFIG" > "$CONFIG.tmp-4242-0"
start_daemon
adm --mode system --op dump | diff -u "$TMP/good.dump" - || fail "not the last good configuration"
[ ! -e "$CONFIG.tmp-4242-0" ] || fail "the leftover temporary file was not removed"
grep -q "interrupted save" "$LOG" || fail "the removal of the leftover was not logged"
kill -KILL "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true; DAEMON_PID=

# 2. Damaged files: refused, named, kept; .prev chosen explicitly works.
cp "$CONFIG" "$TMP/config.good"
refused() {  # refused WHAT EXPECTED-TEXT: the start fails, says so, leaves the file alone
  cp "$CONFIG" "$TMP/config.damaged"
  local rc=0
  "$MODTGTD" -f --iscsi portal=127.0.0.1:0 --socket "$SOCK" --module-dir "$MODULE_DIR" \
    --config "$CONFIG" > "$TMP/out" 2>&1 || rc=$?
  [ $rc -ne 0 ] || fail "$1: modtgtd started on a damaged file"
  grep -q "configuration file $CONFIG is not valid" "$TMP/out" || fail "$1: message: $(cat "$TMP/out")"
  grep -q -- "$2" "$TMP/out" || fail "$1: the message does not say '$2': $(cat "$TMP/out")"
  grep -q -- "--config $CONFIG.prev" "$TMP/out" || fail "$1: no hint to the previous copy"
  cmp "$CONFIG" "$TMP/config.damaged" || fail "$1: the damaged file was changed"
  info "refused: $1"
}
head -c $(( $(stat -c %s "$TMP/config.good") / 2 )) "$TMP/config.good" > "$CONFIG"
refused "torn file" "parse error"
: > "$CONFIG"
refused "empty file" "the file is empty"
python3 - "$TMP/config.good" > "$CONFIG" <<'EOF'
import sys
text = open(sys.argv[1]).read()
print(text.replace('"schema": 1,', '"schema": 1, "schema": 1,', 1))
EOF
refused "duplicate key" 'duplicate key "schema"'
sed 's/"schema": 1/"schema": 99/' "$TMP/config.good" > "$CONFIG"
refused "unknown schema" "schema 99 is not supported"
sed 's/"lun": 2,/"lun": 2, "colour": "red",/' "$TMP/config.good" > "$CONFIG"
refused "unknown key" "targets\[0\].luns\[1\].colour: unknown key"

# The previous good copy, chosen explicitly, starts the daemon with one LUN fewer (it was
# saved before LUN 2), and --check-config agrees with the start.
"$MODTGTD" --check-config --config "$CONFIG.prev" --module-dir "$MODULE_DIR" > "$TMP/out" ||
  fail "--check-config refuses the previous copy: $(cat "$TMP/out")"
grep -q "valid (1 target(s), 1 LUN(s))" "$TMP/out" || fail "check-config: $(cat "$TMP/out")"
start_daemon --config "$CONFIG.prev"
adm --mode logicalunit --op show --tid 1 --lun 1 > /dev/null || fail "LUN 1 missing from .prev"
stop_daemon

# 3. A missing backing file: offline, kept, back with online=1.
cp "$TMP/config.good" "$CONFIG"
mv "$TMP/b.img" "$TMP/b.away"
"$MODTGTD" --check-config --config "$CONFIG" --module-dir "$MODULE_DIR" > "$TMP/out" ||
  fail "--check-config refuses a file whose LUN would only be offline"
grep -q "would come back offline: tid 1 lun 2" "$TMP/out" || fail "check-config: $(cat "$TMP/out")"
start_daemon
adm --mode logicalunit --op show --tid 1 --lun 2 > "$TMP/show"
grep -q "Online: No" "$TMP/show" || fail "LUN 2 is not offline: $(cat "$TMP/show")"
grep -q "Offline reason: .*b.img" "$TMP/show" || fail "no reason: $(cat "$TMP/show")"
rc=0
iscsi-readcapacity16 "iscsi://$PORTAL/$IQN/2" > "$TMP/out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "an offline LUN answered READ CAPACITY"
grep -q "NOT READY" "$TMP/out" || fail "not NOT READY: $(cat "$TMP/out")"
iscsi-readcapacity16 "iscsi://$PORTAL/$IQN/1" > /dev/null || fail "LUN 1 does not serve"
adm --mode system --op dump | diff -u "$TMP/good.dump" - || fail "the offline LUN changed the dump"
adm --mode target --op new --tid 2 --targetname "$IQN-2"   # a change saves the file ...
grep -q "b.img" "$CONFIG" || fail "the offline LUN was dropped from the file"  # ... with LUN 2
rc=0
adm --mode logicalunit --op update --tid 1 --lun 2 --params online=1 2> "$TMP/out" || rc=$?
[ $rc -eq 9 ] || fail "online=1 without the file: exit $rc, expected 9 (module-error)"
grep -q "b.img" "$TMP/out" || fail "online=1 refusal does not name the file: $(cat "$TMP/out")"
mv "$TMP/b.away" "$TMP/b.img"
adm --mode logicalunit --op update --tid 1 --lun 2 --params online=1
iscsi-readcapacity16 "iscsi://$PORTAL/$IQN/2" | grep -q "Total size:33554432" ||
  fail "LUN 2 does not serve after online=1"
adm --mode logicalunit --op show --tid 1 --lun 2 | grep -q "Vendor: TORN" || fail "LUN 2 lost its params"
stop_daemon
info "ok"
