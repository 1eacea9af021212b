#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Guest /init of the kernel-initiator e2e test (busybox sh, PID 1). A real Linux iSCSI
# initiator (iscsid + iscsiadm + the iscsi_tcp kernel module) discovers the target, logs
# in, checks the disk's size, reads a region the host wrote beforehand, writes a known
# pattern, reads it back, compares, logs out, and prints exactly one final line
#   KERNEL-ISCSI-RESULT: PASS            or
#   KERNEL-ISCSI-RESULT: FAIL <reason>
# on the serial console, then powers off. Parameters come on the kernel command line:
#   kt_portal=IP:PORT   portal as the guest reaches it (qemu guestfwd)   [10.0.2.100:3260]
#   kt_iqn=IQN          target name                                       (required)
#   kt_size=BYTES       expected disk size (READ CAPACITY)                (optional)
#   kt_roff=MiB kt_rlen=MiB kt_rsum=SHA256   region the host wrote and its checksum
#   kt_woff=MiB         where the guest writes /pattern.bin (8 MiB; a multiple of 4) [0]
#   kt_woff2=MiB        where it writes the pattern's first MiB again, in 4 KiB writes [16]
#   kt_digest=None|CRC32C   header and data digest to negotiate          [None]
#   kt_debug=N          iscsid debug level (0-8)                          [0]
# CHAP (instead of the write/compare part, each login reads the host region back):
#   kt_chap_user=U kt_chap_secret=S     the initiator's account
#   kt_chap_tuser=U kt_chap_tsecret=S   the target's account, for mutual CHAP
#   kt_disc_user=U kt_disc_secret=S     discovery CHAP (discovery.sendtargets.auth.*)
#   kt_chap_runs=ALG:MODE,...           one login per entry, ALG for node.session.auth.
#                                       chap_algs (MD5, SHA1, SHA256, SHA3-256), MODE oneway
#                                       or mutual
#   kt_chap_bad=1                       first, a login with a wrong secret must fail
# Multipath (tests/e2e/test-kernel-multipath-rbd.sh): kt_mpath=1 runs /init-mpath.sh
# (init-mpath.sh: two gateways, dm-multipath, a failover) instead of the tests below;
# its parameters are in its header.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

kt_portal=10.0.2.100:3260 kt_iqn= kt_size= kt_roff= kt_rlen= kt_rsum= kt_woff=0 kt_woff2=16
kt_digest=None kt_debug=0
kt_chap_user= kt_chap_secret= kt_chap_tuser= kt_chap_tsecret= kt_disc_user= kt_disc_secret=
kt_chap_runs= kt_chap_bad=0
kt_mpath=0 kt_portal2= kt_naa= kt_blocks= kt_wait= kt_mpdebug=0
for arg in $(cat /proc/cmdline); do
  case $arg in
    kt_[a-z0-9]*=*) eval "${arg%%=*}=\${arg#*=}" ;;
  esac
done

step() { echo "KERNEL-ISCSI-STEP: $* (t=$(cut -d' ' -f1 /proc/uptime)s)"; }
finish() {
  echo "KERNEL-ISCSI-RESULT: $*"
  sync
  poweroff -f
  sleep 5
  echo b > /proc/sysrq-trigger   # qemu runs with -no-reboot: a reboot ends it too
}
fail() {
  echo "kernel-iscsi: FAIL: $*"
  echo "---- iscsiadm -m session -P 3 ----"
  timeout 5 iscsiadm -m session -P 3 2>&1
  echo "---- kernel messages since /init ----"
  dmesg | sed -n '/Run \/init/,$p' | grep -v -E '^\[ *[0-9.]+\] +(with |/init|[A-Z]+=|kt_)' | tail -n 60
  finish "FAIL $*"
}
# run NAME SECS CMD...: run CMD with a time limit, echoing its output; fail on error.
run() {
  name=$1 secs=$2
  shift 2
  timeout "$secs" "$@" > /tmp/out 2>&1
  rc=$?
  cat /tmp/out
  [ $rc -eq 0 ] || fail "$name (exit $rc)"
}

step "init"
[ -n "$kt_iqn" ] || fail "no kt_iqn= on the kernel command line"

for m in $(cat /etc/modules.order); do
  if ! insmod "/lib/modules/$m" 2>/tmp/insmod.err; then
    case $m in
      crc32c*) ;;   # the accelerated crc32c needs SSE4.2; crc32c_generic is the fallback
      *) cat /tmp/insmod.err; fail "insmod $m" ;;
    esac
  fi
