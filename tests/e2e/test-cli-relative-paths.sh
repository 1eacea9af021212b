#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# modtgtadm resolves a relative path against the CALLER's folder, not the daemon's
# (src/cli/args.h, ResolveRelativePaths): the daemon runs in one folder, modtgtadm in
# another, and
#   --backing-store disk.img, --cfgstring rdwr/sub/disk2.img and bsload --path bs_x.so
#   reach the daemon as absolute paths into the caller's folder and work;
#   names that are no file there stay names (bs_null's null0, ram/scratch);
#   a relative path that does not exist is sent as given, refused, and the CLI says why.
source "$(dirname "$0")/functions.sh"
requires python3
IQN=iqn.2026-11.org.modtgt.test:relpaths
EXAMPLES=$MODTGT_BUILD/examples/backing-store
[ -f "$EXAMPLES/bs_file_callouts.so" ] || fail "no $EXAMPLES/bs_file_callouts.so (build it)"

mkdir -p "$TMP/daemon-cwd" "$TMP/caller/sub"
# The daemon's folder holds a decoy of the same name: a path resolved there would use it.
truncate -s 4M "$TMP/daemon-cwd/disk.img"
cd "$TMP/daemon-cwd"
start_daemon
new_target 1 $IQN

cd "$TMP/caller"
truncate -s 8M disk.img
truncate -s 16M sub/disk2.img
lu() { adm --mode logicalunit --op show --tid 1 --json | json_get "[l for l in j['luns'] if l['lun'] == $1][0]$2"; }

adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store disk.img
[ "$(lu 1 '["backing_store"]')" = "$TMP/caller/disk.img" ] ||
  fail "--backing-store disk.img became '$(lu 1 '["backing_store"]')'"
[ "$(lu 1 '["size"]')" = $((8 << 20)) ] || fail "LUN 1 is not the caller's 8 MiB disk.img"

adm --mode logicalunit --op new --tid 1 --lun 2 --cfgstring rdwr/./sub/disk2.img
[ "$(lu 2 '["cfgstring"]')" = "rdwr/$TMP/caller/sub/disk2.img" ] ||
  fail "--cfgstring rdwr/./sub/disk2.img became '$(lu 2 '["cfgstring"]')'"
[ "$(lu 2 '["size"]')" = $((16 << 20)) ] || fail "LUN 2 is not the caller's 16 MiB disk2.img"

# check (dry run) resolves the same way.
adm --mode logicalunit --op check --tid 1 --lun 3 --backing-store sub/disk2.img --json > "$TMP/check.out"
grep -q "$TMP/caller/sub/disk2.img" "$TMP/check.out" || fail "check did not see the caller's path: $(cat "$TMP/check.out")"

# Names stay names.
adm --mode logicalunit --op new --tid 1 --lun 4 --bstype null --backing-store null0 --bsopts size=1G
[ "$(lu 4 '["backing_store"]')" = null0 ] || fail "null0 became '$(lu 4 '["backing_store"]')'"
adm --mode logicalunit --op new --tid 1 --lun 5 --cfgstring ram/scratch --size 1M
[ "$(lu 5 '["cfgstring"]')" = ram/scratch ] || fail "ram/scratch became '$(lu 5 '["cfgstring"]')'"

# A relative path that is not there: refused, and the CLI explains.
rc=0
adm --mode logicalunit --op new --tid 1 --lun 6 --backing-store typo.img > "$TMP/typo.out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "a LUN on a missing typo.img was created"
grep -q "note: 'typo.img' is not a file in this folder ($TMP/caller)" "$TMP/typo.out" ||
  fail "no note about the relative path: $(cat "$TMP/typo.out")"

# bsload --path with a relative module file.
cd "$EXAMPLES"
adm --mode system --op bsload --path ./bs_file_callouts.so > "$TMP/bsload.out" 2>&1 ||
  fail "bsload --path ./bs_file_callouts.so: $(cat "$TMP/bsload.out")"
adm --mode system --op show --json |
  json_get '[m["path"] for m in j["modules"] if m["path"].endswith("/bs_file_callouts.so")][0]' |
  grep -qx "$(readlink -f "$EXAMPLES/bs_file_callouts.so")" || fail "bs_file_callouts.so not loaded from $EXAMPLES"
cd "$TMP"
stop_daemon
