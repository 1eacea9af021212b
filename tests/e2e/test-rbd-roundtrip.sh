#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bs_rbd on a real single-node Ceph cluster (tests/e2e/ceph.sh): a bad config string is
# refused with the module's reason and creates nothing; 64 MiB of random data go in through
# iSCSI (qemu-img convert) and come back byte-identical, and `rbd export` reads the same
# straight from the cluster; the tgt-style form (--bstype rbd --backing-store POOL/IMAGE
# --bsopts ...) with a cephx user limited to the pool works too; a live resize grows the
# image (rbd info) and READ CAPACITY, and an `rbd resize` elsewhere reaches the LUN too; a
# live module reload keeps both LUNs (and their locks); UNMAP deletes the image's objects
# and reads zeros; a snapshot LUN serves the snapshot and refuses writes with DATA PROTECT /
# WRITE PROTECTED.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/ceph.sh"
rbd_requires
requires qemu-img qemu-io cmp python3
SCSI_IO=$MODTGT_BUILD/tests/tools/scsi_io
[ -x "$SCSI_IO" ] || fail "no $SCSI_IO (libiscsi-dev missing at build time?)"
IQN=iqn.2026-11.org.modtgt.test:rbd
ceph_start
P=$CEPH_POOL
rbd_new disk1 64M
rbd_new disk2 16M
# A cephx user that may use this pool only (rbd profile), with its own keyring file.
cephc auth get-or-create client.gw mon 'profile rbd' osd "profile rbd pool=$P" \
  -o "$CEPH_DIR/client.gw.keyring" > /dev/null
start_daemon
new_target 1 $IQN

lun_count() { adm --mode logicalunit --op show --tid 1 --json | json_get 'len([l for l in j["luns"] if l["lun"] != 0])'; }
refused() {  # refused PATTERN ARGS...: creation fails with PATTERN in the answer
  local pattern=$1; shift
  local rc=0
  adm --mode logicalunit --op new --tid 1 "$@" > "$TMP/out" 2>&1 || rc=$?
  [ $rc -ne 0 ] || fail "created a LUN with $*"
  grep -q "$pattern" "$TMP/out" || fail "no '$pattern' in the refusal of $*: $(cat "$TMP/out")"
}
refused "image '$P/nosuch' does not exist" --lun 1 --cfgstring "rbd/$P/nosuch$CEPH_OPTS"
refused "pool 'nopool' does not exist" --lun 1 --cfgstring "rbd/nopool/disk1$CEPH_OPTS"
refused "unknown option 'bogus'" --lun 1 --cfgstring "rbd/$P/disk1;bogus=1$CEPH_OPTS"
refused "is a snapshot, which is read-only" --lun 1 --cfgstring "rbd/$P/disk1@s1$CEPH_OPTS"
rc=0
adm --mode logicalunit --op check --tid 1 --lun 1 --cfgstring "rbd/$P/disk1@nosnap$CEPH_OPTS" \
  --params readonly=1 > "$TMP/out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "has no snapshot 'nosnap'" "$TMP/out" || fail "check of a missing snapshot: $(cat "$TMP/out")"
adm --mode logicalunit --op check --tid 1 --lun 1 --cfgstring "rbd/$P/disk1$CEPH_OPTS" > "$TMP/out" ||
  fail "check refused a good config: $(cat "$TMP/out")"
[ "$(lun_count)" = 0 ] || fail "a refused or checked configuration left a LUN behind"
rbdc lock ls "$P/disk1" | grep -q . && fail "check_config took the lock"

# ---- LUN 1 (targetcli form) and LUN 2 (tgt form, limited user) ----
adm --mode logicalunit --op new --tid 1 --lun 1 --cfgstring "rbd/$P/disk1$CEPH_OPTS" \
  --params thin_provisioning=1
adm --mode logicalunit --op new --tid 1 --lun 2 --bstype rbd --backing-store "$P/disk2" \
  --bsopts "conf=$CEPH_CONF;id=gw;keyring=$CEPH_DIR/client.gw.keyring"
