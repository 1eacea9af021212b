#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# examples/bs_file_takeover (full CDB takeover through handle_cmd, NOT_HANDLED for the
# rest), loaded by path at run time:
#   - a qemu-img round trip of 64 MiB of random data is byte-identical (READ/WRITE(10/16)
#     executed by the module's handle_cmd);
#   - takeover_probe rw: WRITE(10) FUA + WRITE(16) (module), read back by READ(10),
#     READ(16) (module) and READ(12) (the core, through the read callout); SYNCHRONIZE
#     CACHE(10) in range GOOD, beyond the end LBA OUT OF RANGE (MODTGT_STS_*);
#   - READ(16) beyond the end: ILLEGAL REQUEST / LBA OUT OF RANGE (05/21/00) with the
#     INFORMATION field the module set through cmd_set_sense_ex;
#   - FORMAT UNIT with IMMED=1: GOOD at once, then TEST UNIT READY is NOT READY /
#     FORMAT IN PROGRESS (02/04/04) with a PROGRESS INDICATION that grows, then GOOD; the
#     whole LUN then reads zeros (and so does the file);
#   - FORMAT UNIT without IMMED (MODTGT_STS_ASYNC + host->cmd_complete from the module's
#     format thread): it does not complete before another session saw FORMAT IN PROGRESS,
#     and TEST UNIT READY is GOOD right after it completes;
#   - the module's close() statistics prove which path did the I/O (handle_cmd reads and
#     writes > 0, callout reads > 0 from READ(12)).
source "$(dirname "$0")/functions.sh"
requires qemu-img cmp python3
PROBE=$MODTGT_BUILD/tests/tools/takeover_probe
SO=$MODTGT_BUILD/examples/backing-store/bs_file_takeover.so
[ -x "$PROBE" ] || fail "$PROBE not built (needs libiscsi-dev)"
[ -f "$SO" ] || fail "$SO not built"
IQN=iqn.2026-11.org.modtgt.test:takeover

start_daemon
adm --mode system --op bsload --path "$SO"
caps=$(adm --mode system --op show --json |
       json_get '" ".join([m for m in j["modules"] if m["name"] == "file_takeover"][0]["capabilities"])')
case " $caps " in *" handle_cmd "*) ;; *) fail "file_takeover does not list handle_cmd: $caps" ;; esac

new_target 1 $IQN
truncate -s 64M "$TMP/disk.img"
rc=0
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype file_takeover \
  --backing-store "file_takeover/$TMP/disk.img" --bsopts format_rate=fast 2>"$TMP/err" || rc=$?
[ $rc -ne 0 ] || fail "a LUN with a bad format_rate was created"
grep -q "format_rate" "$TMP/err" || fail "no reason for the bad format_rate: $(cat "$TMP/err")"

# 64 MiB zeroed at 48 MiB/s: the format takes about 1.3 s, long enough to watch.
adm --mode logicalunit --op new --tid 1 --lun 1 --bstype file_takeover \
  --backing-store "file_takeover/$TMP/disk.img" --bsopts format_rate=48M
URL="iscsi://$PORTAL/$IQN/1"

# ---- data path ----
head -c 64M /dev/urandom > "$TMP/src"
qemu-img convert -n -f raw -O raw "$TMP/src" "$URL" || fail "qemu-img write failed"
qemu-img convert -f raw -O raw "$URL" "$TMP/back" || fail "qemu-img read failed"
cmp "$TMP/src" "$TMP/back" || fail "data read back differs"
cmp "$TMP/src" "$TMP/disk.img" || fail "the backing file does not hold the data written"
info "qemu-img round trip: 64 MiB identical"
"$PROBE" "$URL" rw 256 > "$TMP/rw" || { cat "$TMP/rw" >&2; fail "takeover_probe rw"; }
tail -n 1 "$TMP/rw" >&2

# ---- out of range: the module's own sense ----
NB=$(( (64 << 20) / 512 ))
"$PROBE" "$URL" read $((NB - 1)) 2 > "$TMP/oor" || fail "takeover_probe read"
cat "$TMP/oor" >&2
grep -q "status=0x02 sense=05/21/00 info=$((NB - 1))\$" "$TMP/oor" ||
  fail "READ(16) beyond the end: not ILLEGAL REQUEST / LBA OUT OF RANGE with INFORMATION $((NB - 1))"
