# SPDX-License-Identifier: Apache-2.0
# Guest side of tests/e2e/test-kernel-multipath-rbd.sh, sourced by init.sh (busybox sh, PID
# 1) after modules, eth0 and iscsid are up, when the kernel command line has kt_mpath=1.
# The kernel's own multipath: open-iscsi logs in to two gateways (kt_portal: gateway A,
# kt_portal2: gateway B) exporting one LU; scsi_dh_alua attaches to both disks; Debian's
# multipathd (multipath-tools, /etc/multipath.conf) builds one dm-multipath device over
# them; mpath-io writes and reads verified 4 KiB blocks through it with O_DIRECT.
#   1. starts the I/O: dm-multipath's first path group is initialised, scsi_dh_alua sends
#      SET TARGET PORT GROUPS to that gateway (X), which takes the RBD lock; prints
#      "KERNEL-MPATH-READY active=PORTAL" (the host then kills X);
#   2. waits until multipathd reports X's path failed (no I/O error may reach mpath-io:
#      dm-multipath retries on the other path, Y, whose group scsi_dh_alua makes active
#      with SET TARGET PORT GROUPS);
#   3. waits until the path is reinstated (the host restarts X; iscsid logs in again and
#      multipathd's path checker sees the path come back, as a standby: Y stays active);
#   4. lets the I/O go on, stops it; mpath-io prints the last acknowledged generation of
#      every block written (KERNEL-MPATH-MODEL lines) for the host to check the image.
# Parameters (besides init.sh's): kt_portal2=IP:PORT, kt_naa=HEX the LU's NAA (the map's
# WWID, read from VPD page 0x83, must hold it), kt_blocks=N 4 KiB blocks mpath-io uses,
# kt_wait=SECS for each wait, kt_mpdebug=1 prints multipathd's whole log at the end.
# Uses init.sh's step, fail, finish and run.

mp_wait=${kt_wait:-240}

