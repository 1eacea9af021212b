#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Live resize seen by a logged-in initiator (issue 4, acceptance 4): capacity_watch (libiscsi)
# logs in to a bs_ram LUN and reads the capacity; `logicalunit update --size` grows the LUN;
# the same session then gets UNIT ATTENTION / CAPACITY DATA HAS CHANGED (2A/09) once, READ
# CAPACITY shows the new size and the new last block reads. Then a shrink, the same way.
# A bad size and a module without reconfig are refused clearly and change nothing.
source "$(dirname "$0")/functions.sh"
requires python3
WATCH=$MODTGT_BUILD/tests/tools/capacity_watch
[ -x "$WATCH" ] || { [ "${CI:-}" = true ] && fail "$WATCH not built"; echo "SKIP: $WATCH not built (libiscsi-dev missing?)" >&2; exit 77; }
IQN=iqn.2026-11.org.modtgt.test:resize
start_daemon
new_target 1 $IQN
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype ram --cfgstring ram/grow --size 64M
URL="iscsi://$PORTAL/$IQN/1"

# One watch round: the initiator logs in and reads the capacity, the LUN is resized to $1,
# then the initiator checks. Prints the watcher's output into $TMP/watch.$2.
watch_resize() {
  local size=$1 tag=$2
  rm -f "$TMP/go.$tag"
  "$WATCH" "$URL" "$TMP/go.$tag" 60 > "$TMP/watch.$tag" 2>&1 &
  local wpid=$!
  wait_for 20 grep -q '^capacity' "$TMP/watch.$tag" ||
    fail "capacity_watch did not log in: $(cat "$TMP/watch.$tag")"
  adm --mode logicalunit --op update --tid 1 --lun 1 --size "$size" > "$TMP/update.$tag" ||
    fail "update --size $size failed: $(cat "$TMP/update.$tag")"
  touch "$TMP/go.$tag"
  local rc=0
  wait $wpid || rc=$?
  [ $rc -eq 0 ] || fail "capacity_watch exited with $rc: $(cat "$TMP/watch.$tag")"
  cat "$TMP/watch.$tag" >&2
}

watch_resize 128M grow
mapfile -t out < "$TMP/watch.grow"
[ "${out[0]}" = "capacity 131072 512" ] || fail "initial capacity: '${out[0]}'"
[ "${out[1]}" = "tur check 6/2a/09" ] || fail "expected UNIT ATTENTION 2A/09 after the resize, got '${out[1]}'"
[ "${out[2]}" = "tur good" ] || fail "the unit attention was reported more than once: '${out[2]}'"
[ "${out[3]}" = "capacity 262144 512" ] || fail "capacity after growing to 128M: '${out[3]}'"
[ "${out[4]}" = "read-last ok" ] || fail "reading the new last block: '${out[4]}'"
grep -q "resized from 67108864 to 134217728 bytes" "$TMP/update.grow" ||
  fail "update did not report the resize: $(cat "$TMP/update.grow")"

watch_resize 32M shrink
mapfile -t out < "$TMP/watch.shrink"
[ "${out[0]}" = "capacity 262144 512" ] || fail "capacity before shrinking: '${out[0]}'"
[ "${out[1]}" = "tur check 6/2a/09" ] || fail "no UNIT ATTENTION 2A/09 after shrinking: '${out[1]}'"
[ "${out[3]}" = "capacity 65536 512" ] || fail "capacity after shrinking to 32M: '${out[3]}'"
[ "${out[4]}" = "read-last ok" ] || fail "reading the new last block: '${out[4]}'"

size=$(adm --mode logicalunit --op show --tid 1 --lun 1 --json | json_get 'j["luns"][0]["size"]')
[ "$size" = $((32 << 20)) ] || fail "show reports size $size after the shrink"

# Refusals change nothing.
rc=0; adm --mode logicalunit --op update --tid 1 --lun 1 --size 1000 > "$TMP/bad" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "a size that is no block multiple gave exit $rc"
grep -q "multiple of the block size" "$TMP/bad" || fail "unclear message: $(cat "$TMP/bad")"
rc=0; adm --mode logicalunit --op update --tid 1 --lun 1 --size 12Q > "$TMP/bad" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "a malformed size gave exit $rc"
grep -q "not a byte count" "$TMP/bad" || fail "unclear message: $(cat "$TMP/bad")"
size=$(adm --mode logicalunit --op show --tid 1 --lun 1 --json | json_get 'j["luns"][0]["size"]')
[ "$size" = $((32 << 20)) ] || fail "a refused resize changed the size to $size"
stop_daemon
