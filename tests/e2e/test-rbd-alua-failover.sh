#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Two gateways with ALUA in front of one RBD image of a real cluster, and a failover under
# I/O with nothing lost. Gateway A (127.0.0.1, target port group 1) and gateway B
# (127.0.0.2, group 2) export the image under the same target name and LUN identity, both
# LUNs opened with lock=standby, explicit ALUA. tests/tools/alua_mpath (libiscsi, two sessions, multipath
# logic) makes A active/optimized with SET TARGET PORT GROUPS and writes and reads verified
# 4 KiB blocks. A is killed with SIGKILL mid-I/O; the initiator fails over to B (which
# takes the RBD exclusive lock, breaking the dead gateway's) and goes on: no I/O error may
# reach it. A comes back from its saved configuration (ALUA group included) as a standby;
# the initiator moves back to A; B, whose lock A broke, turns standby and its writes no
# longer reach the image. Then implicit ALUA: a write on standby B (alua_mode=both) moves the
# lock back to B. Finally every acknowledged write is on the image (rbd export).
# Prints the failover timeline (kill -> first I/O completed on B) and the move back.
source "$(dirname "$0")/functions.sh"
source "$(dirname "$0")/ceph.sh"
source "$(dirname "$0")/gateways.sh"
rbd_requires
requires python3
MPATH=$MODTGT_BUILD/tests/tools/alua_mpath
PROBE=$MODTGT_BUILD/tests/tools/alua_probe
[ -x "$MPATH" ] && [ -x "$PROBE" ] || fail "no $MPATH or $PROBE (libiscsi-dev missing at build time?)"
IQN=iqn.2026-11.org.modtgt.test:rbd-alua
BLOCKS=2048   # 4 KiB blocks the initiator uses (8 MiB of the image)
ceph_start
P=$CEPH_POOL
rbd_new mp 64M
CFG="rbd/$P/mp$CEPH_OPTS;lock=standby"
IDENT="scsi_sn=beafa1a0000001,naa=0x6001405a1a000001"

cleanup_fn 'for p in ${PID_a:-} ${PID_b:-} ${PID_MP:-}; do kill -KILL $p 2>/dev/null || true; done; tail -n 15 $TMP/a.log $TMP/b.log $TMP/mpath.out >&2 || true'

two_gateways
# A standby path refuses I/O with NOT READY, TARGET PORT IN STANDBY STATE (02/04/0b).
out=$("$PROBE" "iscsi://$PORTAL_B/$IQN/1" read16 0)
[ "$out" = "status=0x02 sense=2/04/0b" ] || fail "a read on a standby path: $out"
grep -q '"alua"' "$TMP/a.json" || fail "A's saved configuration has no ALUA group"

"$MPATH" "iscsi://$PORTAL_A/$IQN/1" "iscsi://$PORTAL_B/$IQN/1" $BLOCKS "$TMP/model" \
  > "$TMP/mpath.out" 2> "$TMP/mpath.err" &
PID_MP=$!
ops() { grep -o 'progress ops=[0-9]*' "$TMP/mpath.out" | tail -n 1 | cut -d= -f2; }
ops_past() { local n; n=$(ops); [ -n "$n" ] && [ "$n" -ge "$1" ]; }
wait_for 60 grep -q '^first-ok A' "$TMP/mpath.out" || fail "no I/O on A: $(cat "$TMP/mpath.out" "$TMP/mpath.err")"
wait_for 60 ops_past 500 || fail "the initiator does not progress: $(tail -n 5 "$TMP/mpath.out")"
[ "$(lu_state adma)" = active/optimized ] || fail "A is not active/optimized: $(lu_state adma)"
[ "$(lu_state admb)" = standby ] || fail "B is not standby while A is active: $(lu_state admb)"

# Kill A mid-I/O.
before=$(ops)
t_kill=$(date +%s%N)
kill -KILL "$PID_a"
wait "$PID_a" 2>/dev/null || true
PID_a=
wait_for 90 grep -q '^first-ok B' "$TMP/mpath.out" ||
  fail "no failover to B: $(cat "$TMP/mpath.out" "$TMP/mpath.err" | tail -n 20)"