"$PROBE" "$URL" read $((NB - 1)) 1 | grep -q "status=0x00" || fail "READ(16) of the last block failed"

# ---- FORMAT UNIT, IMMED=1: progress through TEST UNIT READY ----
"$PROBE" "$URL" format-progress > "$TMP/fmt" || { cat "$TMP/fmt" >&2; fail "format-progress"; }
cat "$TMP/fmt" >&2
"$PROBE" "$URL" zeros > "$TMP/zeros" || { cat "$TMP/zeros" >&2; fail "not all zeros after FORMAT UNIT"; }
tail -n 1 "$TMP/zeros" >&2
cmp -n $((64 << 20)) "$TMP/disk.img" /dev/zero || fail "the file is not zeroed after FORMAT UNIT"

# ---- FORMAT UNIT without IMMED: completes only when the format is done ----
qemu-img convert -n -f raw -O raw "$TMP/src" "$URL" || fail "qemu-img rewrite failed"
"$PROBE" "$URL" format-wait > "$TMP/fmtw" || { cat "$TMP/fmtw" >&2; fail "format-wait"; }
cat "$TMP/fmtw" >&2
took=$(sed -n 's/^format-wait: FORMAT ended after \([0-9.]*\) s.*/\1/p' "$TMP/fmtw")
python3 -c "import sys; sys.exit(0 if float('$took') >= 1.0 else 1)" ||
  fail "FORMAT UNIT without IMMED ended after $took s; zeroing 64 MiB at 48 MiB/s takes ~1.3 s"
cmp -n $((64 << 20)) "$TMP/disk.img" /dev/zero || fail "the file is not zeroed after FORMAT UNIT (no IMMED)"

# ---- which path did the I/O: the module's statistics at close ----
adm --mode logicalunit --op delete --tid 1 --lun 1
wait_for 10 grep -q "closed '$TMP/disk.img'" "$LOG" || fail "no close statistics in the log"
stats=$(grep "closed '$TMP/disk.img'" "$LOG" | tail -n 1)
info "$stats"
python3 - "$stats" <<'PY' || fail "the statistics do not show the takeover path doing the I/O"
import re, sys
m = re.search(r"handle_cmd did (\d+) reads, (\d+) writes, (\d+) formats; "
              r"callouts did (\d+) reads, (\d+) writes", sys.argv[1])
assert m, sys.argv[1]
tr, tw, fm, cr, cw = map(int, m.groups())
# qemu-img moves 64 MiB twice in each direction in chunks of at most 2 MiB (hw_max).
# At least: 64 x 1 MiB READ(16) of `zeros`, READ(10)+READ(16) of `rw`; WRITE(10)+WRITE(16)
# of `rw` and qemu-img's writes.
assert tr >= 66 and tw >= 4, (tr, tw)
assert fm == 2, fm
assert cr >= 1, cr  # READ(12) of takeover_probe rw: the core's, through the read callout
PY

# ---- close() stops a running format: delete the LUN in the middle of a slow one ----
truncate -s 64M "$TMP/slow.img"
adm --mode logicalunit --op new --tid 1 --lun 2 --bstype file_takeover \
  --backing-store "file_takeover/$TMP/slow.img" --bsopts format_rate=1M
URL2="iscsi://$PORTAL/$IQN/2"
"$PROBE" "$URL2" format-start | grep -q "status=0x00" || fail "FORMAT UNIT (IMMED) on LUN 2"
"$PROBE" "$URL2" tur > "$TMP/tur2"
grep -q "sense=02/04/04 progress=" "$TMP/tur2" || fail "LUN 2 is not formatting: $(cat "$TMP/tur2")"
t0=$SECONDS
adm --mode logicalunit --op delete --tid 1 --lun 2  # a 64 s format is under way
[ $((SECONDS - t0)) -le 5 ] || fail "deleting a formatting LUN took $((SECONDS - t0)) s"
wait_for 10 grep -q "closed during a FORMAT UNIT" "$LOG" || fail "close() did not report the stopped format"
adm --mode system --op bsunload --bstype file_takeover
stop_daemon
