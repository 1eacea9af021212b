#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The failover of test-rbd-alua-failover.sh with the Linux kernel's own multipath: two
# gateways (modtgtd on 127.0.0.1, target port group 1, and on 127.0.0.2, group 2) export
# one RBD image of a real single-node Ceph (ceph.sh) with explicit ALUA and the RBD
# exclusive lock; the test VM (vm/vm.sh: Debian's kernel, open-iscsi, scsi_dh_alua,
# dm-multipath and Debian's multipathd, see vm/README.md) logs in to both
# (10.0.2.100:3260 -> gateway A, 10.0.2.101:3260 -> gateway B) and runs verified 4 KiB
# O_DIRECT writes and reads through the dm-multipath device (vm/init-mpath.sh, vm/mpath-io.c).
#   - both gateways start as standbys; the guest's first I/O makes dm-multipath initialise
#     its first path group: scsi_dh_alua sends SET TARGET PORT GROUPS to that gateway (X),
#     which takes the RBD lock;
#   - X is killed with SIGKILL mid-I/O: dm-multipath fails the path once the iSCSI
#     session's replacement timeout (5 s) ends, switches to the other path group (Y),
#     scsi_dh_alua sends SET TARGET PORT GROUPS to Y, which breaks X's lock and takes it; no
#     I/O error may reach the application;
#   - X restarts from its saved configuration (a standby now); iscsid logs in again and
#     multipathd must reinstate the path, as a standby (Y stays active);
#   - afterwards every acknowledged write is on the image (rbd export, checked against the
#     last generation the guest saw acknowledged for each block).
# Prints the failover time: SIGKILL -> the host sees the guest's first completed I/O after
# it (console line, polled every 0.1 s), and the guest's own longest I/O stall.
# Environment: KERNEL_TEST_ACCEL, KERNEL_TEST_TIMEOUT (vm/vm.sh); KERNEL_TEST_KEEP=DIR
# keeps the console and the gateways' logs; KERNEL_TEST_MPATH_DEBUG=1 puts multipathd's
# whole log (-v3) on the console.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/ceph.sh"
source "$(dirname "$0")/gateways.sh"
source "$(dirname "$0")/vm/vm.sh"
rbd_requires
PROBE=$MODTGT_BUILD/tests/tools/alua_probe
[ -x "$PROBE" ] || fail "no $PROBE (libiscsi-dev missing at build time?)"
IQN=iqn.2026-11.org.modtgt.test:kernel-mpath
NAA=6001405a1a000002
BLOCKS=256   # 4 KiB blocks the guest uses (1 MiB of the image: most are written several times)
vm_build

keep_logs() {
  [ -n "${KERNEL_TEST_KEEP:-}" ] || return 0
  mkdir -p "$KERNEL_TEST_KEEP"
  cp -f "$CONSOLE" "$TMP"/a.log "$TMP"/b.log "$KERNEL_TEST_KEEP/" 2>/dev/null || true
}
cleanup_fn keep_logs
cleanup_fn 'for p in ${PID_a:-} ${PID_b:-}; do kill -KILL $p 2>/dev/null || true; done'

ceph_start
P=$CEPH_POOL
rbd_new kmp 64M
CFG="rbd/$P/kmp$CEPH_OPTS;lock=standby"
IDENT="scsi_sn=beafa1a0000002,naa=0x$NAA"

two_gateways

vm_fwd 10.0.2.100 127.0.0.1 "${PORTAL_A##*:}"
vm_fwd 10.0.2.101 127.0.0.2 "${PORTAL_B##*:}"
vm_boot "console=ttyS0 panic=-1 loglevel=4 kt_iqn=$IQN kt_mpath=1 kt_portal=10.0.2.100:3260 \
kt_portal2=10.0.2.101:3260 kt_naa=$NAA kt_blocks=$BLOCKS kt_mpdebug=${KERNEL_TEST_MPATH_DEBUG:-0}"
seen() { grep -qa "$1" "$CONSOLE"; }
vm_wait_for 300 seen '^KERNEL-MPATH-READY' || { show_console; fail "the guest's I/O did not start"; }
# The guest's first I/O made one gateway active (scsi_dh_alua's SET TARGET PORT GROUPS):
# X, the one to kill; Y the other.
case $(grep -a '^KERNEL-MPATH-READY' "$CONSOLE" | tr -d '\r') in
  *active=10.0.2.100:3260) X=a Y=b ADDR_X=127.0.0.1 PORT_X=${PORTAL_A##*:} ;;
  *active=10.0.2.101:3260) X=b Y=a ADDR_X=127.0.0.2 PORT_X=${PORTAL_B##*:} ;;
  *) fail "no active path named by the guest" ;;
