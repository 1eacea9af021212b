#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Acceptance (issue 10, 2): Debian's tgt-admin, unchanged, configures modtgt from a
# targets.conf that uses every directive of targets.conf(5) that makes targets (include with
# a glob, default-driver, <target> blocks, backing-store and direct-store lines and blocks,
# bs-type, bsopts, bsoflags, block-size, lun, controller_tid, incominguser, outgoinguser,
# incomingdiscoveryuser, initiator-address, initiator-name, write-cache, vendor_id,
# product_id, product_rev, scsi_sn, scsi_id, readonly, removable, online, sense_format,
# mode_page, params, allow-in-use, state and every iSCSI key): through the `tgtadm` entry
# point (a folder on PATH holding tgtadm -> modtgtadm) it gives what tgt-admin gives on
# tgtd. Then `modtgtadm --import-tgt` of the same file gives it too (and --dry-run changes
# nothing), and it survives a restart (the saved configuration carries it all).
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/tgt.sh"
requires tgt-admin sg_inq

cd "$TMP"  # tgt-admin takes relative include paths from the current folder; so does --import-tgt
D=$TMP/disks
mkdir -p "$D" conf.d
for f in a1 a2 b1 b2 g1 n1; do truncate -s 16M "$D/$f.img"; done

cat > targets.conf <<EOF
# A targets.conf with every directive that makes targets.
include conf.d/*.conf
default-driver iscsi
incomingdiscoveryuser discuser discsecret123

<target iqn.2026-01.test.conf:alpha>
    backing-store $D/a2.img      # LUN 2: backing stores are numbered in path order
    backing-store $D/a1.img      # LUN 1
    write-cache off
    vendor_id ACME
    product_id DISK1
    product_rev 0101
    readonly 0
    initiator-address 127.0.0.1
    initiator-address 10.0.0.0/8
    initiator-name iqn.1993-08.org.debian:01:abc
    incominguser user1 secretpass12
    incominguser user2 secretpass23
    outgoinguser userA secretpassA12
    MaxRecvDataSegmentLength 65536
    MaxXmitDataSegmentLength 131072
    HeaderDigest None
    DataDigest None
    InitialR2T Yes
    MaxOutstandingR2T 4
    ImmediateData No
    FirstBurstLength 32768
    MaxBurstLength 131072
    DataPDUInOrder Yes
    DataSequenceInOrder Yes
    ErrorRecoveryLevel 0
    IFMarker No
    OFMarker No
    DefaultTime2Wait 5
    DefaultTime2Retain 30
    MaxConnections 1
</target>

<target iqn.2026-01.test.conf:beta>
    <backing-store $D/b1.img>
        lun 3
        scsi_sn BETA-SN-3
        scsi_id BETA-ID-3
        vendor_id BVEND
        product_id BPROD
        product_rev 0202
        write-cache on
        bs-type rdwr
        bsoflags sync
        block-size 4096
        params thin_provisioning=1,removable=1
        mode_page 8:0:18:0x10:0:0xff:0xff:0:0:0xff:0xff:0xff:0xff:0x80:0x14:0:0:0:0:0:0
    </backing-store>
    <direct-store $D/b2.img>
        readonly 1
        scsi_sn BETA-SN-D
        sense_format 1
    </direct-store>
    state offline
</target>
EOF
cat > conf.d/gamma.conf <<EOF
<target iqn.2026-01.test.conf:gamma>
    controller_tid 7
    <backing-store $D/n1.img>
        bs-type null
        bsopts size=1T
        removable 1
    </backing-store>
    <backing-store $D/g1.img>
        vendor_id GAMMA
    </backing-store>
    online 0
    allow-in-use yes
    initiator-name iqn.1993-08.org.debian:01:def
</target>
EOF

# What a daemon holds, as tgtadm shows it: every target, each one's parameters, accounts.
capture() {  # capture TGTADM...
  local A=("$@") tid
  echo "### target show"
  "${A[@]}" --lld iscsi --mode target --op show
  for tid in $("${A[@]}" --lld iscsi --mode target --op show | sed -n 's/^Target \([0-9]*\):.*/\1/p'); do
    echo "### target show --tid $tid"
    "${A[@]}" --lld iscsi --mode target --op show --tid "$tid"
  done
  echo "### account show"
  "${A[@]}" --lld iscsi --mode account --op show
}

