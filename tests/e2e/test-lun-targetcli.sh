#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# targetcli-style LUN creation (issue 4, acceptance 3): --cfgstring SUBTYPE/CONFIG with
# --size in several units (READ CAPACITY), --bstype found from the subtype, --wwn in VPD
# 0x80 and 0x83 (the NAA derived from it), --hw-max-sectors and --control max_data_area_mb in
# VPD 0xB0, --control hw_block_size 512 and 4096 end to end (capacity, VPD, a qemu-img round
# trip byte-identical on each), --op check (the handler's reason, nothing created), and the
# config string rules (':' and a missing '/' refused).
source "$(dirname "$0")/functions.sh"
requires iscsi-readcapacity16 iscsi-inq qemu-img cmp python3
WATCH=$MODTGT_BUILD/tests/tools/capacity_watch
[ -x "$WATCH" ] || { [ "${CI:-}" = true ] && fail "$WATCH not built"; echo "SKIP: $WATCH not built" >&2; exit 77; }
IQN=iqn.2026-11.org.modtgt.test:targetcli
# Thin ram LUNs of up to 1T: the memory budget (bs_ram README) raised past them; nothing
# here writes more than a few blocks.
export MODTGT_RAM_BUDGET=4T
start_daemon
new_target 1 $IQN
url() { echo "iscsi://$PORTAL/$IQN/$1"; }
luns() { adm --mode logicalunit --op show --tid 1 --json | json_get '" ".join(str(l["lun"]) for l in j["luns"])'; }

# READ CAPACITY (16) of LUN $1 as "BYTES BLOCK_LENGTH".
capacity() {
  iscsi-readcapacity16 "$(url "$1")" > "$TMP/rc16" || fail "iscsi-readcapacity16 LUN $1 failed"
  local lba len
  lba=$(sed -n 's/^RETURNED LOGICAL BLOCK ADDRESS:\([0-9]*\)$/\1/p' "$TMP/rc16")
  len=$(sed -n 's/^LOGICAL BLOCK LENGTH IN BYTES:\([0-9]*\)$/\1/p' "$TMP/rc16")
  [ -n "$lba" ] && [ -n "$len" ] || fail "cannot parse READ CAPACITY: $(cat "$TMP/rc16")"
  echo "$(((lba + 1) * len)) $len"
}
# iscsi-inq reads the page code with atoi(): give it in decimal.
vpd() { iscsi-inq -e 1 -c $(($2)) "$(url "$1")"; }
max_transfer() { vpd "$1" 0xb0 | sed -n 's/^maximum transfer length:\([0-9]*\)$/\1/p'; }