# portal_disk IP: the disk (sdX) of the session logged in to IP; empty if none.
portal_disk() {
  for s in /sys/class/iscsi_session/session*; do
    [ -e "$s" ] || continue
    n=${s##*session}
    [ "$(cat /sys/class/iscsi_connection/connection$n:0/persistent_address 2>/dev/null)" = "$1" ] ||
      continue
    for b in "$s"/device/target*/*/block/*; do
      [ -e "$b" ] && basename "$b" && return 0
    done
  done
  return 0
}
# path_state DEV: "DMSTATE CHECKERSTATE PRIO" of that path as multipathd sees it.
path_state() {
  timeout 10 multipathd show paths raw format "%d %t %T %p" 2>/dev/null | grep "^$1 " | cut -d' ' -f2-
}
ops() { o=$(cat /tmp/io.ops 2>/dev/null); echo "${o:-0}"; }
# wait_until SECS WHAT CMD...: poll CMD every 0.2 s; fail (WHAT) after SECS seconds, or at
# once when mpath-io has ended.
wait_until() {
  secs=$1 what=$2
  shift 2
  end=$(( $(cut -d. -f1 /proc/uptime) + secs ))
  until "$@"; do
    if [ -n "$io_pid" ] && ! kill -0 "$io_pid" 2>/dev/null; then
      wait "$io_pid"
      mp_fail "mpath-io ended (exit $?) while waiting for: $what"
    fi
    [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ] || mp_fail "timed out ($secs s) waiting for: $what"
    sleep 0.2
  done
}
mp_fail() {
  echo "---- multipathd show topology ----"
  timeout 10 multipathd show topology 2>&1
  echo "---- dmsetup status ----"
  dmsetup status 2>&1
  echo "---- multipathd log (last 60 lines, without the test's own queries) ----"
  grep -v '(operator)$' /tmp/multipathd.log | tail -n 60
  fail "$*"
}
ops_past() { [ "$(ops)" -ge "$1" ]; }

ip_a=${kt_portal%:*} ip_b=${kt_portal2%:*}
[ -n "$kt_portal2" ] && [ -n "$kt_naa" ] && [ -n "$kt_blocks" ] ||
  fail "kt_mpath=1 needs kt_portal2=, kt_naa= and kt_blocks="

# udevd (no rules) first, so that the disks the logins attach are "initialized" in udev's
# database: multipathd considers no other block device.
/lib/systemd/systemd-udevd --daemon --resolve-names=never || fail "systemd-udevd"
udevadm trigger --action=add --subsystem-match=block
udevadm settle -t 30 || fail "udevadm settle"

# Both paths: one node record per gateway (the target answers SendTargets with the address
# it was reached on, which the guest cannot use), tuned for multipath: give a dead
# connection 5 s to come back before its commands fail over to the other path.
for p in "$kt_portal" "$kt_portal2"; do
  run "node new $p" 10 iscsiadm -m node -o new -T "$kt_iqn" -p "$p"
  run "node update $p" 10 iscsiadm -m node -T "$kt_iqn" -p "$p" -o update \
    -n node.session.timeo.replacement_timeout -v 5
  step "login $p"
  run "login $p" 60 iscsiadm -m node -T "$kt_iqn" -p "$p" --login
done
have_disks() {
  dev_a=$(portal_disk "$ip_a") dev_b=$(portal_disk "$ip_b")
  [ -n "$dev_a" ] && [ -b "/dev/$dev_a" ] && [ -n "$dev_b" ] && [ -b "/dev/$dev_b" ]
}
io_pid=
wait_until 60 "a disk on each session" have_disks
for d in "$dev_a" "$dev_b"; do
  h=$(cat /sys/block/$d/device/dh_state 2>/dev/null)
  [ "$h" = alua ] || fail "scsi_dh_alua did not attach to $d (dh_state '$h')"
  echo "kernel-mpath: $d: $(cat /sys/block/$d/device/vendor) $(cat /sys/block/$d/device/model)," \
    "access_state $(cat /sys/block/$d/device/access_state 2>/dev/null)"
done
step "path A $dev_a ($kt_portal), path B $dev_b ($kt_portal2)"

# udevd has no device-mapper rules (which would make the /dev/mapper nodes and answer
# libdevmapper's cookies): libdevmapper makes the nodes itself and waits for no one
# (DM_DISABLE_UDEV). Path failures reach multipathd as device-mapper events and through
# its path checker.
udevadm settle -t 30 || fail "udevadm settle"
export DM_DISABLE_UDEV=1
mkdir -p /run/multipathd /etc/multipath
multipathd -d -s -v3 > /tmp/multipathd.log 2>&1 &
map_ready() {
  map=$(timeout 10 multipathd show maps raw format "%n %d %N" 2>/dev/null | grep "$kt_naa")
  [ "$(echo "$map" | wc -l)" = 1 ] && [ "$(echo "$map" | cut -d' ' -f3)" = 2 ]
}
wait_until 60 "multipathd: a map for NAA $kt_naa with 2 paths" map_ready
wwid=$(echo "$map" | cut -d' ' -f1) dm=$(echo "$map" | cut -d' ' -f2)
[ -b "/dev/$dm" ] || mp_fail "no /dev/$dm"
timeout 10 multipathd show topology
echo "kernel-mpath: table: $(dmsetup table "$wwid")"
# Both gateways start as standbys (neither holds the RBD lock): one path group per path
# (path_grouping_policy failover), both paths up as "ghost" (TEST UNIT READY answers
# standby), ALUA priority 1.
pa=$(path_state "$dev_a") pb=$(path_state "$dev_b")
echo "kernel-mpath: path A $dev_a: $pa; path B $dev_b: $pb"
for st in "$pa" "$pb"; do
  case $st in "active ghost 1") ;; *) mp_fail "a path is not a standby (ghost) path: $st" ;; esac
done
# "0 LEN multipath NFEAT FEAT.. NHW HW.. NGROUPS ..."
ngroups=$(dmsetup table "$wwid" | awk '{ i = 4; i += $i + 1; i += $i + 1; print $i }')
[ "$ngroups" = 2 ] || mp_fail "$ngroups path groups, not 2 (one per gateway)"
step "multipath device /dev/$dm (WWID $wwid)"

# The first I/O makes dm-multipath initialise its first path group: scsi_dh_alua sends
# SET TARGET PORT GROUPS there, and that gateway takes the RBD lock.
rm -f /tmp/io.stop
mpath-io "/dev/$dm" "$kt_blocks" /tmp/io.stop /tmp/io.ops &
io_pid=$!
wait_until 60 "100 I/Os through /dev/$dm" ops_past 100
one_active() {
  pa=$(path_state "$dev_a") pb=$(path_state "$dev_b")
  if [ "$pa" = "active ready 50" ] && [ "$pb" = "active ghost 1" ]; then
    dev_x=$dev_a dev_y=$dev_b x=A y=B portal_x=$kt_portal
  elif [ "$pb" = "active ready 50" ] && [ "$pa" = "active ghost 1" ]; then
    dev_x=$dev_b dev_y=$dev_a x=B y=A portal_x=$kt_portal2
  else
    return 1
  fi
}
wait_until 60 "one path active/optimized, the other standby" one_active
echo "KERNEL-MPATH-READY active=$portal_x"
step "I/O running through $x ($dev_x, $portal_x): waiting for gateway $x to go away"

x_failed() { case $(path_state "$dev_x") in failed*) return 0 ;; esac; return 1; }
wait_until "$mp_wait" "multipathd to fail path $x" x_failed
step "path $x failed: $(path_state "$dev_x"); path $y: $(path_state "$dev_y")"
n=$(ops)
wait_until "$mp_wait" "I/O to go on through $y" ops_past $((n + 300))
step "I/O goes on through the other path: waiting for gateway $x to come back"

x_back() { case $(path_state "$dev_x") in "active ready"*|"active ghost"*) return 0 ;; esac; return 1; }
wait_until "$mp_wait" "path $x reinstated" x_back
step "path reinstated: $x $(path_state "$dev_x"); $y $(path_state "$dev_y")"
n=$(ops)
wait_until "$mp_wait" "I/O after the reinstatement" ops_past $((n + 300))
[ "$(path_state "$dev_y")" = "active ready 50" ] ||
  mp_fail "path $y is no longer the active/optimized one: $(path_state "$dev_y")"

touch /tmp/io.stop
wait "$io_pid"
rc=$?
io_pid=
[ $rc -eq 0 ] || mp_fail "mpath-io exit $rc (an I/O error reached the application, or a wrong block)"
timeout 10 multipathd show topology
echo "---- multipathd: path events ----"
grep -E 'fail|reinstat|switch|orphan|checker|mark as' /tmp/multipathd.log | grep -v 'checker timeout' | tail -n 30
# The dm device must have reported no error upwards; the failed path's SCSI errors are
# expected (they are what dm-multipath retries).
if dmesg | grep -E "(Buffer I/O error|I/O error).* dev $dm" > /tmp/kerr; then
  cat /tmp/kerr
  mp_fail "the kernel logged I/O errors on /dev/$dm"
fi
if [ "${kt_mpdebug:-0}" = 1 ]; then
  echo "---- multipathd log ----"
  grep -v '(operator)$' /tmp/multipathd.log
fi
step "done"
finish PASS