esac
admx() { "$MODTGTADM" --socket "$TMP/$X.sock" "$@"; }
admy() { "$MODTGTADM" --socket "$TMP/$Y.sock" "$@"; }
[ "$(lu_state admx)" = active/optimized ] || fail "$X is not active/optimized under I/O: $(lu_state admx)"
[ "$(lu_state admy)" = standby ] || fail "$Y is not standby while $X is active: $(lu_state admy)"
info "the guest's multipath made gateway $X active/optimized; killing it"

# Kill X mid-I/O; the failover ends with the first I/O the guest completes after it (the
# guest prints "resumed" after any stall of 1 s or more).
resumed_before=$(grep -ac '^KERNEL-MPATH-IO: resumed' "$CONSOLE" || true)
t_kill=$(date +%s%N)
kill -KILL "$(eval echo "\$PID_$X")"
wait "$(eval echo "\$PID_$X")" 2>/dev/null || true
eval "PID_$X="
resumed() { [ "$(grep -ac '^KERNEL-MPATH-IO: resumed' "$CONSOLE")" -gt "$resumed_before" ]; }
vm_wait_for 120 resumed || { show_console; fail "the guest's I/O did not resume after the kill"; }
t_resumed=$(date +%s%N)
FAILOVER_MS=$(( (t_resumed - t_kill) / 1000000 ))
STALL=$(grep -a '^KERNEL-MPATH-IO: resumed' "$CONSOLE" | sed -n "$((resumed_before + 1))p" | tr -d '\r')
STALL=${STALL#KERNEL-MPATH-IO: }
info "failover: SIGKILL of $X -> first I/O completed in the guest: $FAILOVER_MS ms (host view); guest: $STALL"
y_active() { [ "$(lu_state admy)" = active/optimized ]; }
wait_for 30 y_active || fail "$Y is not active/optimized after the failover: $(lu_state admy)"
vm_wait_for 120 seen '^KERNEL-ISCSI-STEP: I/O goes on through the other path' ||
  { show_console; fail "no I/O through $Y"; }

# X comes back from its saved configuration, on the same portal, as a standby.
t_restart=$(date +%s%N)
gw $X $ADDR_X "$PORT_X"
x_standby() { [ "$(lu_state admx)" = standby ]; }
wait_for 30 x_standby || fail "$X did not come back as a standby: $(lu_state admx)"
PORTAL_X=$ADDR_X:$PORT_X
out=$("$PROBE" "iscsi://$PORTAL_X/$IQN/1" tur)
[ "$out" = "status=0x02 sense=2/04/0b" ] || fail "TEST UNIT READY on restarted $X: $out"
vm_wait_for 180 seen '^KERNEL-ISCSI-STEP: path reinstated' ||
  { show_console; fail "multipathd did not reinstate the path to $X"; }
REINSTATE_MS=$(( ($(date +%s%N) - t_restart) / 1000000 ))
info "path to $X reinstated $REINSTATE_MS ms after its restart (host view)"
vm_wait_end
vm_result
grep -a '^KERNEL-MPATH-IO: done' "$CONSOLE" >&2
[ "$(lu_state admy)" = active/optimized ] || fail "$Y is not active/optimized at the end: $(lu_state admy)"
[ "$(lu_state admx)" = standby ] || fail "$X is not standby at the end: $(lu_state admx)"

# Every acknowledged write is on the image, read straight through librbd; blocks the guest
# never wrote are still zero.
grep -a '^KERNEL-MPATH-MODEL: ' "$CONSOLE" | tr -d '\r' | cut -d' ' -f2- > "$TMP/model"
rbdc export --no-progress "$P/kmp" "$TMP/export"
python3 - "$TMP/export" "$TMP/model" $BLOCKS <<'PY' || fail "the image does not hold every acknowledged write"
import struct, sys
img = open(sys.argv[1], "rb").read()
model = dict(map(int, line.split()) for line in open(sys.argv[2]))
blocks = int(sys.argv[3])
assert len(model) >= blocks // 2, f"only {len(model)} blocks in the guest's model"
for block in range(blocks):
    d = img[block * 4096:(block + 1) * 4096]
    gen = model.get(block)
    if gen is None:
        assert d == b"\0" * 4096, f"block {block} was never written but is not zero"
        continue
    for off in range(0, 4096, 16):
        magic, b, g, mix = struct.unpack_from("<4sIII", d, off)
        want = (block * 2654435761 ^ gen ^ off) & 0xffffffff
        assert (magic, b, g, mix) == (b"MTGT", block, gen, want), \
            f"block {block}: holds {magic!r} block {b} gen {g}, last acknowledged gen {gen}"
print(f"# {len(model)} written blocks verified, {blocks - len(model)} untouched", file=sys.stderr)
PY
info "failover timeline: SIGKILL of gateway $X -> first completed I/O in the guest = $FAILOVER_MS ms; guest $STALL; reinstated $REINSTATE_MS ms after the restart"
stop_gateways
