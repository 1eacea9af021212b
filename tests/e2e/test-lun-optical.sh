#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bs_optical: an ISO image as a CD-ROM LUN (peripheral type 5, MMC), driven with raw MMC
# CDBs through libiscsi (tests/tools/mmc_raw): INQUIRY, READ CAPACITY, READ TOC (LBA and
# MSF), session info, GET CONFIGURATION, disc/track information, sectors byte-identical to
# the image; PREVENT makes both START STOP UNIT eject (53/02) and the admin's eject fail;
# after ALLOW the admin ejects (NOT READY 3A/02, media removal event), loads another image
# (UNIT ATTENTION 28/00 on the next command of the same session, then the new capacity),
# and a forced change works while prevented. A non-ISO file is refused with the reason.
source "$(dirname "$0")/functions.sh"
requires python3 cmp iscsi-inq
MMC_RAW=$MODTGT_BUILD/tests/tools/mmc_raw
[ -x "$MMC_RAW" ] || fail "$MMC_RAW is not built (libiscsi-dev missing at configure time?)"
IQN=iqn.2026-11.org.modtgt.test:optical

# A minimal valid ISO 9660 image (ECMA-119): 16 sectors of system area, the primary volume
# descriptor at sector 16, the set terminator at 17, a root directory at 18, and every
# later sector filled with its own number and the image's tag (recognisable data).
ISO1=$TMP/one.iso
ISO2=$TMP/two.iso
make_iso "$ISO1" 300 ONE
make_iso "$ISO2" 500 TWO
head -c $((40 * 2048)) /dev/urandom > "$TMP/bad.iso"

start_daemon
new_target 1 $IQN

# ---- A file that is not an ISO image: refused with the module's reason, nothing created.
rc=0
adm --mode logicalunit --op new --tid 1 --lun 2 --bstype optical \
  --backing-store "optical/$TMP/bad.iso" > "$TMP/out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "a LUN over a non-ISO file was created"
grep -q "not an ISO 9660 image" "$TMP/out" || fail "no reason for the bad image: $(cat "$TMP/out")"
head -c 5000 "$ISO1" > "$TMP/odd.iso"
rc=0
adm --mode logicalunit --op new --tid 1 --lun 2 --bstype optical \
  --backing-store "optical/$TMP/odd.iso" > "$TMP/out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "a LUN over an image of 5000 bytes was created"
grep -q "multiple of 2048" "$TMP/out" || fail "no reason for the odd size: $(cat "$TMP/out")"

# ---- The CD-ROM LUN: device type cd comes with bstype optical.
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype optical --backing-store "optical/$ISO1"
URL="iscsi://$PORTAL/$IQN/1"
iscsi-inq "$URL" > "$TMP/inq" 2>&1 || fail "iscsi-inq failed: $(cat "$TMP/inq")"
grep -q "^Peripheral Device Type:MMC" "$TMP/inq" || fail "iscsi-inq does not show type 5: $(cat "$TMP/inq")"
grep -q "^Removable:1" "$TMP/inq" || fail "iscsi-inq does not show RMB=1: $(cat "$TMP/inq")"

# One initiator session kept open across the admin operations (its unit attentions matter).
coproc MMC { "$MMC_RAW" "$URL" - 2>"$TMP/mmc.err"; }
# bash unsets MMC_PID as soon as the coprocess is reaped: keep our own copy.
MMC_CHILD=$MMC_PID
cleanup_fn "kill $MMC_CHILD 2>/dev/null"
OUT= RC=
mmc() {  # mmc COMMAND...: runs it in the session; sets OUT (its lines) and RC
  echo "$*" >&"${MMC[1]}"
  OUT= RC=
  local line
  while IFS= read -r -t 30 line <&"${MMC[0]}"; do
    case $line in
      "END rc="*) RC=${line#END rc=}; return 0 ;;
      *) OUT+="$line"$'\n' ;;
    esac
  done
  fail "mmc_raw gave no answer to '$*' ($(cat "$TMP/mmc.err"))"
}
expect() {  # expect COMMAND... -- GREP-PATTERN: the command's output matches
  local args=() pat
  while [ "$1" != -- ]; do args+=("$1"); shift; done
  pat=$2
  mmc "${args[@]}"
  printf '%s' "$OUT" | grep -Eq -- "$pat" || fail "'${args[*]}' gave rc $RC: '$OUT', wanted /$pat/"
}

