#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Linux kernel's own iSCSI initiator (open-iscsi: iscsid + iscsiadm + iscsi_tcp) in a
# small KVM guest discovers the target, logs in, reads a region the host wrote, writes
# 8 MiB (4 MiB and 4 KiB O_DIRECT writes), reads it back, compares and logs out; then the
# host checks the backing file holds exactly what the guest wrote.
#
# The guest (Debian's kernel, downloaded as a package and unpacked, never installed on this
# machine, + an initramfs built by vm/build-initramfs.sh, cached under
# $MODTGT_BUILD/vm-cache) reaches the target only through qemu user networking with
# restrict=on and one guestfwd rule, 10.0.2.100:3260 -> vm/relay.py -> 127.0.0.1:$PORT:
# the guest has no other network. See vm/README.md.
#
# Environment:
#   KERNEL_TEST_TARGET=modtgt|tgt  target under test (default modtgt); tgt runs Debian's
#                                  tgtd the same way, to tell a harness bug from a target bug
#   KERNEL_TEST_DIGEST=None|CRC32C header and data digests the guest asks for (default None)
#   KERNEL_TEST_TIMEOUT=SECS       hard limit for the VM run (default 180 with KVM, 900 TCG)
#   KERNEL_TEST_KEEP=DIR           copy the guest console log and the target log there
#   KERNEL_TEST_ISCSID_DEBUG=N     iscsid debug level in the guest (default 0)
#   KERNEL_TEST_CHAP=1             CHAP instead of the write test (modtgt only): discovery
#                                  with CHAP, a login with a wrong secret refused, then one
#                                  login per algorithm (SHA3-256 mutual, SHA256, SHA1 mutual,
#                                  MD5), each reading the host region back; the target's log
#                                  must show each one (test-kernel-open-iscsi-chap.sh)
KERNEL_TEST_TARGET=${KERNEL_TEST_TARGET:-modtgt}
if [ "$KERNEL_TEST_TARGET" = tgt ] && [ -z "${MODTGT_BUILD:-}" ]; then
  MODTGT_BUILD=${TMPDIR:-/tmp}/modtgt-kernel-vm   # only the VM cache lives there
fi
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/vm/vm.sh"
requires cmp sha256sum
[ "$KERNEL_TEST_TARGET" = tgt ] && requires tgtd tgtadm
CHAP=${KERNEL_TEST_CHAP:-0}
[ "$CHAP" = 1 ] && [ "$KERNEL_TEST_TARGET" != modtgt ] && fail "KERNEL_TEST_CHAP needs modtgt"
CHAP_RUNS=SHA3-256:mutual,SHA256:oneway,SHA1:mutual,MD5:oneway

IQN=iqn.2026-11.org.modtgt.test:kernel
DIGEST=${KERNEL_TEST_DIGEST:-None}
MiB=1048576
LUN_MIB=64
ROFF=32 RLEN=4     # host-written region (MiB) the guest must read back
WOFF=0 WOFF2=16    # where the guest writes the 8 MiB pattern, and its first MiB again

keep_logs() {
  [ -n "${KERNEL_TEST_KEEP:-}" ] || return 0
  mkdir -p "$KERNEL_TEST_KEEP"
  cp -f "$CONSOLE" "$KERNEL_TEST_KEEP/console.log" 2>/dev/null || true
  cp -f "$LOG" "$KERNEL_TEST_KEEP/target.log" 2>/dev/null || true
}
cleanup_fn keep_logs

vm_build

# ---- the LUN's backing file: zeros, plus a region the host writes for the guest to read -
LUN=$TMP/lun.img
truncate -s ${LUN_MIB}M "$LUN"
python3 - "$LUN" $ROFF $RLEN <<'PY'
import random, sys
path, off, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(7143)
with open(path, "r+b") as f:
    f.seek(off << 20)
    f.write(rng.getrandbits(8 * (n << 20)).to_bytes(n << 20, "little"))
PY
RSUM=$(dd if="$LUN" bs=$MiB skip=$ROFF count=$RLEN status=none | sha256sum | cut -d' ' -f1)
cp "$LUN" "$TMP/lun.orig"