done
echo 6 > /proc/sys/kernel/printk   # iSCSI connection and sd attach messages to the console
step "modules loaded"

ip link set lo up
n=0
until [ -e /sys/class/net/eth0 ]; do
  n=$((n + 1)); [ $n -le 100 ] || fail "no eth0"; sleep 0.1
done
ip addr add 10.0.2.15/24 dev eth0 || fail "ip addr add"
ip link set eth0 up || fail "ip link set eth0 up"
step "eth0 up"

mkdir -p /run/lock/iscsi /var/lock
if [ "$kt_debug" -gt 0 ] 2>/dev/null; then iscsid -f -d "$kt_debug" & else iscsid -f & fi
n=0
until grep -q ISCSIADM_ABSTRACT_NAMESPACE /proc/net/unix; do
  n=$((n + 1)); [ $n -le 100 ] || fail "iscsid did not start"; sleep 0.1
done
step "iscsid up"

if [ "$kt_mpath" = 1 ]; then
  . /init-mpath.sh   # ends with finish
fi

if [ -n "$kt_disc_user" ]; then
  step "discovery with CHAP: iscsiadm -m discoverydb -t sendtargets -p $kt_portal"
  run "discoverydb new" 10 iscsiadm -m discoverydb -t sendtargets -p "$kt_portal" -o new
  for kv in authmethod=CHAP username="$kt_disc_user" password="$kt_disc_secret"; do
    run "discoverydb update ${kv%%=*}" 10 iscsiadm -m discoverydb -t sendtargets \
      -p "$kt_portal" -o update -n "discovery.sendtargets.auth.${kv%%=*}" -v "${kv#*=}"
  done
  run "discovery" 60 iscsiadm -m discoverydb -t sendtargets -p "$kt_portal" --discover
else
  step "discovery: iscsiadm -m discovery -t sendtargets -p $kt_portal"
  run "discovery" 60 iscsiadm -m discovery -t sendtargets -p "$kt_portal"
fi
grep -q " $kt_iqn\$" /tmp/out || fail "discovery did not return $kt_iqn"

# The target answered with the address it was reached on (the host side of the qemu
# forward), which the guest cannot use: make the node record for the forwarded portal.
run "node new" 10 iscsiadm -m node -o new -T "$kt_iqn" -p "$kt_portal"
for k in HeaderDigest DataDigest; do
  run "node update $k" 10 iscsiadm -m node -T "$kt_iqn" -p "$kt_portal" -o update \
    -n "node.conn[0].iscsi.$k" -v "$kt_digest"
