#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Acceptance (issue 10, 1): one script of tgtadm commands, every mode and op of tgtadm
# 1.0.x, runs against Debian's tgtd (started here on a free port, control port 1, its IPC
# socket in this test's folder) and against modtgtd through the `tgtadm` entry point (a
# link named tgtadm to modtgtadm). Every command's output and success are recorded; after
# taking out the documented differences (tgt.sh normalize_tgt_show, docs/tgt-compat.md) the
# two transcripts must be identical.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/tgt.sh"
requires qemu-io

D=$TMP/disks
mkdir -p "$D"
truncate -s 100M "$D/d1.img"
truncate -s 10M "$D/d2.img"
truncate -s 20M "$D/d3.img"
T1=iqn.2026-01.test.compat:t1
T2=iqn.2026-01.test.compat:t2

# run ADM... : one command, recorded as "### ARGS", its output, and ok/fail.
run() {
  local args=("$@")
  echo "### ${args[*]:$NADM}"
  local rc=0
  "${args[@]}" 2>/dev/null || rc=$?
  if [ $rc -eq 0 ]; then echo "rc: ok"; else echo "rc: fail"; fi
}

# The same, the output left out (values that differ by design: the counters).
run_quiet() {
  local args=("$@")
  echo "### ${args[*]:$NADM}"
  local rc=0
  "${args[@]}" > /dev/null 2>&1 || rc=$?
  if [ $rc -eq 0 ]; then echo "rc: ok"; else echo "rc: fail"; fi
}

