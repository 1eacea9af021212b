#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# EXTENDED COPY over iSCSI (tests/tools/xcopy, libiscsi): 64 MiB copied between two LUNs of
# one target arrive byte-identical (read back with qemu-img; the LUNs of targets qemu's
# initiator name may not log in to are read from their files); a copy to, or from, a LUN of a
# target this initiator may not log in to is refused with COPY ABORTED / COPY TARGET DEVICE
# NOT REACHABLE and leaves that LUN untouched, even though the initiator names it by its
# real NAA designator; a LUN of another target whose ACL admits the initiator (name and
# address) is reachable, until that target asks for CHAP; one whose ACL admits the name from
# another address is not.
source "$(dirname "$0")/functions.sh"
requires qemu-img cmp head
XCOPY=$MODTGT_BUILD/tests/tools/xcopy
[ -x "$XCOPY" ] || fail "$XCOPY not built (libiscsi-dev missing at configure time?)"
ME=iqn.2026-11.org.modtgt.test:xcopy
OTHER=iqn.2026-11.org.modtgt.test:someone-else
T1=iqn.2026-11.org.modtgt.test:t1
T2=iqn.2026-11.org.modtgt.test:t2-not-mine
T3=iqn.2026-11.org.modtgt.test:t3-mine-too
T4=iqn.2026-11.org.modtgt.test:t4-mine-elsewhere
SIZE=$((64 << 20))
BLOCKS=$((SIZE / 512))

start_daemon
lun() {  # lun TID LUN FILE
  truncate -s $SIZE "$3"
  adm --mode logicalunit --op new --tid "$1" --lun "$2" --backing-store "$3"
}
new_target 1 $T1
lun 1 1 "$TMP/t1l1.img"
lun 1 2 "$TMP/t1l2.img"
# T2 admits another initiator only; T3 this one by name (any address); T4 this name, but
# only from 10.0.0.0/8.
adm --mode target --op new --tid 2 --targetname $T2
adm --mode target --op bind --tid 2 --initiator-name $OTHER
lun 2 1 "$TMP/t2l1.img"
adm --mode target --op new --tid 3 --targetname $T3
adm --mode target --op bind --tid 3 --initiator-name $ME
lun 3 1 "$TMP/t3l1.img"
adm --mode target --op new --tid 4 --targetname $T4
adm --mode target --op bind --tid 4 --initiator-name $ME
adm --mode target --op bind --tid 4 --initiator-address 10.0.0.0/8
lun 4 1 "$TMP/t4l1.img"

URL1="iscsi://$PORTAL/$T1/1"
URL2="iscsi://$PORTAL/$T1/2"
head -c $SIZE /dev/urandom > "$TMP/src"
qemu-img convert -n -f raw -O raw "$TMP/src" "$URL1"

# Within the target: every byte arrives.
NAA2=$("$XCOPY" -i $ME naa "$URL2")
out=$("$XCOPY" -i $ME copy "$URL1" self "$NAA2" 0 0 $BLOCKS) || fail "copy to LUN 2: $out"
[ "$out" = "copied $SIZE bytes" ] || fail "unexpected: $out"
qemu-img convert -f raw -O raw "$URL2" "$TMP/back2"
cmp "$TMP/src" "$TMP/back2" || fail "LUN 2 differs from what was copied"

# T2: this initiator cannot log in (proved), yet knows the LUN's NAA (another initiator
# read it): the copy manager must not reach it, in either direction.
out=$("$XCOPY" -i $ME naa "iscsi://$PORTAL/$T2/1" 2>&1) && fail "logged in to T2: $out"
case "$out" in "login failed"*) ;; *) fail "T2 refused without a login failure: $out";; esac
NAA_T2=$("$XCOPY" -i $OTHER naa "iscsi://$PORTAL/$T2/1")
rc=0; out=$("$XCOPY" -i $ME copy "$URL1" self "$NAA_T2" 0 0 $BLOCKS) || rc=$?
[ $rc -eq 2 ] && [ "$out" = "sense a/0d/02" ] || fail "copy into T2 not refused (rc $rc): $out"
cmp -n $SIZE "$TMP/t2l1.img" /dev/zero || fail "T2's LUN was written"
rc=0; out=$("$XCOPY" -i $ME copy "$URL2" "$NAA_T2" self 0 0 $BLOCKS) || rc=$?
[ $rc -eq 2 ] && [ "$out" = "sense a/0d/02" ] || fail "copy out of T2 not refused (rc $rc): $out"
qemu-img convert -f raw -O raw "$URL2" "$TMP/back2"
cmp "$TMP/src" "$TMP/back2" || fail "a refused copy changed LUN 2"

# T3 admits this initiator: reachable. T4 admits its name from another network: not.
NAA_T3=$("$XCOPY" -i $ME naa "iscsi://$PORTAL/$T3/1")
out=$("$XCOPY" -i $ME copy "$URL1" self "$NAA_T3" 0 0 $BLOCKS) || fail "copy to T3: $out"
cmp "$TMP/src" "$TMP/t3l1.img" || fail "T3's LUN differs from what was copied"
# Once T3 asks for CHAP, a session of T1 (which proved no secret of T3's) no longer reaches
# it, although the ACL still admits this initiator.
adm --mode account --op new --user xcopy-chap --password xcopy-secret-12
adm --mode account --op bind --tid 3 --user xcopy-chap
rc=0; out=$("$XCOPY" -i $ME copy "$URL1" self "$NAA_T3" 8 0 8) || rc=$?
[ $rc -eq 2 ] && [ "$out" = "sense a/0d/02" ] || fail "copy into CHAP T3 not refused (rc $rc): $out"
cmp "$TMP/src" "$TMP/t3l1.img" || fail "CHAP T3's LUN was written"
out=$("$XCOPY" -i $ME naa "iscsi://$PORTAL/$T4/1" 2>&1) && fail "logged in to T4 from 127.0.0.1: $out"
adm --mode target --op bind --tid 4 --initiator-address 127.0.0.1
NAA_T4=$("$XCOPY" -i $ME naa "iscsi://$PORTAL/$T4/1")
adm --mode target --op unbind --tid 4 --initiator-address 127.0.0.1
rc=0; out=$("$XCOPY" -i $ME copy "$URL1" self "$NAA_T4" 0 0 8) || rc=$?
[ $rc -eq 2 ] && [ "$out" = "sense a/0d/02" ] || fail "copy into T4 not refused (rc $rc): $out"
cmp -n $SIZE "$TMP/t4l1.img" /dev/zero || fail "T4's LUN was written"
stop_daemon
