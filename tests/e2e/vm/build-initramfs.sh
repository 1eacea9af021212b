#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# build-initramfs.sh OUTDIR - build (or reuse when up to date) a tiny bootable pair for the
# kernel-initiator e2e test (tests/e2e/test-kernel-open-iscsi.sh):
#   OUTDIR/vmlinuz            Debian's kernel, from the package linux-image-<ver>-amd64
#                             (the one the meta-package linux-image-amd64 names), fetched
#                             with `apt-get download` into OUTDIR/kernel/ and unpacked with
#                             `dpkg-deb -x` into a scratch folder: nothing is installed on
#                             this machine (no /boot, no /lib/modules, no boot loader change)
#   OUTDIR/initramfs.cpio.gz  busybox, iscsiadm + iscsid with their shared libraries and
#                             config, the iSCSI/SCSI/virtio/dm-multipath kernel modules of
#                             that kernel and their dependencies (from modules.dep, made with
#                             depmod -b), multipath + multipathd (Debian's multipath-tools,
#                             fetched and unpacked the same way) with /etc/multipath.conf,
#                             dmsetup, the guest /init (init.sh, init-mpath.sh), the I/O
#                             program of the multipath test (mpath-io.c, compiled here) and
#                             the 8 MiB data pattern the single-path test writes
#   OUTDIR/pattern.bin        that same pattern, for the host-side comparison
#   OUTDIR/stamp              hash of every input; when it matches, nothing is rebuilt
# Needs: apt (with package lists), dpkg-deb, depmod (kmod), open-iscsi, busybox (or
# busybox-static), dmsetup, a C compiler (cc), cpio, gzip, python3, and the shared libraries
# multipath-tools links (libaio1 libdevmapper1.02.1 libedit2 libjson-c5 liburcu8 libudev1
# libsystemd0: scripts/deps.sh installs them; multipath-tools itself is not installed).
# Exit status 2 when one of those is missing, or the kernel package cannot be fetched (the
# caller turns that into a skip, or a failure in CI).
set -euo pipefail
OUT=${1:?usage: build-initramfs.sh OUTDIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INIT=$HERE/init.sh
INIT_MPATH=$HERE/init-mpath.sh
MPATH_IO=$HERE/mpath-io.c

missing() { echo "build-initramfs: $*" >&2; exit 2; }

for t in apt-cache apt-get dpkg-deb depmod cpio gzip python3 ldd cc; do
  command -v $t >/dev/null || missing "$t not installed"
done
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || missing "busybox not installed"
ISCSIADM=$(command -v iscsiadm || echo /usr/sbin/iscsiadm)
ISCSID=$(command -v iscsid || echo /usr/sbin/iscsid)
[ -x "$ISCSIADM" ] && [ -x "$ISCSID" ] || missing "open-iscsi (iscsiadm, iscsid) not installed"
DMSETUP=$(command -v dmsetup || echo /usr/sbin/dmsetup)
[ -x "$DMSETUP" ] || missing "dmsetup not installed"
UDEVADM=$(command -v udevadm || echo /bin/udevadm)   # also systemd-udevd (one program)
[ -x "$UDEVADM" ] || missing "udev (udevadm, systemd-udevd) not installed"

# ---- the kernel package: fetched once into OUTDIR/kernel --------------------------------
# The package the meta-package depends on (linux-image-6.1.0-NN-amd64 on Debian 12).
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
       sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
[ -n "$KPKG" ] || missing "apt knows no linux-image-amd64 (run apt-get update)"
KDEBS=$OUT/kernel
mkdir -p "$KDEBS"
fetch() {  # fetch PACKAGE: its .deb into $KDEBS unless there; prints the file
  local pkg=$1 deb
  deb=$(ls "$KDEBS/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
  if [ -z "$deb" ]; then
    echo "build-initramfs: apt-get download $pkg" >&2
    rm -rf "$KDEBS/.dl" && mkdir -p "$KDEBS/.dl"
    # As root, apt would drop to its sandbox user, who cannot write here.
    (cd "$KDEBS/.dl" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "$pkg" >&2) ||
      missing "cannot download $pkg (apt-get update, or no network to the mirror?)"
    deb=$(ls "$KDEBS/.dl/${pkg}_"*.deb | head -n 1)
    mv "$deb" "$KDEBS/"
    deb=$KDEBS/$(basename "$deb")
    rm -rf "$KDEBS/.dl"
  fi
  echo "$deb"
}
KDEB=$(fetch "$KPKG")
# Debian's multipath-tools for the guest (multipath, multipathd and their plugins); the
# package is unpacked, never installed here (it would start a multipathd on this machine).
MDEB=$(fetch multipath-tools)
# Older packages fetched before (the meta-package or the release moved on) are not needed.
for d in "$KDEBS"/linux-image-*.deb "$KDEBS"/multipath-tools_*.deb; do
  case $d in "$KDEB"|"$MDEB") ;; *) rm -f "$d" ;; esac
