#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Backing-store module lifecycle through the admin socket (issue 3, acceptance 1, 4, 5):
# start with only bs_null; bsload rdwr makes rdwr LUNs possible; bsunload is refused while a
# LUN uses it (naming the LUN, non-zero exit) and succeeds after; a module whose load()
# fails once is listed in state error with its reason, then ready after bsload again; each
# load refusal reaches the admin with its exact message and leaves the daemon serving; an
# unloaded file really is dlclosed (replaced on disk and loaded again, the new code runs).
source "$(dirname "$0")/functions.sh"
requires python3
TESTMODS=$MODTGT_BUILD/tests/modules/backing-store
[ -f "$TESTMODS/bs_loadretry.so" ] || fail "test modules not built ($TESTMODS)"
IQN=iqn.2026-11.org.modtgt.test:bslife

# expect_fail RC PATTERN ARGS...: modtgtadm exits with RC and its message matches PATTERN.
expect_fail() {
  local want=$1 pat=$2; shift 2
  local rc=0
  adm "$@" > "$TMP/out" 2>&1 || rc=$?
  [ "$rc" = "$want" ] || fail "'modtgtadm $*' exited $rc (want $want): $(cat "$TMP/out")"
  grep -qE -- "$pat" "$TMP/out" || fail "'modtgtadm $*' said '$(cat "$TMP/out")', expected /$pat/"
}
# Backing stores listed (transports, when listed too, have another kind).
modules() {
  adm --mode system --op show --json |
    json_get '" ".join(sorted(m["name"] for m in j["modules"] if m.get("kind", "backing-store") == "backing-store"))'
}
module_field() {  # module_field NAME FIELD
  adm --mode system --op show --json |
    json_get "next((str(m['$2']) for m in j['modules'] if m['name'] == '$1' and m.get('kind', 'backing-store') == 'backing-store'), '(absent)')"
}

start_daemon --bstype null
[ "$(modules)" = "null" ] || fail "started with --bstype null but modules are: $(modules)"

# ---- Acceptance 1: bsload rdwr, LUN on it, refused unload, unload after delete. ----
new_target 1 $IQN
truncate -s 4M "$TMP/d.img"
expect_fail 8 "rdwr" --mode logicalunit --op new --tid 1 --lun 1 --bstype rdwr --backing-store "$TMP/d.img"
adm --mode system --op bsload --bstype rdwr
[ "$(module_field rdwr state)" = ready ] || fail "rdwr not ready after bsload"
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype rdwr --backing-store "$TMP/d.img"
[ "$(module_field rdwr users)" = "['tid 1 lun 1']" ] || fail "rdwr users: $(module_field rdwr users)"
expect_fail 7 "in use by: tid 1 lun 1" --mode system --op bsunload --bstype rdwr
[ "$(modules)" = "null rdwr" ] || fail "refused unload changed the listing: $(modules)"
adm --mode logicalunit --op delete --tid 1 --lun 1
adm --mode system --op bsunload --bstype rdwr
[ "$(modules)" = "null" ] || fail "rdwr still listed after bsunload: $(modules)"
expect_fail 8 "rdwr" --mode logicalunit --op new --tid 1 --lun 1 --bstype rdwr --backing-store "$TMP/d.img"

# The listing carries every field (issue 3: kind, name, path, versions, state, error,
# capabilities, config description, users), in JSON and as text.
# bs_null is built against this tree's module.h: it reports that header's ABI.
ABI=$(sed -n 's/^#define MODTGT_ABI_MAJOR \([0-9]*\)$/\1/p' "$MODTGT_SRC/include/modtgt/module.h").$(
  sed -n 's/^#define MODTGT_ABI_MINOR \([0-9]*\)$/\1/p' "$MODTGT_SRC/include/modtgt/module.h")
adm --mode system --op show --json | ABI=$ABI python3 -c '
import json, os, sys
m = [m for m in json.load(sys.stdin)["modules"] if m["name"] == "null" and m["kind"] == "backing-store"][0]
for k in ("kind", "name", "path", "version", "abi_version", "abi", "state", "error",
          "capabilities", "cfg_desc", "users"):
    assert k in m, k
assert m["kind"] == "backing-store" and m["path"].endswith("/bs_null.so") and m["abi"] == os.environ["ABI"], m
assert "read" in m["capabilities"], m
' || fail "system show --json lacks module fields"
adm --mode system --op show > "$TMP/show.txt"
grep -q "Path: .*/bs_null.so" "$TMP/show.txt" || fail "text show has no module path: $(cat "$TMP/show.txt")"
grep -q "null: ready" "$TMP/show.txt" || fail "text show has no module state"