# ---- the target --------------------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
start_tgt() {
  local ctrl i
  # tgtd's control socket is /var/run/tgtd/socket.CTRL: pick one no other tgtd uses.
  for i in $(seq 1 20); do
    ctrl=$((2000 + RANDOM % 30000))   # tgtd accepts at most 32767
    [ -e /var/run/tgtd/socket.$ctrl ] || break
  done
  PORT=$(free_port)
  PORTAL=127.0.0.1:$PORT
  setsid tgtd -f --iscsi portal=$PORTAL -C $ctrl >> "$LOG" 2>&1 < /dev/null &
  TGTD_PID=$!
  # tgtd 1.0.85 ignores SIGTERM: SIGKILL it, then remove its control socket.
  cleanup_fn "kill -KILL $TGTD_PID 2>/dev/null; wait $TGTD_PID 2>/dev/null; rm -f /var/run/tgtd/socket.$ctrl /var/run/tgtd/socket.$ctrl.lock"
  wait_for 20 tgtadm -C $ctrl --mode system --op show || fail "tgtd did not start"
  local A="tgtadm -C $ctrl --lld iscsi"
  $A --mode target --op new --tid 1 --targetname $IQN
  $A --mode logicalunit --op new --tid 1 --lun 1 --bstype rdwr --backing-store "$LUN"
  $A --mode target --op bind --tid 1 --initiator-address ALL
  if [ "$DIGEST" != None ]; then   # tgt offers only None unless told otherwise
    $A --mode target --op update --tid 1 --name HeaderDigest --value "CRC32C,None"
    $A --mode target --op update --tid 1 --name DataDigest --value "CRC32C,None"
  fi
  info "tgtd pid $TGTD_PID on $PORTAL"
}
case $KERNEL_TEST_TARGET in
  modtgt)
    start_daemon --log-level debug
    new_target 1 $IQN
    adm --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$LUN"
    if [ "$CHAP" = 1 ]; then
      echo kernel-initiator-1 | adm --mode account --op new --user kuser --password -
      echo kernel-target-22 | adm --mode account --op new --user ktarget --password -
      echo kernel-discovery-3 | adm --mode account --op new --user kdisc --password -
      adm --mode account --op bind --tid 1 --user kuser
      adm --mode account --op bind --tid 1 --user ktarget --outgoing
      adm --mode account --op bind --tid 0 --user kdisc
    fi
    ;;
  tgt) start_tgt ;;
  *) fail "KERNEL_TEST_TARGET must be modtgt or tgt" ;;
esac

# ---- boot the guest ----------------------------------------------------------------------
vm_fwd 10.0.2.100 127.0.0.1 "$PORT"
APPEND="console=ttyS0 panic=-1 loglevel=4 kt_portal=10.0.2.100:3260 kt_iqn=$IQN"
APPEND+=" kt_size=$((LUN_MIB * MiB)) kt_roff=$ROFF kt_rlen=$RLEN kt_rsum=$RSUM"
APPEND+=" kt_woff=$WOFF kt_woff2=$WOFF2 kt_digest=$DIGEST kt_debug=${KERNEL_TEST_ISCSID_DEBUG:-0}"
if [ "$CHAP" = 1 ]; then
  APPEND+=" kt_chap_user=kuser kt_chap_secret=kernel-initiator-1 kt_chap_tuser=ktarget"
  APPEND+=" kt_chap_tsecret=kernel-target-22 kt_disc_user=kdisc kt_disc_secret=kernel-discovery-3"
  APPEND+=" kt_chap_runs=$CHAP_RUNS kt_chap_bad=1"
fi
info "target $KERNEL_TEST_TARGET, digest $DIGEST"
vm_boot "$APPEND"
vm_wait_end
vm_result

if [ "$CHAP" = 1 ]; then
  # The target saw each login as the guest ran it.
  grep -q "discovery session tsih [0-9]*: .* CHAP user 'kdisc' (MD5)" "$LOG" ||
    fail "no discovery session with CHAP in the target's log"
  grep -q "login refused with status 0x0201 (authentication failure): .* CHAP: user 'kuser': wrong response" "$LOG" ||
    fail "the wrong secret was not refused"
  for r in $(tr ',' ' ' <<<"$CHAP_RUNS"); do
    alg=${r%%:*} mode=${r#*:}
    case $alg in SHA256) alg=SHA-256;; SHA1) alg=SHA-1;; esac
    want="CHAP user 'kuser' ($alg)"
    [ "$mode" = mutual ] && want="CHAP user 'kuser' ($alg, mutual)"
    grep -qF "$want" "$LOG" || fail "no session with $want in the target's log"
  done
  for secret in kernel-initiator-1 kernel-target-22 kernel-discovery-3; do
    if grep -qF "$secret" "$LOG"; then fail "a secret reached the log: $secret"; fi
  done
  stop_daemon
  info "PASS: CHAP logins ($CHAP_RUNS) against modtgt"
  exit 0
fi

# ---- the host's view of what the guest wrote ----------------------------------------------
PAT=$CACHE/pattern.bin
cmp -n $((8 * MiB)) -i 0:$((WOFF * MiB)) "$PAT" "$LUN" ||
  fail "backing file at $WOFF MiB differs from the 8 MiB the guest wrote"
cmp -n $MiB -i 0:$((WOFF2 * MiB)) "$PAT" "$LUN" ||
  fail "backing file at $WOFF2 MiB differs from the 1 MiB the guest wrote in 4 KiB writes"
# Everything else is as the host left it.
cmp -n $(((WOFF2 - WOFF - 8) * MiB)) -i $(((WOFF + 8) * MiB)):$(((WOFF + 8) * MiB)) \
  "$TMP/lun.orig" "$LUN" || fail "the guest's writes changed data past their end"
cmp -i $(((WOFF2 + 1) * MiB)):$(((WOFF2 + 1) * MiB)) "$TMP/lun.orig" "$LUN" ||
  fail "data after the 4 KiB-written region changed"
[ "$(stat -c %s "$LUN")" = $((LUN_MIB * MiB)) ] || fail "backing file size changed"
[ "$KERNEL_TEST_TARGET" = modtgt ] && stop_daemon
info "PASS against $KERNEL_TEST_TARGET"