done

# Modules the guest loads. Whatever modules.dep lists as their dependencies comes along,
# dependencies first. crc32c backs the optional header/data digests. scsi_dh_alua must be
# loaded before the disks are scanned to attach to them; it and the dm-multipath modules
# serve the multipath test (init-mpath.sh).
ROOT_MODULES=(virtio_pci virtio_net scsi_transport_iscsi libiscsi libiscsi_tcp iscsi_tcp
              sd_mod crc32c_generic crc32c-intel scsi_dh_alua dm_mod dm_multipath
              dm_round_robin dm_service_time)

# ---- cache check -------------------------------------------------------------------------
stamp_input() {
  echo "kernel $(basename "$KDEB") $(basename "$MDEB")"
  sha256sum "$KDEB" "$MDEB" "$BUSYBOX" "$ISCSIADM" "$ISCSID" "$DMSETUP" "$UDEVADM" "$INIT" "$INIT_MPATH" \
    "$MPATH_IO" "${BASH_SOURCE[0]}"
}
mkdir -p "$OUT"
STAMP=$(stamp_input | sha256sum | cut -d' ' -f1)
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ] &&
   [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initramfs.cpio.gz" ] && [ -f "$OUT/pattern.bin" ]; then
  echo "build-initramfs: $OUT is up to date ($(basename "$KDEB"))" >&2
  exit 0
fi

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/modtgt-initramfs.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

# ---- the kernel and its modules, unpacked into the scratch folder -----------------------
K=$STAGE/kernel
dpkg-deb -x "$KDEB" "$K"
KVER=$(ls "$K/lib/modules" 2>/dev/null | sort -V | tail -n 1)
[ -n "$KVER" ] && [ -f "$K/boot/vmlinuz-$KVER" ] || missing "$(basename "$KDEB") holds no kernel"
# Should a release ship the modules in a package of their own, fetch that one too.
if [ -z "$(find "$K/lib/modules/$KVER" -name 'iscsi_tcp.ko*' -print -quit)" ]; then
  if apt-cache show "linux-modules-$KVER" > /dev/null 2>&1; then
    dpkg-deb -x "$(fetch "linux-modules-$KVER")" "$K"
  fi
fi
# The package does not ship modules.dep (its postinst makes it): make it here.
depmod -b "$K" "$KVER" || missing "depmod failed for $KVER"
MODDIR=$K/lib/modules/$KVER
grep -qE '(^|/)iscsi_tcp\.ko(\.[a-z]+)?:' "$MODDIR/modules.dep" ||
  missing "kernel $KVER has no iscsi_tcp module"
echo "build-initramfs: building for kernel $KVER into $OUT" >&2

R=$STAGE/root
mkdir -p "$R"/{bin,sbin,etc/iscsi,proc,sys,dev,tmp,run/lock/iscsi,var/lock,lib/modules}
for d in ifaces nodes send_targets static isns fw; do mkdir -p "$R/etc/iscsi/$d"; done

# ---- programs and their shared libraries ------------------------------------------------
# copy_with_libs FILE DEST [PKGROOT]: FILE to DEST in the image with the shared libraries
# ldd names. PKGROOT: an unpacked package whose own libraries FILE uses; they go where
# the package puts them (PKGROOT/lib/x.so -> /lib/x.so).
copy_with_libs() {
  local bin=$1 dest=$2 pkg=${3:-} lib to out
  install -D -m 0755 "$bin" "$R$dest"
  out=$(LD_LIBRARY_PATH=${pkg:+$pkg/lib} ldd "$bin" 2>/dev/null || true)
  if grep -q 'not found' <<<"$out"; then
    missing "$(basename "$bin") needs libraries not installed here: $(grep 'not found' <<<"$out" | tr -s '\t\n' '  ')"
  fi
  # ldd prints "name => /path (addr)" or "/path (addr)"; vdso has no path.
  for lib in $(grep -oE '/[^ ]+' <<<"$out" || true); do
    to=$lib
    [ -n "$pkg" ] && to=${lib#"$pkg"}
    [ -f "$R$to" ] || install -D -m 0755 "$(readlink -f "$lib")" "$R$to"
  done
}
copy_with_libs "$BUSYBOX" /bin/busybox
copy_with_libs "$ISCSIADM" /sbin/iscsiadm
copy_with_libs "$ISCSID" /sbin/iscsid
copy_with_libs "$DMSETUP" /sbin/dmsetup
# udevd (init-mpath.sh starts it): multipathd only looks at block devices udev has
# processed ("initialized": in udev's database), and at a device-mapper device's uevents
# only when they carry DM_UUID, which device-mapper's own rules (55-dm.rules) take from
# sysfs; one rule does that here. No other rules: no scsi_id, no /dev/disk links.
copy_with_libs "$UDEVADM" /bin/udevadm
mkdir -p "$R/lib/systemd" "$R/etc/udev/rules.d" "$R/run/udev"
ln -s /bin/udevadm "$R/lib/systemd/systemd-udevd"
cat > "$R/etc/udev/rules.d/55-dm-name.rules" <<'EOF'
SUBSYSTEM=="block", KERNEL=="dm-[0-9]*", ACTION=="add|change", TEST=="dm", ENV{DM_NAME}="$attr{dm/name}", ENV{DM_UUID}="$attr{dm/uuid}"
EOF
# glibc loads libgcc_s when a thread is cancelled (multipathd cancels its threads).
LIBGCC_S=$(/sbin/ldconfig -p | sed -n "s/^\t*libgcc_s.so.1 (libc6,x86-64) => //p" | head -n 1)
[ -n "$LIBGCC_S" ] || missing "libgcc_s.so.1 not found (ldconfig -p)"
install -D -m 0755 "$(readlink -f "$LIBGCC_S")" "$R$LIBGCC_S"
MP=$STAGE/multipath-tools
dpkg-deb -x "$MDEB" "$MP"
copy_with_libs "$MP/sbin/multipath" /sbin/multipath "$MP"
copy_with_libs "$MP/sbin/multipathd" /sbin/multipathd "$MP"
for p in "$MP"/lib/multipath/*.so; do   # checkers, prioritizers (dlopen()ed)
  case $(basename "$p") in libforeign-*) continue ;; esac
  copy_with_libs "$p" "/lib/multipath/$(basename "$p")" "$MP"
done
cc -O2 -Wall -Werror -o "$STAGE/mpath-io" "$MPATH_IO" || missing "cannot compile mpath-io.c"
copy_with_libs "$STAGE/mpath-io" /bin/mpath-io
for a in $("$BUSYBOX" --list); do
  case $a in busybox|iscsiadm|iscsid) continue ;; esac
  [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done

# ---- configuration ----------------------------------------------------------------------
echo "InitiatorName=iqn.2026-11.org.modtgt.test:kvm-guest" > "$R/etc/iscsi/initiatorname.iscsi"
# iscsid.conf: the settings the guest relies on, everything else at open-iscsi defaults.
# Short timeouts so that a target that stops answering fails the test quickly; NOP-Out
# pings every 5 s exercise the target's NOP handling during the run.
cat > "$R/etc/iscsi/iscsid.conf" <<'EOF'
iscsid.startup = /bin/true
node.startup = manual
node.session.auth.authmethod = None
discovery.sendtargets.auth.authmethod = None
node.session.timeo.replacement_timeout = 10
node.conn[0].timeo.login_timeout = 15
node.conn[0].timeo.logout_timeout = 15
node.conn[0].timeo.noop_out_interval = 5
node.conn[0].timeo.noop_out_timeout = 10
node.session.err_timeo.abort_timeout = 15
node.session.err_timeo.lu_reset_timeout = 30
node.session.err_timeo.tgt_reset_timeout = 30
node.session.initial_login_retry_max = 2
node.session.cmds_max = 128
node.session.queue_depth = 32
node.session.iscsi.InitialR2T = No
node.session.iscsi.ImmediateData = Yes
node.session.iscsi.FirstBurstLength = 262144
node.session.iscsi.MaxBurstLength = 16776192
node.conn[0].iscsi.MaxRecvDataSegmentLength = 262144
node.conn[0].iscsi.MaxXmitDataSegmentLength = 0
discovery.sendtargets.iscsi.MaxRecvDataSegmentLength = 32768
node.conn[0].iscsi.HeaderDigest = None
node.conn[0].iscsi.DataDigest = None
node.session.nr_sessions = 1
node.session.scan = auto
EOF
# multipath.conf: dm-multipath for modtgt gateways with ALUA, set up for a fast failover as
# an admin would (tests/e2e/vm/README.md explains each choice). The guest's udevd has no
# rules (no scsi_id, no ID_SERIAL): uid_attribute "" makes multipath-tools take the WWID
# from sysfs (the disk's VPD page 0x83).
mkdir -p "$R/etc/multipath"
cat > "$R/etc/multipath.conf" <<'EOF'
defaults {
	user_friendly_names no
	find_multipaths no
	enable_foreign "^$"
	uid_attribute ""
	polling_interval 1
	max_polling_interval 2
}
devices {
	device {
		vendor "MODTGT"
		product ".*"
		uid_attribute ""
		path_grouping_policy failover
		prio alua
		path_checker tur
		hardware_handler "1 alua"
		path_selector "service-time 0"
		failback 60
		fast_io_fail_tmo 5
		no_path_retry 30
	}
}
EOF
printf 'root:x:0:0:root:/:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\n' > "$R/etc/group"
printf '127.0.0.1 localhost\n' > "$R/etc/hosts"
printf 'hosts: files\n' > "$R/etc/nsswitch.conf"

# ---- kernel modules ---------------------------------------------------------------------
# Resolve the load order from modules.dep: each module's dependencies before the module.
python3 - "$MODDIR" "${ROOT_MODULES[@]}" > "$STAGE/modorder" <<'PY'
import sys, os
moddir, roots = sys.argv[1], sys.argv[2:]
deps = {}
for line in open(os.path.join(moddir, "modules.dep")):
    path, _, rest = line.partition(":")
    deps[path.strip()] = rest.split()
def name(p):
    b = os.path.basename(p)
    return b[:b.index(".ko")].replace("-", "_")
by_name = {name(p): p for p in deps}
order, seen = [], set()
def visit(p):
    if p in seen:
        return
    seen.add(p)
    # modules.dep lists the full transitive closure, nearest first; visit in reverse so
    # the deepest dependency loads first.
    for d in reversed(deps.get(p, [])):
        visit(d)
    order.append(p)
for r in roots:
    p = by_name.get(r.replace("-", "_"))
    if p is None:
        print("# %s: built in or absent" % r, file=sys.stderr)
        continue
    visit(p)
print("\n".join(order))
PY
: > "$R/etc/modules.order"
while read -r m; do
  [ -n "$m" ] || continue
  src=$MODDIR/$m
  base=$(basename "$m")
  case $base in   # busybox insmod cannot read compressed modules: store them plain
    *.ko.xz) xz -dc "$src" > "$R/lib/modules/${base%.xz}"; base=${base%.xz} ;;
    *.ko.zst) zstd -qdc "$src" > "$R/lib/modules/${base%.zst}"; base=${base%.zst} ;;
    *.ko.gz) gzip -dc "$src" > "$R/lib/modules/${base%.gz}"; base=${base%.gz} ;;
    *) cp "$src" "$R/lib/modules/$base" ;;
  esac
  echo "$base" >> "$R/etc/modules.order"
done < "$STAGE/modorder"
grep -q '^iscsi_tcp\.ko$' "$R/etc/modules.order" || missing "iscsi_tcp not resolved from modules.dep"

# ---- the data pattern the guest writes (deterministic: same bytes on every build) -------
python3 - "$R/pattern.bin" <<'PY'
import random, sys
rng = random.Random(20261101)
with open(sys.argv[1], "wb") as f:
    for i in range(8):
        chunk = bytearray(rng.getrandbits(8 * 1048576).to_bytes(1048576, "little"))
        chunk[0:16] = b"KERNEL-ISCSI-%03d" % i   # marks each MiB so misplaced data is visible
        f.write(chunk)
PY

install -m 0755 "$INIT" "$R/init"
install -m 0644 "$INIT_MPATH" "$R/init-mpath.sh"

(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) |
  gzip -1 > "$STAGE/initramfs.cpio.gz"
cp "$K/boot/vmlinuz-$KVER" "$STAGE/vmlinuz"
mv -f "$STAGE/initramfs.cpio.gz" "$OUT/initramfs.cpio.gz"
mv -f "$STAGE/vmlinuz" "$OUT/vmlinuz"
cp "$R/pattern.bin" "$OUT/pattern.bin"
echo "$STAMP" > "$OUT/stamp"
echo "build-initramfs: done: $(du -h "$OUT/initramfs.cpio.gz" | cut -f1) initramfs" >&2