# The script: $A is the tgtadm command (an array), $P the daemon's portal port.
script() {
  local A=("$@")
  NADM=${#A[@]}
  run "${A[@]}" --mode system --op show
  run "${A[@]}" --lld iscsi --mode target --op new --tid 1 --targetname $T1
  run "${A[@]}" --lld iscsi --mode target --op new --tid 2 -T $T2
  run "${A[@]}" --lld iscsi --mode target --op new --tid 2 -T $T2.again         # tid exists
  run "${A[@]}" --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$D/d1.img"
  run "${A[@]}" --lld iscsi -m lu -o new -t 1 -l 2 -b "$D/d2.img" --bsoflags sync:direct --blocksize 4096
  run "${A[@]}" --lld iscsi -m logicalunit -o new -t 2 -l 1 -b "$D/d3.img" -f direct
  run "${A[@]}" --lld iscsi -m lu -o new -t 2 -l 1 -b "$D/d3.img"                # LUN exists
  run "${A[@]}" --lld iscsi -m lu -o new -t 9 -l 1 -b "$D/d3.img"                # no target
  run "${A[@]}" -m lu -o update -t 1 -l 1 --params scsi_id=ID-1-1,scsi_sn=SN11
  run "${A[@]}" -m lu -o update -t 1 -l 2 -P scsi_id=ID-1-2,scsi_sn=SN12
  run "${A[@]}" -m lu -o update -t 2 -l 1 -P scsi_id=ID-2-1,scsi_sn=SN21
  run "${A[@]}" -m lu -o update -t 1 -l 1 -P vendor_id=VEND,product_id=PROD,product_rev=0042
  run "${A[@]}" -m lu -o update -t 1 -l 1 -P readonly=1
  run "${A[@]}" -m lu -o update -t 1 -l 2 -P removable=1,thin_provisioning=1
  run "${A[@]}" -m lu -o update -t 1 -l 2 -P sense_format=1
  run "${A[@]}" -m lu -o update -t 1 -l 1 \
    -P mode_page=8:0:18:0x10:0:0xff:0xff:0:0:0xff:0xff:0xff:0xff:0x80:0x14:0:0:0:0:0:0
  run "${A[@]}" -m lu -o update -t 2 -l 1 -P online=0
  run "${A[@]}" -m lu -o update -t 1 -l 1 -P nosuchparam=1                       # unknown
  run "${A[@]}" --lld iscsi --mode target --op bind --tid 1 --initiator-address ALL
  run "${A[@]}" --lld iscsi --mode target --op bind --tid 1 -I 10.0.0.0/8
  run "${A[@]}" --lld iscsi --mode target --op bind --tid 2 --initiator-name iqn.1993-08.org.debian:01:abc
  run "${A[@]}" --lld iscsi --mode target --op bind --tid 2 -I 192.168.1.5
  run "${A[@]}" --lld iscsi --mode target --op unbind --tid 2 -I 192.168.1.5
  run "${A[@]}" --lld iscsi --mode target --op bind --tid 2 -I 127.0.0.1
  run "${A[@]}" --lld iscsi --mode account --op new --user alice --password alicesecret12
  run "${A[@]}" --lld iscsi --mode account --op new --user bob --password bobsecret1234
  run "${A[@]}" --lld iscsi --mode account --op new --user carol --password carolsecret12
  run "${A[@]}" --lld iscsi --mode account --op bind --tid 1 --user alice
  run "${A[@]}" --lld iscsi --mode account --op bind --tid 1 --user bob --outgoing
  run "${A[@]}" --lld iscsi --mode account --op bind --tid 2 --user carol
  run "${A[@]}" --lld iscsi --mode account --op unbind --tid 2 --user carol
  run "${A[@]}" --lld iscsi --mode account --op show
  run "${A[@]}" --lld iscsi --mode account --op delete --user carol
  run "${A[@]}" --lld iscsi --mode account --op show
  # Every per-target iSCSI parameter tgt and modtgt both take.
  local kv
  for kv in MaxRecvDataSegmentLength=65536 MaxXmitDataSegmentLength=131072 HeaderDigest=CRC32C \
            DataDigest=None InitialR2T=Yes MaxOutstandingR2T=4 ImmediateData=No \
            FirstBurstLength=32768 MaxBurstLength=131072 DataPDUInOrder=Yes \
            DataSequenceInOrder=Yes ErrorRecoveryLevel=0 IFMarker=No OFMarker=No \
            DefaultTime2Wait=5 DefaultTime2Retain=30 \
            MaxConnections=1 MaxQueueCmd=64; do
    run "${A[@]}" --lld iscsi --mode target --op update --tid 1 --name "${kv%%=*}" --value "${kv#*=}"
  done
  run "${A[@]}" --mode target --op update --tid 1 -n maxrecvdatasegmentlength -v 32768
  run "${A[@]}" --mode target --op update --tid 1 -n MaxRecvDataSegmentLength -v 100      # range
  run "${A[@]}" --mode target --op update --tid 1 -n NoSuchKey -v 1
  run "${A[@]}" --mode target --op update --tid 1 -n DataDigest -v crc32c                # spelling
  run "${A[@]}" --lld iscsi --mode target --op show --tid 1
  run "${A[@]}" --mode tgt --op update --tid 2 -n state -v offline
  run "${A[@]}" --lld iscsi --mode target --op show
  run "${A[@]}" --mode tgt --op update --tid 2 -n state -v ready
  run "${A[@]}" -m lu -o update -t 2 -l 1 -P online=1
  run "${A[@]}" --lld iscsi --mode portal --op show
  run "${A[@]}" --lld iscsi --mode portal --op new --param portal=127.0.0.1:$P2
  run "${A[@]}" --lld iscsi --mode portal --op show
  run "${A[@]}" --lld iscsi --mode portal --op delete --param portal=127.0.0.1:$P2
  run "${A[@]}" --lld iscsi --mode portal --op delete --param portal=127.0.0.1:$P2     # gone
  run "${A[@]}" --lld iscsi --mode pt --op show
  run "${A[@]}" --lld iscsi --mode lld --op show
  run "${A[@]}" --mode sys --op update --name State --value offline
  run "${A[@]}" --mode system --op show
  run "${A[@]}" --mode sys --op update --name State --value ready
  run "${A[@]}" --mode sys --op update --name debug --value on
  run "${A[@]}" --mode system --op show
  run "${A[@]}" --mode sys --op update --name debug --value off
  run_quiet "${A[@]}" --lld iscsi --mode target --op stat --tid 1
  run_quiet "${A[@]}" --lld iscsi --mode sys --op stat
  run_quiet "${A[@]}" --lld iscsi --mode lu --op stat --tid 1 --lun 1
  # Logins need no CHAP from here on.
  run "${A[@]}" --lld iscsi --mode account --op unbind --tid 1 --user alice
  run "${A[@]}" --lld iscsi --mode account --op unbind --tid 1 --user bob --outgoing
  run "${A[@]}" --lld iscsi --mode account --op unbind --tid 1 --user bob            # not bound
  # A session (qemu-io holds it), shown by target show and conn show, then closed by conn
  # delete with the sid and cid target show gives (as tgt-admin does).
  qemu-io -r -f raw "iscsi://127.0.0.1:$P/$T1/1" -c 'sleep 30000' > "$TMP/qemu-io.out" 2>&1 &
  local q=$!
  wait_for 20 sh -c "${A[*]} --mode conn --op show --tid 1 | grep -q Connection:" ||
    fail "no session appeared: $(cat "$TMP/qemu-io.out")"
  run "${A[@]}" --lld iscsi --mode target --op show
  run "${A[@]}" --lld iscsi --mode conn --op show --tid 1
  run "${A[@]}" --lld iscsi --mode target --op delete --tid 1                   # busy
  local sid
  sid=$("${A[@]}" --mode target --op show | sed -n 's/^ *I_T nexus: \([0-9]*\)/\1/p' | head -1)
  [ -n "$sid" ] || fail "no I_T nexus in target show"
  run "${A[@]}" --lld iscsi --mode conn --op delete --tid 1 --sid "$sid" --cid 0
  # (qemu's initiator logs in again at once, as a new session: that one may stay.)
  wait_for 20 sh -c "! ${A[*]} --mode conn --op show --tid 1 | grep -qx 'Session: $sid'" ||
    fail "connection 0 of session $sid was not closed"
  kill "$q" 2>/dev/null || true
  wait "$q" 2>/dev/null || true
  wait_for 20 sh -c "! ${A[*]} --mode conn --op show --tid 1 | grep -q Connection:" ||
    fail "the initiator's sessions did not end"
  run "${A[@]}" --lld iscsi --mode conn --op show --tid 1
  run "${A[@]}" --lld iscsi --mode logicalunit --op delete --tid 2 --lun 1
  run "${A[@]}" --lld iscsi --mode logicalunit --op delete --tid 2 --lun 1       # gone
  run "${A[@]}" --lld iscsi --mode target --op delete --tid 2
  run "${A[@]}" --lld iscsi --mode target --op delete --force --tid 1
  run "${A[@]}" --lld iscsi --mode target --op delete --tid 1                    # gone
  run "${A[@]}" --lld iscsi --mode target --op show
  run "${A[@]}" --lld iscsi --mode account --op delete --user alice
  run "${A[@]}" --lld iscsi --mode account --op delete --user bob
  run "${A[@]}" --lld iscsi --mode account --op show
  run "${A[@]}" --lld iscsi --mode lld --op stop
  run "${A[@]}" --lld iscsi --mode lld --op show
  run "${A[@]}" --lld iscsi --mode lld --op start
  run "${A[@]}" --lld iscsi --mode lld --op show
}

# ---- tgtd ----
start_tgtd
P=$TGTD_PORT
P2=$(free_port)
script tgtadm -C 1 > "$TMP/tgt.raw"
stop_tgtd

# ---- modtgtd, through the tgtadm entry point ----
start_daemon --no-config
P=$PORT
P2=$(free_port)
BIN=$(tgtadm_link)
export MODTGT_SOCKET=$SOCK
export PATH="$BIN:$PATH"
[ "$(command -v tgtadm)" = "$BIN/tgtadm" ] || fail "the tgtadm link is not first on PATH"
script tgtadm -C 0 > "$TMP/modtgt.raw"
adm --mode system --op show > /dev/null || fail "modtgtd stopped answering"
stop_daemon

normalize_tgt_show < "$TMP/tgt.raw" > "$TMP/tgt.txt"
normalize_tgt_show < "$TMP/modtgt.raw" > "$TMP/modtgt.txt"
if ! diff -u "$TMP/tgt.txt" "$TMP/modtgt.txt" > "$TMP/diff"; then
  cat "$TMP/diff" >&2
  fail "tgtadm's and modtgtadm's transcripts differ beyond the documented differences"
fi
# The comparison saw what it should: a populated target show, parameters, a session.
for want in "Backing store path: $D/d1.img" "MaxRecvDataSegmentLength=32768" "State: offline" \
            "I_T nexus: N" "Connection: 0" "IP Address: 127.0.0.1" "Account list:" \
            "Portal: 127.0.0.1:PORT,1" "SCSI SN: SN11" "Readonly: Yes"; do
  grep -qF "$want" "$TMP/modtgt.txt" || fail "the transcript lacks '$want'"
done
[ "$(grep -c '^rc: ok' "$TMP/modtgt.txt")" -gt 60 ] || fail "too few commands succeeded"
info "ok: $(grep -c '^### ' "$TMP/modtgt.txt") commands, identical after normalisation"