show() { adm --mode logicalunit --op show --tid 1 --lun "$1" --json; }
[ "$(show 1 | json_get 'j["luns"][0]["lock"]["state"]')" = locked ] || fail "LUN 1 does not hold the lock: $(show 1)"
rbdc lock ls "$P/disk1" | grep -q "auto" || fail "rbd lock ls shows no lock on disk1"
[ "$(show 2 | json_get 'j["luns"][0]["size"]')" = $((16 << 20)) ] || fail "LUN 2 size"

URL="iscsi://$PORTAL/$IQN/1"
head -c 64M /dev/urandom > "$TMP/src"
t0=$(date +%s%N)
qemu-img convert -n -f raw -O raw "$TMP/src" "$URL"
t1=$(date +%s%N)
qemu-img convert -f raw -O raw "$URL" "$TMP/back"
t2=$(date +%s%N)
info "64 MiB in: $(((t1 - t0) / 1000000)) ms, out: $(((t2 - t1) / 1000000)) ms"
cmp "$TMP/src" "$TMP/back" || fail "data read back differs"
rbdc export --no-progress "$P/disk1" "$TMP/export"
cmp "$TMP/src" "$TMP/export" || fail "rbd export differs from what was written through iSCSI"
URL2="iscsi://$PORTAL/$IQN/2"
head -c 16M /dev/urandom > "$TMP/src2"
qemu-img convert -n -f raw -O raw "$TMP/src2" "$URL2"
rm -f "$TMP/export"
rbdc export --no-progress "$P/disk2" "$TMP/export"
cmp "$TMP/src2" "$TMP/export" || fail "LUN 2 (client.gw): rbd export differs"

# ---- live reload of the module under both LUNs: they reopen (and retake their locks) ----
adm --mode system --op bsreload --bstype rbd > /dev/null
[ "$(show 1 | json_get 'j["luns"][0]["lock"]["state"]')" = locked ] || fail "LUN 1 lock after bsreload: $(show 1)"
rm -f "$TMP/back"
qemu-img convert -f raw -O raw "$URL" "$TMP/back"
cmp "$TMP/src" "$TMP/back" || fail "data read back after bsreload differs"

# ---- live resize: the image grows, initiators see it ----
adm --mode logicalunit --op update --tid 1 --lun 1 --size 96M
rsize() { rbdc info --format json "$P/disk1" | json_get 'j["size"]'; }
[ "$(rsize)" = $((96 << 20)) ] || fail "rbd info size after the resize: $(rsize)"
vsize() { qemu-img info --output json "$URL" | json_get 'j["virtual-size"]'; }
[ "$(vsize)" = $((96 << 20)) ] || fail "READ CAPACITY after the resize: $(vsize)"
# Resized outside (rbd resize, forwarded by librbd to the lock owner): the LUN follows.
rbdc resize --size 112M "$P/disk1" > /dev/null 2>&1 || fail "rbd resize"
wait_for 20 test "$(show 1 | json_get 'j["luns"][0]["size"]')" = $((112 << 20)) ||
  fail "the LUN did not follow an rbd resize: $(show 1 | json_get 'j["luns"][0]["size"]')"
[ "$(vsize)" = $((112 << 20)) ] || fail "READ CAPACITY after rbd resize: $(vsize)"