# ---- Acceptance 4: load() fails once -> error with its reason; bsload again -> ready. ----
expect_fail 9 "first attempt fails \(attempt 1\)" --mode system --op bsload --path "$TESTMODS/bs_loadretry.so"
[ "$(module_field loadretry state)" = error ] || fail "loadretry not in state error"
[ "$(module_field loadretry error)" = "first attempt fails (attempt 1)" ] ||
  fail "loadretry error text: $(module_field loadretry error)"
adm --mode system --op show | grep -q "loadretry: error (first attempt fails (attempt 1))" ||
  fail "text show lacks the error reason"
expect_fail 9 "not ready \(state error: first attempt fails" \
  --mode logicalunit --op new --tid 1 --lun 2 --bstype loadretry --backing-store x
adm --mode system --op bsload --bstype loadretry
[ "$(module_field loadretry state)" = ready ] || fail "loadretry not ready after the retry"
[ "$(module_field loadretry error)" = "" ] || fail "error text kept after the retry"
adm --mode logicalunit --op new --tid 1 --lun 2 --bstype loadretry --backing-store x
adm --mode logicalunit --op delete --tid 1 --lun 2

# ---- Acceptance 5: every refusal, with its message; nothing is left behind. ----
expect_fail 9 "invalid ELF header" --mode system --op bsload --path "$TESTMODS/bs_notelf.so"
expect_fail 9 "has no entry point modtgt_module_init" --mode system --op bsload --path "$TESTMODS/bs_noentry.so"
expect_fail 9 "was built for ABI 2\.0, this daemon speaks ${ABI//./\\.}" --mode system --op bsload --path "$TESTMODS/bs_abi2.so"
expect_fail 9 "backing store 'noread' has no \.read callback" --mode system --op bsload --path "$TESTMODS/bs_noread.so"
expect_fail 9 "undefined symbol: modtgt_test_no_such_symbol" --mode system --op bsload --path "$TESTMODS/bs_undef.so"
expect_fail 9 "libmodtgt_test_gone\.so: cannot open shared object file" --mode system --op bsload --path "$TESTMODS/bs_missingdep.so"
adm --mode system --op bsload --bstype "$TESTMODS/bs_ctest.so"   # a bstype with '/' is a path
expect_fail 7 "duplicate backing store name 'ctest'" --mode system --op bsload --path "$TESTMODS/bs_dupname.so"
expect_fail 7 "duplicate backing store subtype 'ctest'" --mode system --op bsload --path "$TESTMODS/bs_dupsub.so"
expect_fail 2 "must be absolute" --mode system --op bsload --path "bs_ctest.so"
expect_fail 8 "no module file" --mode system --op bsload --path "$TMP/bs_nothere.so"
[ "$(modules)" = "ctest loadretry null" ] || fail "a refusal left something listed: $(modules)"
kill -0 "$DAEMON_PID" || fail "the daemon died"

# ---- Unload really dlcloses: replace the file, load it again, the new code runs. ----
mkdir "$TMP/mods"
cp "$TESTMODS/bs_ver1.so" "$TMP/mods/bs_ver.so"
adm --mode system --op bsload --path "$TMP/mods/bs_ver.so"
[ "$(module_field ver version)" = 1.0 ] || fail "ver version $(module_field ver version)"
adm --mode system --op bsunload --bstype ver
grep -q "$TMP/mods/bs_ver.so" /proc/"$DAEMON_PID"/maps && fail "bs_ver.so still mapped after bsunload"
cp "$TESTMODS/bs_ver2.so" "$TMP/mods/bs_ver.so.new" && mv -f "$TMP/mods/bs_ver.so.new" "$TMP/mods/bs_ver.so"
adm --mode system --op bsload --path "$TMP/mods/bs_ver.so"
[ "$(module_field ver version)" = 2.0 ] || fail "the replaced file's code does not run (version $(module_field ver version))"

# Reload through the admin: refused file -> error naming the rollback, old code stays.
adm --mode logicalunit --op new --tid 1 --lun 3 --bstype ver --backing-store x
expect_fail 9 "no licence for the frobnicator.*rolled back" \
  --mode system --op bsreload --bstype ver --path "$TESTMODS/bs_verloadfail.so"
[ "$(module_field ver version)" = 2.0 ] || fail "rollback did not restore version 2.0"
adm --mode system --op bsreload --bstype ver --path "$TESTMODS/bs_ver1.so"
[ "$(module_field ver version)" = 1.0 ] || fail "bsreload did not switch to version 1.0"
[ "$(module_field ver users)" = "['tid 1 lun 3']" ] || fail "users lost across reload"
expect_fail 8 "no backing store module named 'nosuch'" --mode system --op bsreload --bstype nosuch

stop_daemon
echo "PASS: $TEST_NAME"