done
# find_disk: sets dev to the disk the session's SCSI scan attached.
find_disk() {
  dev=
  n=0
  while [ -z "$dev" ]; do
    for b in /sys/class/iscsi_session/session*/device/target*/*/block/*; do
      [ -e "$b" ] && dev=/dev/$(basename "$b") && break
    done
    [ -n "$dev" ] && [ -b "$dev" ] && break
    dev=
    n=$((n + 1)); [ $n -le 300 ] || fail "no SCSI disk appeared after login"; sleep 0.1
  done
}
node_set() {  # node_set KEY VALUE
  run "node update $1" 10 iscsiadm -m node -T "$kt_iqn" -p "$kt_portal" -o update -n "$1" -v "$2"
}
logout_all() {
  run "logout" 30 iscsiadm -m node -T "$kt_iqn" -p "$kt_portal" --logout
  n=0
  while ls /sys/class/iscsi_session/ 2>/dev/null | grep -q session; do
    n=$((n + 1)); [ $n -le 100 ] || fail "session still present after logout"; sleep 0.1
  done
}
read_host_region() {
  sum=$(dd if="$dev" bs=1M skip="$kt_roff" count="$kt_rlen" iflag=direct 2>/tmp/dd.err |
        sha256sum | cut -d' ' -f1)
  [ "$sum" = "$kt_rsum" ] || { cat /tmp/dd.err; fail "host-written region reads back wrong (sha256 $sum)"; }
}

if [ -n "$kt_chap_runs" ]; then
  node_set node.session.auth.authmethod CHAP
  node_set node.session.auth.username "$kt_chap_user"
  if [ "$kt_chap_bad" = 1 ]; then
    step "login with a wrong CHAP secret (must fail)"
    node_set node.session.auth.password "not-$kt_chap_secret"
    node_set node.session.auth.chap_algs MD5
    if timeout 60 iscsiadm -m node -T "$kt_iqn" -p "$kt_portal" --login > /tmp/out 2>&1; then
      cat /tmp/out
      fail "a login with a wrong CHAP secret succeeded"
    fi
    cat /tmp/out
    iscsiadm -m node -T "$kt_iqn" -p "$kt_portal" --logout > /dev/null 2>&1
    # The target closes the connection after the Authentication Failure answer; the
    # kernel may see that close before iscsid tears the connection down and log "conn
    # error (1020)". That belongs to the refused login: only what comes after counts.
    kerr_from=$(dmesg | wc -l)
  fi
  node_set node.session.auth.password "$kt_chap_secret"
  for r in $(echo "$kt_chap_runs" | tr ',' ' '); do
    alg=${r%%:*} mode=${r#*:}
    node_set node.session.auth.chap_algs "$alg"
    if [ "$mode" = mutual ]; then
      node_set node.session.auth.username_in "$kt_chap_tuser"
      node_set node.session.auth.password_in "$kt_chap_tsecret"
    else
      node_set node.session.auth.username_in ""
      node_set node.session.auth.password_in ""
    fi
    step "login with CHAP $alg ($mode)"
    run "login $alg $mode" 60 iscsiadm -m node -T "$kt_iqn" -p "$kt_portal" --login
    find_disk
    step "disk $dev: read host region"
    read_host_region
    logout_all
  done
  if dmesg | tail -n +$((${kerr_from:-0} + 1)) |
     grep -E 'conn error|ping timeout|recovery timed out|FAILED Result|I/O error' > /tmp/kerr; then
    cat /tmp/kerr
    fail "the kernel logged iSCSI/SCSI errors (see above)"
  fi
  step "done"
  finish PASS
fi

step "login"
run "login" 60 iscsiadm -m node -T "$kt_iqn" -p "$kt_portal" --login

find_disk
step "disk $dev"
iscsiadm -m session -P 3 2>&1 | grep -E 'Target:|Current Portal|Persistent Portal|iSCSI Connection State|iSCSI Session State|HeaderDigest|DataDigest|MaxRecvDataSegmentLength|MaxXmitDataSegmentLength|FirstBurstLength|MaxBurstLength|ImmediateData|InitialR2T|Attached scsi disk'

size=$(blockdev --getsize64 "$dev") || fail "blockdev --getsize64 $dev"
echo "kernel-iscsi: $dev is $size bytes"
if [ -n "$kt_size" ] && [ "$size" != "$kt_size" ]; then
  fail "disk size $size, expected $kt_size"
fi

if [ -n "$kt_rsum" ]; then
  step "read host region: $kt_rlen MiB at $kt_roff MiB"
  read_host_region
fi

# 4 MiB O_DIRECT writes: the block layer splits each into several commands in flight at
# once, each larger than typical FirstBurstLength/MaxBurstLength (several R2Ts).
step "write 8 MiB at $kt_woff MiB (4 MiB writes, O_DIRECT)"
run "write pattern" 120 dd if=/pattern.bin of="$dev" bs=4M seek=$((kt_woff / 4)) oflag=direct \
  conv=fsync
step "write 1 MiB at $kt_woff2 MiB (4 KiB writes, O_DIRECT)"
run "write 4k" 120 dd if=/pattern.bin of="$dev" bs=4k count=256 seek=$((kt_woff2 * 256)) \
  oflag=direct conv=fsync
blockdev --flushbufs "$dev" || fail "flush (SYNCHRONIZE CACHE)"

step "read back and compare"
run "read back" 120 dd if="$dev" of=/tmp/back.bin bs=4M skip=$((kt_woff / 4)) count=2 iflag=direct
cmp /pattern.bin /tmp/back.bin || fail "data read back differs from the pattern written"
rm -f /tmp/back.bin
run "read back 4k" 120 dd if="$dev" of=/tmp/back4k.bin bs=64k skip=$((kt_woff2 * 16)) count=16 \
  iflag=direct
head -c 1048576 /pattern.bin > /tmp/first.bin
cmp /tmp/first.bin /tmp/back4k.bin || fail "4 KiB-written data reads back wrong"
rm -f /tmp/back4k.bin /tmp/first.bin

# A silent recovery (NOP-Out ping timeout, connection error and re-login, SCSI error and
# retry) still lets the data compare equal: the kernel's log must show none.
if dmesg | grep -E 'conn error|ping timeout|recovery timed out|FAILED Result|I/O error|Sense Key|critical target error|reject|abort|reset' |
   grep -v 'Power-on or device reset occurred' > /tmp/kerr; then
  cat /tmp/kerr
  fail "the kernel logged iSCSI/SCSI errors (see above)"
fi

step "logout"
logout_all
step "done"
finish PASS
