#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# modtgtd finds its modules without --module-dir (src/daemon/module_dir.h) and says where
# they came from:
#   1. build/modtgtd takes build/lib/modtgt (not the compiled-in <prefix>/lib/modtgt, which
#      does not exist before an install, or holds another build's modules);
#   2. a copy of modtgtd with no module folder anywhere fails at once, naming the folders it
#      looked in and the option to pass;
#   3. a tree installed with `cmake --install --prefix OTHER` takes OTHER/lib/modtgt.
source "$(dirname "$0")/functions.sh"
requires cmake python3

DEFAULT_DIR=$("$MODTGTD" --help | sed -n 's/.*--module-dir DIR .*(default \(.*\))$/\1/p')
[ -n "$DEFAULT_DIR" ] || fail "modtgtd --help names no default module folder"

# start_plain BINARY: start BINARY without --module-dir; sets DAEMON_PID.
start_plain() {
  : > "$LOG"
  "$1" -f --no-config --iscsi portal=127.0.0.1:0 --socket "$SOCK" >> "$LOG" 2>&1 &
  DAEMON_PID=$!
  wait_for 20 adm --mode system --op show || fail "$1 did not answer on $SOCK"
}
# check_dir DIR WHY: the running daemon took its modules from DIR and logged WHY.
check_dir() {
  local got
  got=$(adm --mode system --op show --json | json_get 'j["module_dir"]')
  [ "$got" = "$1" ] || fail "module_dir is '$got', expected $1"
  adm --mode system --op show --json |
    json_get '" ".join(sorted(m["name"] for m in j["modules"]))' | grep -qw rdwr ||
    fail "rdwr not loaded from $1"
  grep -qF "modules from $1 ($2" "$LOG" || fail "the log does not say '$1 ($2': $(head -n 2 "$LOG")"
}

# ---- 1. the build tree ----
start_plain "$MODTGTD"
check_dir "$MODTGT_BUILD/lib/modtgt" "build tree"
# The build tree's modules serve: the iSCSI transport opened the portal.
[ "$(adm --mode system --op show --json | json_get 'len(j["portals"])')" -ge 1 ] ||
  fail "no portal open"
stop_daemon

# ---- 2. nowhere to look: a clear refusal ----
if [ -d "$DEFAULT_DIR" ]; then
  info "the compiled-in default $DEFAULT_DIR exists here: parts 2 and 3 would use it, skipped"
  exit 0
fi
mkdir -p "$TMP/alone"
cp "$MODTGTD" "$TMP/alone/modtgtd"   # its RPATH still finds the build's libmodtgt-core.so
rc=0
"$TMP/alone/modtgtd" -f --no-config --iscsi portal=127.0.0.1:0 --socket "$SOCK" \
  > "$TMP/alone.out" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "modtgtd with no module folder exited $rc, expected 2: $(cat "$TMP/alone.out")"
grep -qF "looked in $TMP/alone/lib/modtgt, $DEFAULT_DIR, $TMP/lib/modtgt" "$TMP/alone.out" ||
  fail "the refusal does not name the folders it looked in: $(cat "$TMP/alone.out")"
grep -qF "pass --module-dir DIR" "$TMP/alone.out" ||
  fail "the refusal does not say what to pass: $(cat "$TMP/alone.out")"

# ---- 3. installed into another prefix ----
P=$TMP/prefix
cmake --install "$MODTGT_BUILD" --prefix "$P" > "$TMP/install.log" 2>&1 ||
  { cat "$TMP/install.log" >&2; fail "cmake --install failed"; }
start_plain "$P/sbin/modtgtd"
check_dir "$P/lib/modtgt" "installed tree"
stop_daemon
