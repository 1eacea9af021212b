#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The iSCSI transport is a module (lld_iscsi.so) with an administered lifecycle
# (issue 3, acceptance 2): `lldunload iscsi` with a logged-in initiator is refused naming
# the session; with --force the initiator is asked to log out (Async Message) and the
# module is unloaded (no portal, listed no more); `lldload iscsi` brings the portal back
# (port 0: a new port, reported) and an initiator can log in again. Also: --lld at start
# (unknown names refused), lldload of a missing module, double load.
source "$(dirname "$0")/functions.sh"
requires qemu-img iscsi-inq
IQN=iqn.2026-11.org.modtgt.test:lld

# ---- start-up: --lld chooses the transports; unknown names are a clear error ----
rc=0
"$MODTGTD" -f --iscsi portal=127.0.0.1:0 --socket "$TMP/bad.sock" --module-dir "$MODULE_DIR" \
  --no-config --lld iscsi,nosuch > "$TMP/bad.out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "--lld nosuch was accepted"
grep -q "unknown transport 'nosuch'" "$TMP/bad.out" || fail "no clear message: $(cat "$TMP/bad.out")"
grep -q "found: iscsi" "$TMP/bad.out" || fail "the message does not list what exists"

start_daemon --lld iscsi --threads 2
transports() { adm --mode system --op show --json | json_get "$1"; }
[ "$(transports '[t["name"]+":"+t["state"]+":"+t["kind"] for t in j["transports"]]')" = "['iscsi:ready:transport']" ] ||
  fail "system show does not list the iscsi transport as ready"
[ "$(transports '[m["name"] for m in j["modules"] if m["kind"]=="transport"]')" = "['iscsi']" ] ||
  fail "the transport is not in the module listing"
[ "$(transports 'j["transports"][0]["path"]')" = "$MODULE_DIR/transport/lld_iscsi.so" ] ||
  fail "wrong module path"
transports 'j["transports"][0]["users"]' | grep -q "portal $PORTAL" || fail "users lack the portal"

new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype null --backing-store null0 --bsopts size=1G
URL="iscsi://$PORTAL/$IQN/1"
iscsi-inq "$URL" > /dev/null || fail "first login failed"

# ---- a logged-in initiator: unload refused, naming it ----
qemu-img bench -c 1000000000 -d 4 -f raw "$URL" > "$TMP/client.out" 2>&1 &
client=$!
cleanup_fn "kill -KILL $client 2>/dev/null"
nsessions() { transports 'len(j["transports"][0]["sessions"]) if j["transports"] else 0'; }
logged_in() { [ "$(nsessions)" -ge 1 ]; }
wait_for 20 logged_in || fail "the client never logged in"
rc=0
adm --mode system --op lldunload --lld iscsi > "$TMP/refused.out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "lldunload with a logged-in session succeeded"
grep -q "busy\|session" "$TMP/refused.out" || fail "refusal without a reason: $(cat "$TMP/refused.out")"
grep -q "iqn.2008-11.org.linux-kvm\|session .* on tid 1 $IQN" "$TMP/refused.out" ||
  fail "the refusal does not name the session: $(cat "$TMP/refused.out")"
[ "$(transports 'j["transports"][0]["state"]')" = ready ] || fail "refused unload changed the state"
kill -0 $client 2>/dev/null || fail "the client died after a refused unload"

# ---- --force: the initiator is logged out, then the module goes ----
adm --mode system --op lldunload --lld iscsi --force --json > "$TMP/forced.json" ||
  fail "lldunload --force failed: $(cat "$TMP/forced.json")"
info "forced unload: $(json_get 'j["detail"]' < "$TMP/forced.json")"
# libiscsi answers the Async Message (AsyncEvent 1) with a Logout: the session ends by
# logout, not by the connection being closed under it.
[ "$(json_get 'j["detail"]' < "$TMP/forced.json")" = "1 session(s) logged out" ] ||
  fail "the initiator was not logged out: $(cat "$TMP/forced.json")"