# ---- sizes in units (powers of 1024) ----
lun=1
for spec in 64M:67108864 65536k:67108864 16MB:16777216 8192kB:8388608 8388608:8388608 \
            2g:2147483648 3GB:3221225472 1T:1099511627776 1tB:1099511627776 1048576B:1048576; do
  size=${spec%%:*} bytes=${spec##*:}
  adm --mode logicalunit --op new --tid 1 --lun $lun --bstype ram --cfgstring ram/u$lun --size "$size" ||
    fail "--size $size refused"
  got=$(capacity $lun)
  [ "$got" = "$bytes 512" ] || fail "--size $size: READ CAPACITY says '$got', expected '$bytes 512'"
  lun=$((lun + 1))
done
# --bstype omitted: found from the config string's subtype.
adm --mode logicalunit --op new --tid 1 --lun 11 --cfgstring ram/auto --size 1m
[ "$(capacity 11)" = "1048576 512" ] || fail "LUN 11 (bstype from subtype) has the wrong capacity"
[ "$(adm --mode logicalunit --op show --tid 1 --lun 11 --json | json_get 'j["luns"][0]["bstype"]')" = ram ] ||
  fail "LUN 11 is not a ram LUN"

# ---- wwn: VPD 0x80, 0x83 (T10 designator and the NAA derived from it), hw_max_sectors ----
WWN=7b1f0b2c-1e4d-4c5b-9a10-0123456789ab
adm --mode logicalunit --op new --tid 1 --lun 12 --bstype ram --cfgstring ram/wwn --size 64M \
  --wwn $WWN --hw-max-sectors 128
vpd 12 0x80 | grep -qxF "Unit Serial Number:[$WWN]" || fail "VPD 0x80 does not show the wwn: $(vpd 12 0x80)"
vpd 12 0x83 | grep -qF "Designator:[MODTGT  $WWN]" || fail "VPD 0x83 has no T10 designator with the wwn: $(vpd 12 0x83)"
want_naa=$(python3 -c '
import sys
h = 0xcbf29ce484222325
for b in sys.argv[1].encode():
    h = ((h ^ b) * 0x100000001b3) & (2**64 - 1)
print("%016x" % ((0x6001405 << 36) | (h & 0xfffffffff)))' $WWN)
naa=$("$WATCH" --naa "$(url 12)") || fail "reading VPD 0x83 failed"
case "$naa" in "naa $want_naa"*) ;; *) fail "VPD 0x83 NAA is '$naa', expected naa $want_naa... (from the wwn)";; esac
shown=$(adm --mode logicalunit --op show --tid 1 --lun 12 --json | json_get 'j["luns"][0]["naa"] + " " + j["luns"][0]["wwn"] + " " + str(j["luns"][0]["hw_max_sectors"])')
[ "$shown" = "0x$want_naa $WWN 128" ] || fail "show: '$shown'"
other=$("$WATCH" --naa "$(url 1)")
[ "$other" != "$naa" ] || fail "a LUN without --wwn has the same NAA"
[ "$(max_transfer 12)" = 128 ] || fail "VPD 0xB0 MAXIMUM TRANSFER LENGTH is '$(max_transfer 12)', expected 128"
# max_data_area_mb caps it: 1 MiB of 4096-byte blocks.
adm --mode logicalunit --op new --tid 1 --lun 13 --bstype ram --cfgstring ram/area --size 16M \
  --control max_data_area_mb=1,hw_block_size=4096
[ "$(max_transfer 13)" = 256 ] || fail "max_data_area_mb=1 with 4 KiB blocks: VPD 0xB0 says $(max_transfer 13), expected 256"

# ---- hw_block_size 512 and 4096 end to end ----
head -c 40M /dev/urandom > "$TMP/src"
for bs in 512 4096; do
  lun=$((20 + bs / 512))
  adm --mode logicalunit --op new --tid 1 --lun $lun --bstype ram --cfgstring ram/bs$bs --size 64M \
    --control hw_block_size=$bs --hw-max-sectors $((1048576 / bs))
  [ "$(capacity $lun)" = "67108864 $bs" ] || fail "hw_block_size=$bs: READ CAPACITY '$(capacity $lun)'"
  [ "$(max_transfer $lun)" = $((1048576 / bs)) ] || fail "hw_block_size=$bs: VPD 0xB0 says $(max_transfer $lun)"
  vpd $lun 0xb0 | grep -q "^optimal transfer length" || fail "no VPD 0xB0 for hw_block_size=$bs"
  qemu-img convert -n -f raw -O raw "$TMP/src" "$(url $lun)"
  qemu-img convert -f raw -O raw "$(url $lun)" "$TMP/back$bs"
  [ "$(stat -c %s "$TMP/back$bs")" = 67108864 ] || fail "hw_block_size=$bs: image size $(stat -c %s "$TMP/back$bs")"
  cmp -n $((40 << 20)) "$TMP/src" "$TMP/back$bs" || fail "hw_block_size=$bs: data read back differs"
  cmp -i $((40 << 20)) -n $((24 << 20)) "$TMP/back$bs" /dev/zero || fail "hw_block_size=$bs: tail not zeros"
  [ "$(adm --mode logicalunit --op show --tid 1 --lun $lun --json | json_get 'j["luns"][0]["block_size"]')" = $bs ] ||
    fail "show does not report block size $bs"
done

