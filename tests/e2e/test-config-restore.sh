#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# system restore (issue 9, acceptance 3): the whole file is validated before anything
# changes, then applied all or nothing.
#   - a file with one bad LUN among good changes: --dry-run and restore both refuse, name
#     that LUN, and change nothing (the dump is identical);
#   - a good file: --dry-run lists the changes and changes nothing; restore applies them
#     (new target, updated LUN parameters, a removed LUN) and the dump then equals the file;
#   - removing a target with a logged-in initiator needs --force;
#   - SIGHUP re-reads the state file the same way (a bad file is refused and logged, the
#     running configuration stays).
source "$(dirname "$0")/functions.sh"
requires python3 iscsi-inq iscsi-readcapacity16

IQN=iqn.2026-12.org.modtgt.test:restore
truncate -s 32M "$TMP/a.img" "$TMP/b.img" "$TMP/c.img"
start_daemon
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/a.img"
adm --mode logicalunit --op new --tid 1 --lun 2 --backing-store "$TMP/b.img"
adm --mode system --op dump > "$TMP/before.json"

# edit FILE PYTHON: a copy of the dump changed by PYTHON over `c`.
edit() {
  python3 - "$TMP/before.json" "$1" "$2" <<'EOF'
import copy, json, sys
c = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(c, open(sys.argv[2], "w"), indent=2)
EOF
}
# The wanted changes: a new target 2 with a LUN, LUN 1 read-only, LUN 2 removed.
CHANGES='
t = c["targets"][0]
t["luns"][0]["readonly"] = True
del t["luns"][1]
t2 = copy.deepcopy(t); t2["tid"] = 2; t2["name"] = t["name"] + "-two"
l = t2["luns"][0]; l["readonly"] = False; l["cfgstring"] = sys.argv[1].rsplit("/", 1)[0] + "/c.img"
l["scsi_sn"] = "RESTORE-C"; l["naa"] = "0x6001405abcdef012"
c["targets"].append(t2)'
edit "$TMP/good.json" "$CHANGES"
edit "$TMP/bad.json" "$CHANGES"'
bad = copy.deepcopy(c["targets"][1]["luns"][0]); bad["lun"] = 7
bad["cfgstring"] = bad["cfgstring"].replace("c.img", "missing.img"); bad["scsi_sn"] = "BAD"
bad["naa"] = "0x6001405abcdef077"
c["targets"][1]["luns"].append(bad)'

for dry in --dry-run ""; do
  rc=0
  adm --mode system --op restore --file "$TMP/bad.json" $dry > "$TMP/out" 2>&1 || rc=$?
  [ $rc -eq 2 ] || fail "restore $dry of a bad file: exit $rc: $(cat "$TMP/out")"
  grep -q "target 2 $IQN-two LUN 7" "$TMP/out" || fail "the bad LUN is not named: $(cat "$TMP/out")"
  grep -q "missing.img" "$TMP/out" || fail "no reason: $(cat "$TMP/out")"
  grep -q "nothing changed" "$TMP/out" || fail "does not say nothing changed: $(cat "$TMP/out")"
  adm --mode system --op dump | diff -u "$TMP/before.json" - || fail "restore $dry of a bad file changed something"
done

adm --mode system --op restore --file "$TMP/good.json" --dry-run > "$TMP/out"
grep -q "would create target 2" "$TMP/out" || fail "dry run: $(cat "$TMP/out")"
grep -q "would update target 1 $IQN LUN 1 (readonly)" "$TMP/out" || fail "dry run: $(cat "$TMP/out")"
grep -q "would delete target 1 $IQN LUN 2" "$TMP/out" || fail "dry run: $(cat "$TMP/out")"
adm --mode system --op dump | diff -u "$TMP/before.json" - || fail "a dry run changed something"

adm --mode system --op restore --file "$TMP/good.json"
adm --mode system --op dump > "$TMP/after.json"
python3 - "$TMP/good.json" "$TMP/after.json" <<'EOF' || fail "the dump is not the restored file"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
sys.exit(0 if a == b else 1)
EOF
iscsi-readcapacity16 "iscsi://$PORTAL/$IQN-two/1" | grep -q "Total size:33554432" ||
  fail "the new target does not serve its LUN"
cmp "$CONFIG" <(adm --mode system --op dump) || fail "the restore was not saved"

# Removing a target an initiator is logged in to needs --force.
# capacity_watch stays logged in until $TMP/go exists.
"$MODTGT_BUILD/tests/tools/capacity_watch" "iscsi://$PORTAL/$IQN-two/1" "$TMP/go" 60 \
  > "$TMP/hold.out" 2>&1 &
HOLD=$!
cleanup_fn "touch $TMP/go; kill $HOLD 2>/dev/null"
wait_for 20 grep -q capacity "$TMP/hold.out" ||
  fail "the holding session did not log in: $(cat "$TMP/hold.out")"
rc=0
adm --mode system --op restore --file "$TMP/before.json" > "$TMP/out" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "restore removing a busy target: exit $rc"
grep -q "logged-in session" "$TMP/out" || fail "no reason: $(cat "$TMP/out")"
adm --mode system --op restore --file "$TMP/before.json" --force
adm --mode system --op dump | diff -u "$TMP/before.json" - || fail "forced restore"

# SIGHUP: the file edited by hand is applied; a broken one is refused and logged.
cp "$TMP/good.json" "$CONFIG"
kill -HUP "$DAEMON_PID"
wait_for 20 adm --mode target --op show --tid 2 || fail "SIGHUP did not apply the file"
echo "{ torn" > "$CONFIG"
kill -HUP "$DAEMON_PID"
wait_for 20 grep -q "reload refused, the running configuration stays" "$LOG" || fail "no refusal logged"
adm --mode target --op show --tid 2 > /dev/null || fail "a bad reload changed the configuration"
stop_daemon
info "ok"