[ "$(transports 'len(j["transports"])')" = 0 ] || fail "the unloaded transport is still listed"
[ "$(transports 'len(j["portals"])')" = 0 ] || fail "portals remain after unload"
grep -q "transport iscsi unloaded" "$LOG" || fail "no unload in the log"
# Really dlclosed: neither the module nor its own library (ISA-L) is mapped any more.
grep -q "lld_iscsi.so" "/proc/$DAEMON_PID/maps" && fail "lld_iscsi.so still mapped after unload"
grep -q "libisal" "/proc/$DAEMON_PID/maps" && fail "libisal still mapped after unload"
# The portal is closed: nothing listens on the old port.
if iscsi-inq "$URL" > /dev/null 2>&1; then fail "login succeeded with the transport unloaded"; fi
kill -KILL $client 2>/dev/null || true
wait $client 2>/dev/null || true
# The targets survive without a transport.
[ "$(adm --mode target --op show --json | json_get 'len(j["targets"])')" = 1 ] || fail "target lost"
# Unloading again: no such module.
rc=0; adm --mode system --op lldunload --lld iscsi > "$TMP/again.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "no transport iscsi" "$TMP/again.out" || fail "second unload: rc $rc $(cat "$TMP/again.out")"

# ---- lldload brings the portal back (port 0: a new port, reported) ----
adm --mode system --op lldload --lld iscsi --json > "$TMP/load.json" || fail "lldload failed"
NEW=$(json_get 'j["portals"][0]' < "$TMP/load.json")
[ "${NEW%:*}" = 127.0.0.1 ] || fail "portal came back on another address: $NEW"
[ "$(transports 'j["portals"][0]')" = "$NEW" ] || fail "system show does not report $NEW"
[ "$(transports 'j["transports"][0]["state"]')" = ready ] || fail "not ready after lldload"
grep -q "lld_iscsi.so" "/proc/$DAEMON_PID/maps" || fail "lld_iscsi.so not mapped after lldload"
iscsi-inq "iscsi://$NEW/$IQN/1" > "$TMP/inq.out" || fail "no login after lldload"
grep -qi "modtgt\|vendor" "$TMP/inq.out" || fail "unexpected INQUIRY: $(cat "$TMP/inq.out")"
# Loading a loaded transport: busy; an unknown one: no-such-module, not listed.
rc=0; adm --mode system --op lldload --lld iscsi > "$TMP/dup.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "already loaded" "$TMP/dup.out" || fail "double load: rc $rc $(cat "$TMP/dup.out")"
rc=0; adm --mode system --op lldload --lld nosuch > "$TMP/nosuch.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "no transport module .*lld_nosuch.so" "$TMP/nosuch.out" ||
  fail "unknown lld: rc $rc $(cat "$TMP/nosuch.out")"
[ "$(transports '[t["name"] for t in j["transports"]]')" = "['iscsi']" ] || fail "nosuch was listed"

# ---- unload without sessions, reload, and a clean stop ----
adm --mode system --op lldunload --lld iscsi || fail "idle unload failed"
adm --mode system --op lldload --lld iscsi > /dev/null || fail "second lldload failed"
NEW=$(transports 'j["portals"][0]')
iscsi-inq "iscsi://$NEW/$IQN/1" > /dev/null || fail "no login after the second lldload"

# ---- lldreload: a bad new file is refused before the running transport is touched;
# a plain reload keeps serving ----
rc=0; adm --mode system --op lldreload --lld iscsi --path "$TMP/none.so" > "$TMP/rb.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "no transport module $TMP/none.so" "$TMP/rb.out" ||
  fail "reload from a missing file: rc $rc $(cat "$TMP/rb.out")"
[ "$(transports 'j["portals"][0]')" = "$NEW" ] || fail "a refused reload touched the transport"
rc=0; adm --mode system --op lldreload --lld iscsi --path "$MODULE_DIR/libmodtgt-core.so" \
  > "$TMP/rb2.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "no modtgt_transport_entry" "$TMP/rb2.out" ||
  fail "reload from a non-transport file: rc $rc $(cat "$TMP/rb2.out")"
[ "$(transports 'j["portals"][0]')" = "$NEW" ] || fail "a refused reload touched the transport"
adm --mode system --op lldreload --lld iscsi > /dev/null || fail "lldreload failed"
NEW=$(transports 'j["portals"][0]')
iscsi-inq "iscsi://$NEW/$IQN/1" > /dev/null || fail "no login after lldreload"
stop_daemon
