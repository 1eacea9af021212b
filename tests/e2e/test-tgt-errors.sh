#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Acceptance (issue 10, 4): every error of the tgt-compatible paths (tgtadm options and
# modes, target parameters, system settings, sessions and connections, portals, LUN
# parameters tgt has and modtgt does not, statistics, the targets.conf import) is a clear
# message and the exit status of its error, through modtgtadm and through the tgtadm name;
# nothing changes, and the daemon keeps serving (iSCSI and admin) until
# `--mode system --op delete` stops it cleanly.
source "$(dirname "$0")/functions.sh"
requires python3 iscsi-inq
start_daemon
IQN=iqn.2026-11.org.modtgt.test:errors
BIN=$TMP/bin
mkdir -p "$BIN"
ln -s "$MODTGTADM" "$BIN/tgtadm"

# expect CODE PATTERN ARGS...: modtgtadm ARGS fails with exit CODE, saying PATTERN.
expect() {
  local code=$1 pat=$2 rc=0
  shift 2
  adm "$@" > "$TMP/out" 2>&1 || rc=$?
  [ $rc -eq "$code" ] || fail "'modtgtadm $*': exit $rc, expected $code: $(cat "$TMP/out")"
  grep -qE -e "$pat" "$TMP/out" || fail "'modtgtadm $*' said '$(cat "$TMP/out")', expected /$pat/"
  grep -q "^modtgtadm: " "$TMP/out" || fail "'modtgtadm $*': the message does not say who: $(cat "$TMP/out")"
}

new_target 1 "$IQN"
truncate -s 16M "$TMP/d.img"
adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$TMP/d.img"
adm --mode system --op dump > "$TMP/before.dump"

# ---- the command line (exit 2, 12 for tgt options modtgt has no use for) ----
expect 2 "unknown option --frob" --mode system --op show --frob
expect 2 "ambiguous \(--backing-store, --bstype, --bsopts, --bsoflags, --blocksize, --bus\)" \
  --mode system --op show --b x
expect 2 "--control-port needs a number from 0 to 65535" -C 70000 --mode system --op show
expect 2 "--name and --value \(or --params\) are required" --mode target --op update --tid 1
expect 2 "--sid is required" --mode conn --op delete --tid 1 --cid 0
expect 2 "--params portal=ADDR:PORT is required" --mode portal --op delete
expect 12 "--bus binds a SCSI host" --mode target --op bind --tid 1 --bus pci,0
expect 12 "--host binds a SCSI host" --mode target --op bind --tid 1 --host 3

# ---- target parameters ----
expect 2 "unknown target parameter 'Bogus' \(known: nop_interval.*MaxQueueCmd\)" \
  --mode target --op update --tid 1 --name Bogus --value 1
expect 2 "MaxRecvDataSegmentLength: '100' is not a number in 512..16777215" \
  --mode target --op update --tid 1 -n MaxRecvDataSegmentLength -v 100
expect 2 "HeaderDigest: 'crc32c' is not None, CRC32C" \
  --mode target --op update --tid 1 -n HeaderDigest -v crc32c
expect 2 "InitialR2T: 'maybe' is not Yes or No" --mode target --op update --tid 1 -n InitialR2T -v maybe
expect 2 "MaxConnections: '0' is not a number in 1..65535" \
  --mode target --op update --tid 1 -n MaxConnections -v 0
expect 2 "ErrorRecoveryLevel: '3' is not a number in 0..2" \
  --mode target --op update --tid 1 -n ErrorRecoveryLevel -v 3
expect 12 "DataPDUInOrder No: only Yes is possible" \
  --mode target --op update --tid 1 -n DataPDUInOrder -v No
expect 12 "RDMAExtensions is an iSER key" --mode target --op update --tid 1 -n RDMAExtensions -v Yes
expect 2 "state 'sleeping': must be ready or offline" --mode target --op update --tid 1 -n state -v sleeping
expect 3 "no target 9" --mode target --op update --tid 9 -n InitialR2T -v Yes
# all or nothing: one bad pair among good ones changes nothing
expect 2 "MaxBurstLength" --mode target --op update --tid 1 -P "InitialR2T=Yes,MaxBurstLength=1"
adm --mode target --op show --tid 1 | grep -qx "InitialR2T=No" || fail "a refused update changed InitialR2T"

# ---- system settings ----
expect 2 "unknown system parameter 'Colour'" --mode system --op update -n Colour -v blue
expect 2 "State: state 'asleep': must be ready or offline" --mode system --op update -n State -v asleep
expect 2 "debug: must be on or off" --mode system --op update -n debug -v loud
expect 12 "iSNSServerIP: modtgt has no iSNS client" --mode system --op update -n iSNSServerIP -v 192.0.2.1