# ---- --op check: the handler's reason, nothing created ----
before=$(luns)
rc=0
adm --mode logicalunit --op check --tid 1 --lun 30 --bstype rdwr --cfgstring "rdwr/$TMP/missing.img" \
  > "$TMP/check.out" 2> "$TMP/check.err" || rc=$?
[ $rc -eq 9 ] || fail "check of a missing file gave exit $rc (expected 9, module-error): $(cat "$TMP/check.err")"
grep -q "cannot use '$TMP/missing.img': No such file or directory" "$TMP/check.err" ||
  fail "check did not print the handler's reason: $(cat "$TMP/check.err")"
[ "$(luns)" = "$before" ] || fail "a failed check changed the LUNs: $(luns)"
rc=0; adm --mode logicalunit --op new --tid 1 --lun 30 --bstype rdwr --cfgstring "rdwr/$TMP/missing.img" 2> "$TMP/new.err" || rc=$?
[ $rc -eq 9 ] || fail "new with a missing file gave exit $rc"
grep -q "No such file or directory" "$TMP/new.err" || fail "new did not give the reason: $(cat "$TMP/new.err")"
[ "$(luns)" = "$before" ] || fail "a failed new created a LUN"
truncate -s 8M "$TMP/present.img"
[ "$(adm --mode logicalunit --op check --tid 1 --lun 30 --cfgstring "rdwr/$TMP/present.img")" = ok ] ||
  fail "check of a good config did not print ok"
[ "$(luns)" = "$before" ] || fail "a good check created a LUN"
rc=0; adm --mode logicalunit --op check --tid 1 --lun 30 --bstype ram --cfgstring ram/x --size 1000 2> "$TMP/err" || rc=$?
[ $rc -eq 2 ] && grep -q "multiple of the block size" "$TMP/err" || fail "check of a bad size: exit $rc, $(cat "$TMP/err")"
rc=0; adm --mode logicalunit --op check --tid 1 --lun 30 --bstype ram --cfgstring ram/x --size 1M --control colour=blue 2> "$TMP/err" || rc=$?
[ $rc -eq 2 ] && grep -q "unknown --control key 'colour'" "$TMP/err" || fail "unknown control key: exit $rc, $(cat "$TMP/err")"

# ---- config string rules ----
for bad in "ram:x" "ram/a:b" "ramx"; do
  for op in new check; do
    rc=0; adm --mode logicalunit --op $op --tid 1 --lun 31 --bstype ram --cfgstring "$bad" --size 1M 2> "$TMP/err" || rc=$?
    [ $rc -eq 2 ] || fail "--op $op --cfgstring $bad gave exit $rc"
    case "$bad" in
      *:*) grep -q "contains ':'" "$TMP/err" || fail "no clear reason for '$bad': $(cat "$TMP/err")";;
      *) grep -q "has no '/'" "$TMP/err" || fail "no clear reason for '$bad': $(cat "$TMP/err")";;
    esac
  done
done
rc=0; adm --mode logicalunit --op new --tid 1 --lun 31 --bstype rdwr --cfgstring ram/x --size 1M 2> "$TMP/err" || rc=$?
[ $rc -eq 2 ] && grep -q "subtype 'ram'" "$TMP/err" || fail "subtype mismatch: exit $rc, $(cat "$TMP/err")"
rc=0; adm --mode logicalunit --op new --tid 1 --lun 31 --cfgstring "ram/x" -b /x --size 1M 2> "$TMP/err" || rc=$?
[ $rc -eq 2 ] || fail "--backing-store with --cfgstring was accepted"
rc=0; adm --mode logicalunit --op new --tid 1 --lun 31 --bstype ram --cfgstring ram/x --size 1M --wwn "a b" 2> "$TMP/err" || rc=$?
[ $rc -eq 2 ] && grep -q -- "--wwn" "$TMP/err" || fail "a wwn with a space: exit $rc, $(cat "$TMP/err")"
[ "$(luns)" = "$before" ] || fail "a refused request created a LUN"
stop_daemon