expect clearua -- "cleared="
expect inq -- "^type=5 rmb=1$"
expect capacity -- "^last_lba=299 block_size=2048$"
expect toc -- "^first=1 last=1 length=18$"
expect toc -- "^track=1 adrctl=0x14 addr=0$"
expect toc -- "^track=170 adrctl=0x14 addr=300$"          # lead-out 0xAA
expect toc msf -- "^track=1 adrctl=0x14 addr=0:2:0$"
expect toc msf -- "^track=170 adrctl=0x14 addr=0:6:0$"   # 300 + 150 frames = 6 s
expect session -- "^first_session=1 last_session=1 first_track=1 addr=0$"
expect tocfmt 2 -- "^sense 5/24/00$"
expect getconf -- "^profile=0x0008 features=0x0000\*,0x0001\*,0x0002\*,0x0003\*,0x0010\*,0x001e\*,0x001f$"
expect discinfo -- "^status=0x0e sessions=1 first_track=1 last_track=1$"
expect trackinfo -- "^track=1 session=1 start=0 size=300$"
expect events -- "^event=0 present=1 tray_open=0$"

# Sectors byte-identical to the image: the volume descriptors, data, the last sector.
expect read 16 4 "$TMP/r1" -- "^bytes=8192$"
cmp "$TMP/r1" <(dd if="$ISO1" bs=2048 skip=16 count=4 status=none) || fail "sectors 16-19 differ"
expect read 100 50 "$TMP/r2" -- "^bytes=102400$"
cmp "$TMP/r2" <(dd if="$ISO1" bs=2048 skip=100 count=50 status=none) || fail "sectors 100-149 differ"
expect read12 299 1 "$TMP/r3" -- "^bytes=2048$"
cmp "$TMP/r3" <(dd if="$ISO1" bs=2048 skip=299 count=1 status=none) || fail "the last sector differs"
expect read 299 2 "$TMP/r4" -- "^sense 5/21/00$"

# ---- PREVENT: START STOP UNIT eject and the admin's eject are refused.
expect prevent -- "^ok$"
expect eject -- "^sense 5/53/02$"
rc=0
adm --mode logicalunit --op eject --tid 1 --lun 1 > "$TMP/out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "the admin ejected a medium whose removal is prevented"
grep -qi "prevent" "$TMP/out" || fail "the refused eject does not name the prevention: $(cat "$TMP/out")"
expect tur -- "^ok$"
expect capacity -- "^last_lba=299 "

# ---- ALLOW: the admin ejects; NOT READY, tray open, a removal event once.
expect allow -- "^ok$"
adm --mode logicalunit --op eject --tid 1 --lun 1
expect tur -- "^sense 2/3a/02$"
expect capacity -- "^sense 2/3a/02$"
expect events -- "^event=3 present=0 tray_open=1$"
expect events -- "^event=0 present=0 tray_open=1$"
expect mechstatus -- "^door_open=1$"
expect getconf -- "^profile=0x0000 "

# ---- Load another image: UNIT ATTENTION 28/00 on the next command, then its capacity.
adm --mode logicalunit --op load --tid 1 --lun 1 --cfgstring "optical/$ISO2"
expect tur -- "^sense 6/28/00$"
expect capacity -- "^last_lba=499 block_size=2048$"
expect events -- "^event=2 present=1 tray_open=0$"
expect toc -- "^track=170 adrctl=0x14 addr=500$"
expect read 400 8 "$TMP/r5" -- "^bytes=16384$"
cmp "$TMP/r5" <(dd if="$ISO2" bs=2048 skip=400 count=8 status=none) || fail "ISO2 sectors differ"
# A second, fresh session sees the new medium too.
"$MMC_RAW" "$URL" clearua > /dev/null
"$MMC_RAW" "$URL" capacity | grep -q "^last_lba=499 " || fail "a new session does not see ISO2"

# ---- Changing the medium while prevented: refused, then --force.
expect prevent -- "^ok$"
rc=0
adm --mode logicalunit --op load --tid 1 --lun 1 --cfgstring "optical/$ISO1" > "$TMP/out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "the admin changed a medium whose removal is prevented"
expect capacity -- "^last_lba=499 "
adm --mode logicalunit --op load --tid 1 --lun 1 --cfgstring "optical/$ISO1" --force
expect tur -- "^sense 6/28/00$"
expect capacity -- "^last_lba=299 "
# A bad image for load: refused, the medium stays.
rc=0
adm --mode logicalunit --op load --tid 1 --lun 1 --cfgstring "optical/$TMP/bad.iso" --force \
  > "$TMP/out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "a non-ISO file was loaded"
grep -q "not an ISO 9660 image" "$TMP/out" || fail "no reason for the bad load: $(cat "$TMP/out")"
expect tur -- "^ok$"
expect capacity -- "^last_lba=299 "
expect allow -- "^ok$"

eval "exec ${MMC[1]}>&-"
wait "$MMC_CHILD" || true
stop_daemon
