#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Write cache (WCE) reaches the backing store's reconfig and shows in MODE SENSE, whether an
# initiator changes it with MODE SELECT or the administrator with --params wce=: the module
# (bs_rdwr, which logs each change at debug level) is told every time, the caching page
# reads back the new value and logicalunit show agrees.
MODTGT_LOG_LEVEL=debug
source "$(dirname "$0")/functions.sh"
requires python3
PROBE=$MODTGT_BUILD/tests/tools/wce_probe
[ -x "$PROBE" ] || { [ "${CI:-}" = true ] && fail "wce_probe not built (libiscsi-dev missing?)"; echo "SKIP: wce_probe" >&2; exit 77; }
IQN=iqn.2026-11.org.modtgt.test:wce
start_daemon
new_target 1 $IQN
truncate -s 64M "$TMP/disk.img"
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/disk.img"
URL="iscsi://$PORTAL/$IQN/1"

count() { grep -c "disk.img': write cache $1" "$LOG" || true; }

# Initiator: MODE SELECT WCE=0, then WCE=1.
out=$("$PROBE" "$URL" get set0 get)
[ "$out" = "$(printf 'wce=1\nok\nwce=0')" ] || fail "MODE SELECT WCE=0: got $(echo "$out" | tr '\n' ' ')"
[ "$(count off)" = 1 ] || fail "bs_rdwr was not told write cache off: $(grep -i 'write cache' "$LOG" || true)"
[ "$(adm --mode logicalunit --op show --tid 1 --lun 1 --json | json_get 'j["luns"][0]["write_cache"]')" = False ] ||
  fail "logicalunit show does not report the write cache off"
out=$("$PROBE" "$URL" set1 get)
[ "$out" = "$(printf 'ok\nwce=1')" ] || fail "MODE SELECT WCE=1: got $(echo "$out" | tr '\n' ' ')"
[ "$(count on)" = 1 ] || fail "bs_rdwr was not told write cache on"

# Administrator: --params wce=0; a new session sees WCE=0 in MODE SENSE.
adm --mode logicalunit --op update --tid 1 --lun 1 --params wce=0
[ "$(count off)" = 2 ] || fail "the admin's wce=0 did not reach bs_rdwr"
out=$("$PROBE" "$URL" get)
[ "$out" = wce=0 ] || fail "after --params wce=0 MODE SENSE says $out"
adm --mode logicalunit --op update --tid 1 --lun 1 --params wce=1
[ "$(count on)" = 2 ] || fail "the admin's wce=1 did not reach bs_rdwr"
[ "$("$PROBE" "$URL" get)" = wce=1 ] || fail "after --params wce=1 MODE SENSE disagrees"
stop_daemon
