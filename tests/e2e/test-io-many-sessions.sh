#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Many sessions and targets at once: 4 targets x 2 LUNs, 8 qemu-img clients writing random
# data concurrently (one session each, spread over the event loops), then reading it back.
source "$(dirname "$0")/functions.sh"
requires qemu-img cmp
start_daemon --threads 2
for t in 1 2 3 4; do
  new_target $t iqn.2026-11.org.modtgt.test:many$t
  for l in 1 2; do
    truncate -s 16M "$TMP/t$t-l$l.img"
    adm --mode logicalunit --op new --tid $t --lun $l --backing-store "$TMP/t$t-l$l.img"
  done
done
pids=()
for t in 1 2 3 4; do
  for l in 1 2; do
    head -c 16M /dev/urandom > "$TMP/src-$t-$l"
    qemu-img convert -n -f raw -O raw "$TMP/src-$t-$l" \
      "iscsi://$PORTAL/iqn.2026-11.org.modtgt.test:many$t/$l" &
    pids+=($!)
  done
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent writer failed"; done
pids=()
for t in 1 2 3 4; do
  for l in 1 2; do
    qemu-img convert -f raw -O raw "iscsi://$PORTAL/iqn.2026-11.org.modtgt.test:many$t/$l" \
      "$TMP/back-$t-$l" &
    pids+=($!)
  done
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent reader failed"; done
for t in 1 2 3 4; do
  for l in 1 2; do
    cmp "$TMP/src-$t-$l" "$TMP/back-$t-$l" || fail "target $t LUN $l read back wrong"
    cmp "$TMP/src-$t-$l" "$TMP/t$t-l$l.img" || fail "target $t LUN $l backing file wrong"
  done
done
stop_daemon