# ---- sessions, connections, portals, LLDs ----
expect 17 "no session 99" --mode session --op show --sid 99
expect 17 "no session 99 in target 1" --mode conn --op delete --tid 1 --sid 99 --cid 0
expect 3 "no target 5" --mode conn --op show --tid 5
expect 19 "no iscsi portal 127.0.0.1:1 .*portal --op show" --mode portal --op delete --param portal=127.0.0.1:1
expect 2 "bad port in portal" --mode portal --op new --param portal=127.0.0.1:99999
expect 2 "only iscsi is supported" --lld iser --mode target --op show
expect 8 "no transport module|not" --mode lld --op start --lld nosuch

# ---- LUN parameters tgt has and modtgt does not, and bad ones ----
lu() { expect "$1" "$2" --mode logicalunit --op update --tid 1 --lun 1 --params "$3"; }
lu 12 "page 10 subpage 0 cannot be set by the administrator" "mode_page=10:0:10:2:0:0:0:0:0:0:0:2:0"
lu 2 "LENGTH 18 but 2 bytes given" "mode_page=8:0:18:1:2"
lu 12 "parameter lbppbe is not supported" "lbppbe=3"
lu 12 "media changer \(SMC\)" "element_type=2"
lu 2 "parameter sense_format='x': expected 0 or 1" "sense_format=x"
lu 2 "unknown parameter 'colour'" "colour=red"
lu 12 "the backing store of a disk LUN cannot change" "path=/tmp/other.img"
expect 12 "device type tape: modtgt emulates disks \(disk\) and CD/DVD drives \(cd\) only" \
  --mode logicalunit --op new --tid 1 --lun 2 --backing-store "$TMP/d.img" -Y tape
expect 12 "bs-type sg: modtgt has no such backing store" \
  --mode logicalunit --op new --tid 1 --lun 2 --backing-store /dev/sg0 --bstype sg
expect 5 "no LUN 7 in target 1" --mode logicalunit --op stat --tid 1 --lun 7
expect 3 "no target 4" --mode target --op stat --tid 4

# ---- targets.conf import ----
expect 2 "no-such.conf: no such file" --import-tgt "$TMP/no-such.conf"
printf '<target %s:x>\n  backing-store %s\n' "$IQN" "$TMP/d.img" > "$TMP/open.conf"
expect 2 "open.conf:1: <target> is never closed" --import-tgt "$TMP/open.conf"
printf '<target %s:x>\n</backing-store>\n</target>\n' "$IQN" > "$TMP/mismatch.conf"
expect 2 "mismatch.conf:2: </backing-store> closes <target> opened at" --import-tgt "$TMP/mismatch.conf"
printf 'default-driver iser\n' > "$TMP/iser.conf"
expect 2 "default-driver iser: modtgt's transport is iscsi" --import-tgt "$TMP/iser.conf"
printf '<target %s:y>\n  backing-store %s\n  device-type tape\n</target>\n' "$IQN" "$TMP/d.img" > "$TMP/tape.conf"
expect 2 "tape.conf:3: device type tape" --import-tgt "$TMP/tape.conf"
printf '<target %s:z>\n  backing-store %s/missing.img\n</target>\n' "$IQN" "$TMP" > "$TMP/missing.conf"
expect 2 "missing.img': No such file or directory" --import-tgt "$TMP/missing.conf"
printf 'include %s/nowhere.conf\n' "$TMP" > "$TMP/inc.conf"
expect 2 "inc.conf:1: include .*nowhere.conf: no such file" --import-tgt "$TMP/inc.conf"
printf '<target %s:w>\n  incominguser onlyuser\n</target>\n' "$IQN" > "$TMP/user.conf"
expect 2 "user.conf:2: incominguser needs a user and a password" --import-tgt "$TMP/user.conf"

# ---- through the tgtadm name: the same errors, said as tgtadm ----
rc=0
MODTGT_SOCKET=$SOCK "$BIN/tgtadm" --mode target --op update --tid 1 -n Bogus -v 1 > "$TMP/out" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "tgtadm link: exit $rc"
grep -q "^tgtadm: unknown target parameter 'Bogus'" "$TMP/out" || fail "tgtadm link said: $(cat "$TMP/out")"

# Nothing changed, and the daemon serves.
adm --mode system --op dump | diff -u "$TMP/before.dump" - || fail "a refused request changed the configuration"
iscsi-inq "iscsi://$PORTAL/$IQN/1" > /dev/null || fail "the LU does not answer INQUIRY"

# ---- system delete: the daemon stops cleanly (its configuration stays saved) ----
adm --mode system --op delete || fail "system delete failed"
rc=0
wait "$DAEMON_PID" || rc=$?
DAEMON_PID=
[ $rc -eq 0 ] || fail "modtgtd exited with $rc after system delete"
grep -q "iqn.2026-11.org.modtgt.test:errors" "$CONFIG" || fail "the configuration was not kept"
info "ok"