# ---- UNMAP: objects are deleted, the range reads zeros ----
IMAGE_ID=$(rbdc info --format json "$P/disk1" | json_get 'j["block_name_prefix"]')
objects() { radosc -p "$P" ls | grep -c "^$IMAGE_ID\." || true; }
before=$(objects)
qemu-io -f raw -c "discard 0 32M" -c "discard 40M 100k" "$URL" > "$TMP/out" || fail "discard: $(cat "$TMP/out")"
after=$(objects)
info "data objects: $before before UNMAP of 32 MiB, $after after"
[ $((before - after)) -ge 8 ] || fail "UNMAP of 32 MiB deleted too few 4 MiB objects ($before -> $after)"
rm -f "$TMP/back"
qemu-img convert -f raw -O raw "$URL" "$TMP/back"
cmp -n $((32 << 20)) "$TMP/back" /dev/zero || fail "unmapped range does not read as zeros"
cmp -i $((32 << 20)) -n $((8 << 20)) "$TMP/src" "$TMP/back" || fail "data after the unmapped range changed"
cmp -i $((40 << 20)):0 -n 102400 "$TMP/back" /dev/zero || fail "a partial-object UNMAP does not read zeros"
cmp -i $((40 << 20)) -n $((24 << 20)) "$TMP/src" "$TMP/back" 2>/dev/null && fail "partial UNMAP changed nothing"
cmp -i $(((40 << 20) + 102400)) -n $(((24 << 20) - 102400)) "$TMP/src" "$TMP/back" || fail "data after the partial UNMAP changed"
# WRITE SAME of zeros and a FUA write.
qemu-io -f raw -c "write -z 48M 4M" -c "write -f -P 0xa5 60M 1M" "$URL" > "$TMP/out" ||
  fail "write -z / write -f: $(cat "$TMP/out")"
rm -f "$TMP/export"
rbdc export --no-progress "$P/disk1" "$TMP/export"
cmp -i $((48 << 20)):0 -n $((4 << 20)) "$TMP/export" /dev/zero || fail "WRITE SAME zeros not in the image"
python3 - "$TMP/export" <<'PY' || fail "the FUA write is not in the image"
import sys
d = open(sys.argv[1], "rb").read()
assert d[60 << 20:61 << 20] == b"\xa5" * (1 << 20)
PY

# ---- a snapshot LUN: the snapshot's data, read-only ----
rbdc snap create "$P/disk1@s1" > /dev/null
qemu-io -f raw -c "write -P 0x3c 0 1M" "$URL" > /dev/null || fail "write after the snapshot"
adm --mode logicalunit --op new --tid 1 --lun 3 --cfgstring "rbd/$P/disk1@s1$CEPH_OPTS" --params readonly=1
URL3="iscsi://$PORTAL/$IQN/3"
[ "$(show 3 | json_get 'j["luns"][0]["readonly"]')" = True ] || fail "snapshot LUN is not read-only"
[ "$(show 3 | json_get 'j["luns"][0]["lock"]["state"]')" = unlocked ] || fail "snapshot LUN lock state: $(show 3)"
out=$("$SCSI_IO" "$URL3" write 0 8 0x11)
info "write to the snapshot LUN: $out"
case "$out" in
  *"sense=7/27/00"*) ;;
  *) fail "a write to the snapshot LUN was not refused with DATA PROTECT / WRITE PROTECTED: $out" ;;
esac
"$SCSI_IO" "$URL3" read 0 2048 "$TMP/snap1m" > "$TMP/out"
grep -q "status=0x00" "$TMP/out" || fail "read of the snapshot LUN: $(cat "$TMP/out")"
cmp "$TMP/snap1m" "$TMP/export" -n $((1 << 20)) || fail "the snapshot LUN does not show the snapshot"
python3 - "$TMP/snap1m" <<'PY' && fail "the snapshot LUN shows data written after the snapshot"
import sys
sys.exit(0 if open(sys.argv[1], "rb").read() == b"\x3c" * (1 << 20) else 1)
PY
adm --mode logicalunit --op delete --tid 1 --lun 3

[ "$(adm --mode system --op show --json | json_get '[len(m.get("users") or []) for m in j["modules"] if m["name"]=="rbd"][0]')" = 2 ] ||
  fail "bs_rbd does not list its two LUNs as users"
grep -E "modtgtd (error).*rbd" "$LOG" && fail "the daemon logged rbd errors"
adm --mode logicalunit --op delete --tid 1 --lun 1
rbdc lock ls "$P/disk1" | grep -q . && fail "deleting the LUN did not release the lock"
stop_daemon
