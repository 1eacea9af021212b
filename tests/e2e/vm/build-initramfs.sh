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
#                             config, the iSCSI/SCSI/virtio kernel modules of that kernel
#                             and their dependencies (from modules.dep, made with depmod -b),
#                             the guest /init (init.sh) and the 8 MiB data pattern it writes
#   OUTDIR/pattern.bin        that same pattern, for the host-side comparison
#   OUTDIR/stamp              hash of every input; when it matches, nothing is rebuilt
# Needs: apt (with package lists), dpkg-deb, depmod (kmod), open-iscsi, busybox (or
# busybox-static), cpio, gzip, python3.
# Exit status 2 when one of those is missing, or the kernel package cannot be fetched (the
# caller turns that into a skip, or a failure in CI).
set -euo pipefail
OUT=${1:?usage: build-initramfs.sh OUTDIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INIT=$HERE/init.sh

missing() { echo "build-initramfs: $*" >&2; exit 2; }

for t in apt-cache apt-get dpkg-deb depmod cpio gzip python3 ldd; do
  command -v $t >/dev/null || missing "$t not installed"
done
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || missing "busybox not installed"
ISCSIADM=$(command -v iscsiadm || echo /usr/sbin/iscsiadm)
ISCSID=$(command -v iscsid || echo /usr/sbin/iscsid)
[ -x "$ISCSIADM" ] && [ -x "$ISCSID" ] || missing "open-iscsi (iscsiadm, iscsid) not installed"

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
# Older kernels fetched before (the meta-package moved on) are not needed any more.
for d in "$KDEBS"/linux-image-*.deb; do
  case $d in "$KDEB") ;; *) rm -f "$d" ;; esac
done

# Modules the guest loads. Whatever modules.dep lists as their dependencies comes along,
# dependencies first. crc32c backs the optional header/data digests.
ROOT_MODULES=(virtio_pci virtio_net scsi_transport_iscsi libiscsi libiscsi_tcp iscsi_tcp
              sd_mod crc32c_generic crc32c-intel)

# ---- cache check -------------------------------------------------------------------------
stamp_input() {
  echo "kernel $(basename "$KDEB")"
  sha256sum "$KDEB" "$BUSYBOX" "$ISCSIADM" "$ISCSID" "$INIT" "${BASH_SOURCE[0]}"
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
copy_with_libs() {
  local bin=$1 dest=$2 lib
  install -D -m 0755 "$bin" "$R$dest"
  # ldd prints "name => /path (addr)" or "/path (addr)"; vdso has no path.
  for lib in $(ldd "$bin" 2>/dev/null | grep -oE '/[^ ]+' || true); do
    [ -f "$R$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$R$lib"
  done
}
copy_with_libs "$BUSYBOX" /bin/busybox
copy_with_libs "$ISCSIADM" /sbin/iscsiadm
copy_with_libs "$ISCSID" /sbin/iscsid
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

(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) |
  gzip -1 > "$STAGE/initramfs.cpio.gz"
cp "$K/boot/vmlinuz-$KVER" "$STAGE/vmlinuz"
mv -f "$STAGE/initramfs.cpio.gz" "$OUT/initramfs.cpio.gz"
mv -f "$STAGE/vmlinuz" "$OUT/vmlinuz"
cp "$R/pattern.bin" "$OUT/pattern.bin"
echo "$STAMP" > "$OUT/stamp"
echo "build-initramfs: done: $(du -h "$OUT/initramfs.cpio.gz" | cut -f1) initramfs" >&2
