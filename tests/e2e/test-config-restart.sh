#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The saved configuration survives a SIGKILL (issue 9, acceptance 1): targets, LUNs on every
# shipped store that needs no cluster (rdwr, uring, ram, null, optical), ACLs by address and
# by name, CHAP accounts, a second portal and LUN parameters are configured; the daemon is killed with
# SIGKILL and started again with the same command line. `system dump` is identical, an
# initiator logs in to the same targets through both portals and sees the same VPD 0x80 and
# 0x83 pages, and the data of the persistent stores is intact. (A ram LUN's data lives in
# the daemon's memory: it comes back with its identity and size, empty.)
source "$(dirname "$0")/functions.sh"
requires iscsi-inq iscsi-ls qemu-img python3 cmp

A=iqn.2026-12.org.modtgt.test:restart-a
B=iqn.2026-12.org.modtgt.test:restart-b
ME=iqn.2026-12.org.modtgt.test:restart-initiator
truncate -s 64M "$TMP/rdwr.img"
truncate -s 32M "$TMP/uring.img"
make_iso "$TMP/disc.iso" 300 RESTART

start_daemon
adm --mode target --op new --tid 1 --targetname $A
adm --mode target --op bind --tid 1 --initiator-address 127.0.0.0/8
adm --mode target --op bind --tid 1 --initiator-name $ME
adm --mode target --op new --tid 2 --targetname $B
adm --mode target --op bind --tid 2 --initiator-address ALL
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/rdwr.img" \
  --params thin_provisioning=1,vendor_id=ACME,product_id=RESTART,product_rev=0042,scsi_sn=SERIAL-A1,scsi_id=ident-a1
adm --mode logicalunit --op new --tid 1 --lun 2 --bstype uring --cfgstring "uring/$TMP/uring.img" \
  --params wce=0
adm --mode logicalunit --op new --tid 1 --lun 3 --cfgstring ram/restart --size 16M \
  --wwn ram-lun-3 --hw-max-sectors 256 --control max_data_area_mb=8
adm --mode logicalunit --op new --tid 2 --lun 0 --bstype null --backing-store null0 \
  --bsopts size=1G --params readonly=1
adm --mode logicalunit --op new --tid 2 --lun 1 --cfgstring "optical/$TMP/disc.iso" --device-type cd
adm --mode logicalunit --op update --tid 1 --lun 1 --size 80M
adm --mode portal --op new --param portal=127.0.0.1:0
# CHAP accounts and their bindings (the login side is the iSCSI transport's).
echo "restart-secret-1" | adm --mode account --op new --user restart-user --password -
adm --mode account --op new --user restart-target --password restart-secret-2
adm --mode account --op bind --tid 2 --user restart-user
adm --mode account --op bind --tid 2 --user restart-target --outgoing

# Data on the persistent stores.
head -c $((8 << 20)) /dev/urandom > "$TMP/data"
# qemu's iscsi driver with our initiator name (target 1's ACL admits only it).
lun_json() {  # lun_json PORTAL LUN [SIZE]
  local size=${3:+\"size\":$3,}
  echo "json:{\"driver\":\"raw\",$size\"file\":{\"driver\":\"iscsi\",\"transport\":\"tcp\",\"portal\":\"$1\",\"target\":\"$A\",\"lun\":$2,\"initiator-name\":\"$ME\"}}"
}
for lun in 1 2 3; do
  qemu-img convert -n -f raw -O raw "$TMP/data" "$(lun_json "$PORTAL" $lun)"
done

# What an initiator sees, for every LUN: VPD 0x80 (serial) and 0x83 (identifiers).
vpd() {  # vpd PORTAL -> lines "target lun page: text"
  local portal=$1 iqn lun page
  for spec in "$A 1" "$A 2" "$A 3" "$B 0" "$B 1"; do
    set -- $spec
    iqn=$1 lun=$2
    for page in 128 131; do  # VPD 0x80, 0x83 (iscsi-inq takes decimal)
      echo "$iqn $lun $page: $(iscsi-inq -i $ME -e 1 -c $page "iscsi://$portal/$iqn/$lun" | tr '\n' ' ')"
    done
  done
}
portals() { adm --mode system --op show --json | json_get '" ".join(j["portals"])'; }

adm --mode system --op dump > "$TMP/dump.before"
adm --mode account --op show > "$TMP/accounts.before"
grep -q "restart-secret" "$TMP/dump.before" && fail "dump shows a CHAP secret without --show-secrets"
adm --mode system --op dump --show-secrets | grep -q "restart-secret-1" || fail "--show-secrets"
[ "$(stat -c %a "$CONFIG")" = 600 ] || fail "the state file is not private: $(stat -c %a "$CONFIG")"
grep -q "restart-secret-1" "$CONFIG" || fail "the state file does not keep the secret"
grep -q "restart-secret" "$LOG" && fail "a CHAP secret reached the log"
vpd "$PORTAL" > "$TMP/vpd.before"
grep -q "SERIAL-A1" "$TMP/vpd.before" || fail "VPD 0x80 does not show scsi_sn"
grep -q "ram-lun-3" "$TMP/vpd.before" || fail "VPD 0x80 does not show the wwn"
[ "$(portals | wc -w)" = 2 ] || fail "expected two portals before the restart"

info "SIGKILL, then the same command line again"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
[ -s "$CONFIG" ] || fail "no state file $CONFIG"
start_daemon

adm --mode system --op dump > "$TMP/dump.after"
diff -u "$TMP/dump.before" "$TMP/dump.after" || fail "dump differs after the restart"
adm --mode account --op show | diff -u "$TMP/accounts.before" - || fail "accounts differ after the restart"
read -r P1 P2 <<< "$(portals)"
[ -n "$P2" ] || fail "the second portal did not come back: $(portals)"
for p in "$P1" "$P2"; do
  vpd "$p" > "$TMP/vpd.after"
  diff -u "$TMP/vpd.before" "$TMP/vpd.after" || fail "VPD pages differ after the restart (portal $p)"
  iscsi-ls -i $ME "iscsi://$p" | grep -q "$A" || fail "discovery on $p does not list $A"
done

# The data of the persistent stores is intact; the ram LUN is back, empty.
for lun in 1 2 3; do
  qemu-img convert -f raw -O raw "$(lun_json "$P2" $lun $((8 << 20)))" "$TMP/back$lun"
done
cmp "$TMP/data" "$TMP/back1" || fail "rdwr LUN data changed across the restart"
cmp "$TMP/data" "$TMP/back2" || fail "uring LUN data changed across the restart"
cmp <(head -c $((8 << 20)) /dev/zero) "$TMP/back3" || fail "the ram LUN should come back empty"

# The ACL by name still holds: another initiator name is refused.
if iscsi-inq -i iqn.2026-12.org.modtgt.test:intruder "iscsi://$P1/$A/1" > /dev/null 2>&1; then
  fail "an initiator outside the name ACL logged in after the restart"
fi
# The parameters came back: write cache off on LUN 2, read-only null LUN.
adm --mode logicalunit --op show --tid 1 --lun 2 --json | json_get 'j["luns"][0]["write_cache"]' |
  grep -qx False || fail "LUN 2's write cache came back on"
adm --mode logicalunit --op show --tid 2 --lun 0 --json | json_get 'j["luns"][0]["readonly"]' |
  grep -qx True || fail "the null LUN is no longer read-only"
stop_daemon
info "ok"