t_b=$(grep '^first-ok B' "$TMP/mpath.out" | head -n 1 | cut -d' ' -f3)
FAILOVER_MS=$(( (t_b - t_kill) / 1000000 ))
info "failover: SIGKILL of A -> first I/O completed on B: $FAILOVER_MS ms (after $before ops)"
wait_for 60 ops_past $((before + 750)) || fail "no progress on B: $(tail -n 5 "$TMP/mpath.out")"
[ "$(lu_state admb)" = active/optimized ] || fail "B is not active/optimized: $(lu_state admb)"

# A comes back from its saved configuration, on the same portal, as a standby.
gw a 127.0.0.1 "${PORTAL_A##*:}"
lu_back() { [ "$(lu_state adma)" = standby ]; }
wait_for 30 lu_back || fail "A did not come back as a standby: $(lu_state adma)"
before=$(ops)
t_back=$(date +%s%N)
touch "$TMP/model.moveback"
moved_back() { [ "$(grep -c '^first-ok A' "$TMP/mpath.out")" -ge 2 ]; }
wait_for 60 moved_back ||
  fail "the initiator did not move back to A: $(tail -n 20 "$TMP/mpath.out")"
t_a=$(grep '^first-ok A' "$TMP/mpath.out" | tail -n 1 | cut -d' ' -f3)
info "move back: request -> first I/O completed on A: $(( (t_a - t_back) / 1000000 )) ms"
wait_for 60 ops_past $((before + 750)) || fail "no progress after the move back"
b_standby() { [ "$(lu_state admb)" = standby ]; }
wait_for 30 b_standby || fail "B did not turn standby after A took the lock: $(lu_state admb)"

# B lost the lock: its writes are refused and never reach the image (block past the model).
out=$("$PROBE" "iscsi://$PORTAL_B/$IQN/1" write16 40000 0x77)
[ "$out" = "status=0x02 sense=2/04/0b" ] || fail "a write on B after it lost the lock: $out"

touch "$TMP/model.stop"
rc=0
wait $PID_MP || rc=$?
PID_MP=
cat "$TMP/mpath.err" >&2
grep '^done' "$TMP/mpath.out" >&2 || true
[ $rc -eq 0 ] || fail "the initiator saw an I/O error or a wrong block (exit $rc)"
grep -q '^done .* errors=0$' "$TMP/mpath.out" || fail "initiator summary: $(tail -n 3 "$TMP/mpath.out")"


# Implicit ALUA: with alua_mode=both on B, a write arriving on B (standby) is answered
# 02/04/0a and moves the lock to B; the write then succeeds there and A turns standby.
admb --mode target --op update --tid 1 --params alua_mode=both
out=$("$PROBE" "iscsi://$PORTAL_B/$IQN/1" write16 40008 0x66)
[ "$out" = "status=0x02 sense=2/04/0a" ] || fail "a write on standby B with implicit ALUA: $out"
b_active() { [ "$(lu_state admb)" = active/optimized ]; }
wait_for 30 b_active || fail "the implicit transition did not make B active/optimized: $(lu_state admb)"
out=$("$PROBE" "iscsi://$PORTAL_B/$IQN/1" write16 40008 0x66)
[ "$out" = "status=0x00" ] || fail "the write on B after the implicit transition: $out"
a_standby() { [ "$(lu_state adma)" = standby ]; }
wait_for 30 a_standby || fail "A did not turn standby after B took the lock: $(lu_state adma)"
# Every acknowledged write is on the image, read straight through librbd.
rbdc export --no-progress "$P/mp" "$TMP/export"
python3 - "$TMP/export" "$TMP/model" <<'PY' || fail "the image does not hold every acknowledged write"
import struct, sys
img = open(sys.argv[1], "rb").read()
n = 0
for line in open(sys.argv[2]):
    block, gen = map(int, line.split())
    d = img[block * 4096:(block + 1) * 4096]
    for off in range(0, 4096, 16):
        magic, b, g, mix = struct.unpack_from("<4sIII", d, off)
        want = (block * 2654435761 ^ gen ^ off) & 0xffffffff
        assert (magic, b, g, mix) == (b"MTGT", block, gen, want), \
            f"block {block}: holds {magic!r} block {b} gen {g}, last acknowledged gen {gen}"
    n += 1
assert img[40000 * 512:40008 * 512] == b"\0" * 4096, "B's write after the lost lock reached the image"
assert img[40008 * 512:40016 * 512] == b"\x66" * 4096, "B's write after the implicit transition"
print(f"# {n} blocks verified", file=sys.stderr)
PY
info "failover timeline: kill -> first completed I/O on B = $FAILOVER_MS ms"
stop_gateways