# ---- tgt-admin on tgtd ----
start_tgtd
tgt-admin -C 1 -e -c targets.conf > "$TMP/tgt-admin.tgt.log" 2>&1 ||
  fail "tgt-admin on tgtd failed: $(cat "$TMP/tgt-admin.tgt.log")"
capture tgtadm -C 1 | normalize_tgt_show defaults > "$TMP/tgt.txt"
stop_tgtd
grep -q "^Target 7: iqn.2026-01.test.conf:gamma" "$TMP/tgt.txt" || fail "tgtd lacks gamma: $(cat "$TMP/tgt.txt")"

# ---- tgt-admin on modtgtd, through the tgtadm entry point ----
start_daemon --no-config
BIN=$(tgtadm_link)
(
  export MODTGT_SOCKET=$SOCK PATH="$BIN:$PATH"
  tgt-admin -C 0 -e -c targets.conf > "$TMP/tgt-admin.modtgt.log" 2>&1 ||
    fail "tgt-admin on modtgtd failed: $(cat "$TMP/tgt-admin.modtgt.log")"
  capture tgtadm -C 0 | normalize_tgt_show defaults > "$TMP/tgt-admin.txt"
)
# What the text does not show: write-cache off on alpha's LUNs, sense format, discovery CHAP.
adm --mode target --op show --json > "$TMP/admin.json"
python3 - "$TMP/admin.json" <<'EOF' || fail "tgt-admin's settings did not all arrive"
import json, sys
t = {x["name"].split(":")[1]: x for x in json.load(open(sys.argv[1]))["targets"]}
assert [l["write_cache"] for l in t["alpha"]["luns"]] == [False, False], t["alpha"]["luns"]
b = {l["lun"]: l for l in t["beta"]["luns"]}
assert b[3]["write_cache"] is False and b[3]["bsoflags"] == "sync", b[3]   # the mode_page after write-cache on
assert b[1]["sense_format"] == 1 and b[1]["readonly"], b[1]
EOF
adm --mode account --op show --json | json_get 'j["accounts"]' | grep -q "discovery" ||
  fail "discuser is not bound to discovery"
diff -u "$TMP/tgt.txt" "$TMP/tgt-admin.txt" >&2 ||
  fail "tgt-admin made something else of targets.conf on modtgtd than on tgtd"
stop_daemon

# ---- modtgtadm --import-tgt, on a daemon that saves its configuration ----
start_daemon
adm --import-tgt targets.conf --dry-run > "$TMP/dry.txt" || fail "--dry-run failed: $(cat "$TMP/dry.txt")"
for want in "would create target 1 iqn.2026-01.test.conf:alpha" \
            "would create target 7 iqn.2026-01.test.conf:gamma LUN 2" \
            "not mapped: targets.conf:54: <direct-store $D/b2.img>" \
            "not mapped: conf.d/gamma.conf:12: allow-in-use yes" "dry run: nothing changed"; do
  grep -qF "$want" "$TMP/dry.txt" || fail "--dry-run output lacks '$want': $(cat "$TMP/dry.txt")"
done
[ -z "$(adm --mode target --op show)" ] || fail "--dry-run created something"
[ "$(grep -c "allow-in-use" "$TMP/dry.txt")" -eq 1 ] || fail "a note is listed twice"
adm --import-tgt targets.conf > "$TMP/import.txt" || fail "--import-tgt failed: $(cat "$TMP/import.txt")"
capture "$MODTGTADM" --socket "$SOCK" | normalize_tgt_show defaults > "$TMP/import-show.txt"
diff -u "$TMP/tgt.txt" "$TMP/import-show.txt" >&2 ||
  fail "--import-tgt made something else of targets.conf than tgt-admin on tgtd"
# The same file again changes nothing.
adm --import-tgt targets.conf | grep -q "^nothing to change" || fail "a second import changed something"
# ... and it all comes back after a restart.
stop_daemon
start_daemon
capture "$MODTGTADM" --socket "$SOCK" | normalize_tgt_show defaults > "$TMP/restart-show.txt"
diff -u "$TMP/import-show.txt" "$TMP/restart-show.txt" >&2 || fail "the import did not survive a restart"
stop_daemon
info "ok"
