#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Debian packages, end to end, in a throwaway Debian 12 root:
#   1. `dpkg-buildpackage -b -uc -us` builds modtgt, modtgt-uring, modtgt-rbd and
#      modtgt-dev from a copy of this tree; lintian reports no error and no warning; the
#      changelog version is the CMake project version; modtgt neither contains bs_uring.so
#      or bs_rbd.so nor depends on liburing, librbd or librados;
#   2. a minimal Debian 12 root (`debootstrap --variant=minbase bookworm`, from the mirror
#      in this machine's apt sources; cached as a tarball under $MODTGT_BUILD/package-test,
#      extracted afresh for every run);
#   3. modtgt ALONE goes into it (apt-get install ./modtgt_*.deb, which takes its
#      dependencies from the mirror): neither liburing nor librbd comes;
#   4. the installed modtgtd starts in that root (chroot, with /proc mounted in a private
#      mount namespace that dies with the daemon) with its default module folder, serves a
#      LUN to the host's initiators over loopback (iscsi-inq, a qemu-img round trip);
#   5. bs_uring is not installed: `system show` does not list it, and bsload says so and
#      names the package (bs_rbd too);
#   6. modtgt-uring is installed into the root while the daemon runs; bsload --bstype uring
#      then works in the same daemon (same pid, no restart) and a uring LUN serves I/O;
#   7. the root boots with systemd (systemd-nspawn, private network) and modtgtd.service, as
#      the package installed and enabled it, starts (Type=notify), serves, reloads, restarts
#      with its configuration and stops, with all its hardening (tests/e2e/package/).
# Everything is removed at the end, also on failure: the daemon is stopped, no mount is
# left (checked), the root and the build are deleted. Nothing on this machine changes but
# the cache tarball in the build folder. Needs root (chroot, mount namespaces).
source "$(dirname "$0")/functions.sh"
requires dpkg-buildpackage dpkg-deb dpkg-parsechangelog lintian debootstrap unshare chroot \
  tar python3 iscsi-inq qemu-img cmp systemd-nspawn timeout
if [ "$(id -u)" != 0 ]; then
  [ "${CI:-}" = true ] && fail "this test needs root (chroot, mount namespaces)"
  echo "SKIP: $TEST_NAME: needs root (chroot, mount namespaces)" >&2
  exit 77
fi
T0=$SECONDS
lap() { info "$1: $((SECONDS - LAP))s"; LAP=$SECONDS; }
LAP=$SECONDS
SUITE=bookworm
IQN=iqn.2026-11.org.modtgt.test:package
R=$TMP/root
DEBS=$TMP/debs

# Never leave a mount behind: everything is mounted in private namespaces, so this only
# fires if that broke; then unmount before the root is deleted.
check_mounts() {
  if grep -qF " $TMP/" /proc/mounts; then
    echo "FAIL: $TEST_NAME: mounts left under $TMP:" >&2
    grep -F " $TMP/" /proc/mounts >&2
    grep -F " $TMP/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l
    return 1
  fi
}
cleanup_fn check_mounts

# ---- 1. build the packages ---------------------------------------------------------------
SRC=$TMP/build/src
mkdir -p "$SRC"
# The tree as it is (tracked and new files, not what .gitignore names: no build folders).
if git -C "$MODTGT_SRC" rev-parse --git-dir > /dev/null 2>&1; then
  (cd "$MODTGT_SRC" && git ls-files -z --cached --others --exclude-standard |
     tar --null -T - -cf -) | tar -xf - -C "$SRC"
else
  tar -C "$MODTGT_SRC" --exclude=./build --exclude='./build-*' --exclude='./obj-*' \
    --exclude=./demo --exclude=./debian/tmp -cf - . | tar -xf - -C "$SRC"
fi
[ -x "$SRC/debian/rules" ] || fail "no debian/rules in the copied tree"
# Debian's compiler (gcc), whatever CC/CXX the caller's build used.
(cd "$SRC" && env -u CC -u CXX DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -b -uc -us) \
  > "$TMP/dpkg-buildpackage.log" 2>&1 ||
  { tail -n 60 "$TMP/dpkg-buildpackage.log" >&2; fail "dpkg-buildpackage failed"; }
lap "dpkg-buildpackage"
VERSION=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
CMAKE_VERSION=$(sed -n 's/^project(modtgt VERSION \([0-9.]*\) .*/\1/p' "$SRC/CMakeLists.txt")
[ "$VERSION" = "$CMAKE_VERSION" ] ||
  fail "debian/changelog says $VERSION, CMakeLists.txt says $CMAKE_VERSION"
ARCH=$(dpkg --print-architecture)
mkdir -p "$DEBS"
PACKAGES=(modtgt modtgt-uring modtgt-rbd modtgt-dev)
for p in "${PACKAGES[@]}"; do
  f=$TMP/build/${p}_${VERSION}_$ARCH.deb
  [ -f "$f" ] || fail "dpkg-buildpackage made no $(basename "$f")"
  cp "$f" "$DEBS/"
done
for p in "${PACKAGES[@]}"; do
  dpkg-deb -c "$DEBS/${p}_${VERSION}_$ARCH.deb" | awk '{print $6}' > "$TMP/$p.files"
  dpkg-deb -f "$DEBS/${p}_${VERSION}_$ARCH.deb" Depends > "$TMP/$p.depends"
  info "$p Depends: $(cat "$TMP/$p.depends")"
done
grep -qE 'uring|rbd|rados' "$TMP/modtgt.depends" &&
  fail "modtgt depends on an optional module's library: $(cat "$TMP/modtgt.depends")"
grep -qE 'bs_(uring|rbd)\.so' "$TMP/modtgt.files" && fail "modtgt contains bs_uring.so or bs_rbd.so"
grep -qx '\./usr/lib/modtgt/backing-store/bs_uring\.so' "$TMP/modtgt-uring.files" ||
  fail "modtgt-uring lacks bs_uring.so"
grep -q 'liburing' "$TMP/modtgt-uring.depends" || fail "modtgt-uring does not depend on liburing"
grep -qF "modtgt (= $VERSION)" "$TMP/modtgt-uring.depends" ||
  fail "modtgt-uring does not depend on modtgt (= $VERSION)"
grep -qx '\./usr/lib/modtgt/backing-store/bs_rbd\.so' "$TMP/modtgt-rbd.files" ||
  fail "modtgt-rbd lacks bs_rbd.so"
grep -q 'librbd1' "$TMP/modtgt-rbd.depends" && grep -q 'librados2' "$TMP/modtgt-rbd.depends" ||
  fail "modtgt-rbd does not depend on librbd1 and librados2: $(cat "$TMP/modtgt-rbd.depends")"
grep -qF "modtgt (= $VERSION)" "$TMP/modtgt-rbd.depends" ||
  fail "modtgt-rbd does not depend on modtgt (= $VERSION)"
for f in usr/sbin/modtgtd usr/sbin/modtgtadm usr/lib/modtgt/transport/lld_iscsi.so \
         usr/lib/modtgt/libmodtgt-core.so usr/lib/modtgt/backing-store/bs_rdwr.so \
         usr/lib/modtgt/backing-store/bs_null.so usr/lib/modtgt/backing-store/bs_ram.so \
         usr/lib/modtgt/backing-store/bs_optical.so lib/systemd/system/modtgtd.service \
         usr/share/man/man8/modtgtd.8.gz usr/share/man/man8/modtgtadm.8.gz; do
  grep -qxF "./$f" "$TMP/modtgt.files" || fail "modtgt lacks /$f"
done
for f in usr/include/modtgt/module.h usr/include/modtgt/module.hpp \
         "usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/pkgconfig/modtgt-module.pc" \
         usr/share/modtgt/module.syms usr/share/doc/modtgt-dev/module-sdk.md \
         usr/share/man/man3/modtgt-module.3.gz \
         usr/share/doc/modtgt-dev/examples/bs_example_c/example_c.c; do
  grep -qxF "./$f" "$TMP/modtgt-dev.files" || fail "modtgt-dev lacks /$f"
done

# lintian: no error, no warning (info and pedantic notes are listed, not fatal).
lrc=0
lintian --pedantic --fail-on error,warning "$TMP/build/modtgt_${VERSION}_$ARCH.changes" \
  > "$TMP/lintian.out" 2>&1 || lrc=$?
grep -E '^[EWIPX]: ' "$TMP/lintian.out" | sed 's/^/# lintian: /' >&2 || true
[ $lrc -ne 1 ] || fail "lintian reports errors or warnings (above)"
[ $lrc -eq 0 ] || { cat "$TMP/lintian.out" >&2; fail "lintian failed ($lrc)"; }
lap "lintian"
rm -rf "$SRC"

# ---- 2. a Debian 12 root -----------------------------------------------------------------
# The mirror this machine's apt uses for the suite (one-line or deb822 sources).
MIRROR=$(python3 - "$SUITE" <<'PY'
import glob, sys
suite = sys.argv[1]
files = glob.glob("/etc/apt/sources.list") + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
for f in files:
    for line in open(f):
        w = line.split("#")[0].split()
        if w[:1] == ["deb"]:
            w = [x for x in w[1:] if not x.startswith("[")]
            if len(w) >= 2 and w[1] == suite:
                print(w[0]); sys.exit(0)
for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in open(f).read().split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            k, v = line.split(":", 1)
            fields[k.strip().lower()] = v.split()
        if ("deb" in fields.get("types", []) and suite in fields.get("suites", [])
                and fields.get("enabled", ["yes"])[0] != "no" and fields.get("uris")):
            print(fields["uris"][0]); sys.exit(0)
sys.exit(1)
PY
) || fail "no '$SUITE' source in /etc/apt/sources.list*: cannot pick a mirror"
CACHE=$MODTGT_BUILD/package-test
KEY=$(printf '%s %s minbase\n' "$MIRROR" "$SUITE" | sha256sum | cut -c1-12)
TARBALL=$CACHE/$SUITE-minbase-$KEY.tar
mkdir -p "$CACHE" "$R"
(
  flock 9
  if [ ! -f "$TARBALL" ]; then
    info "debootstrap --variant=minbase $SUITE from $MIRROR (cached in $TARBALL)"
    s=$SECONDS
    debootstrap --variant=minbase "$SUITE" "$R" "$MIRROR" > "$TMP/debootstrap.log" 2>&1 ||
      { tail -n 30 "$TMP/debootstrap.log" >&2; exit 1; }
    info "debootstrap: $((SECONDS - s))s"
    tar -C "$R" -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
  else
    tar -C "$R" -xpf "$TARBALL"
  fi
) 9> "$CACHE/.lock" || fail "cannot make the $SUITE root (debootstrap failed?)"
lap "root ready"
# No service may start inside the root (policy-rc.d, honoured by deb-systemd-invoke).
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"
chmod 0755 "$R/usr/sbin/policy-rc.d"
cp -L /etc/resolv.conf "$R/etc/resolv.conf"
mkdir -p "$R/var/tmp/debs"
cp "$DEBS"/*.deb "$R/var/tmp/debs/"

# in_root CMD...: CMD in the root, with /proc mounted in a private mount namespace that
# ends with the command; a clean environment.
in_root() {
  unshare -m --propagation private sh -c \
    'r=$1; shift; mount -t proc proc "$r/proc" && exec chroot "$r" "$@"' sh "$R" \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}
# apt_install DEB...: apt-get install the local packages; refresh the lists once if the
# cached root's are too old for the mirror.
apt_install() {
  local log=$TMP/apt.log
  if ! in_root apt-get install -y -q --no-install-recommends "$@" > "$log" 2>&1; then
    in_root apt-get update -q >> "$log" 2>&1 || { cat "$log" >&2; return 1; }
    in_root apt-get install -y -q --no-install-recommends "$@" >> "$log" 2>&1 ||
      { cat "$log" >&2; return 1; }
  fi
}
installed() { [ "$(in_root dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

# ---- 3. modtgt alone ---------------------------------------------------------------------
apt_install "/var/tmp/debs/modtgt_${VERSION}_$ARCH.deb" || fail "apt-get install modtgt failed"
lap "apt-get install modtgt"
installed modtgt || fail "modtgt is not installed in the root"
installed liburing2 && fail "installing modtgt pulled in liburing2"
installed librbd1 && fail "installing modtgt pulled in librbd1"
[ -z "$(find "$R/usr/lib" "$R/lib" -name 'liburing.so*' 2>/dev/null)" ] ||
  fail "a liburing library is in the root after installing modtgt alone"
[ -e "$R/usr/lib/modtgt/backing-store/bs_uring.so" ] && fail "bs_uring.so installed with modtgt"
[ -f "$R/lib/systemd/system/modtgtd.service" ] || fail "no modtgtd.service in the root"
# Only modtgt's own files under its folders.
[ "$(in_root dpkg -S /usr/lib/modtgt/transport/lld_iscsi.so | cut -d: -f1)" = modtgt ] ||
  fail "lld_iscsi.so does not belong to modtgt"

# ---- 4. the installed daemon in the root -------------------------------------------------
: > "$LOG"
unshare -m --propagation private sh -c \
  'r=$1; shift; mount -t proc proc "$r/proc" && exec chroot "$r" "$@"' sh "$R" \
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
  /usr/sbin/modtgtd -f --no-config --iscsi portal=127.0.0.1:0 >> "$LOG" 2>&1 &
DAEMON_PID=$!
# The root's own modtgtadm on the root's default socket (/run/modtgt/modtgtd.sock).
radm() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin LC_ALL=C.UTF-8 /usr/sbin/modtgtadm "$@"; }
if ! wait_for 30 radm --mode system --op show; then
  kill -0 "$DAEMON_PID" 2>/dev/null || fail "modtgtd exited at start in the root"
  fail "modtgtd in the root did not answer within 30 s"
fi
lap "daemon up"
grep -qF "modules from /usr/lib/modtgt (compiled-in default)" "$LOG" ||
  fail "the installed daemon did not take /usr/lib/modtgt: $(head -n 1 "$LOG")"
SHOW=$(radm --mode system --op show --json)
PID_BEFORE=$(json_get 'j["pid"]' <<< "$SHOW")
PORTAL=$(json_get 'j["portals"][0]' <<< "$SHOW")
NAMES=$(json_get '" ".join(sorted(m["name"] for m in j["modules"]))' <<< "$SHOW")
info "modules in the root: $NAMES; portal $PORTAL"
for m in rdwr null ram optical iscsi; do
  grep -qw "$m" <<< "$NAMES" || fail "module $m not loaded in the root (loaded: $NAMES)"
done
radm --lld iscsi --mode target --op new --tid 1 --targetname "$IQN"
radm --mode target --op bind --tid 1 --initiator-address ALL
mkdir -p "$R/srv"
truncate -s 16M "$R/srv/disk.img"
radm --mode logicalunit --op new --tid 1 --lun 1 --backing-store /srv/disk.img
iscsi-inq "iscsi://$PORTAL/$IQN/1" > "$TMP/inq.out" 2>&1 || { cat "$TMP/inq.out" >&2; fail "iscsi-inq failed"; }
grep -q '^Vendor:MODTGT' "$TMP/inq.out" || fail "iscsi-inq: $(cat "$TMP/inq.out")"
head -c 8M /dev/urandom > "$TMP/data"
roundtrip() {  # roundtrip LUN FILE_IN_ROOT: write $TMP/data, read it back, compare
  qemu-img convert -n -f raw -O raw "$TMP/data" "iscsi://$PORTAL/$IQN/$1" ||
    fail "qemu-img write to LUN $1 failed"
  qemu-img convert -f raw -O raw "iscsi://$PORTAL/$IQN/$1" "$TMP/back" ||
    fail "qemu-img read of LUN $1 failed"
  cmp -n $((8 << 20)) "$TMP/data" "$TMP/back" || fail "LUN $1 read back differs"
  cmp -n $((8 << 20)) "$TMP/data" "$R$2" || fail "$2 in the root does not hold what was written"
}
roundtrip 1 /srv/disk.img
lap "rdwr LUN served"

# ---- 5. uring is not installed -----------------------------------------------------------
grep -qw uring <<< "$NAMES" && fail "uring is listed although modtgt-uring is not installed"
rc=0
radm --mode system --op bsload --bstype uring > "$TMP/bsload.out" 2>&1 || rc=$?
[ $rc -eq 8 ] || fail "bsload --bstype uring without modtgt-uring: exit $rc, expected 8 (no such module)"
grep -qF "backing store 'uring' is not installed (no bs_uring.so in /usr/lib/modtgt/backing-store; install modtgt-uring)" \
  "$TMP/bsload.out" || fail "bsload --bstype uring: unclear refusal: $(cat "$TMP/bsload.out")"
info "without modtgt-uring: $(cat "$TMP/bsload.out")"
# The same for rbd (modtgt-rbd is only built and checked above: installing it would bring
# the Ceph client libraries into the root).
rc=0
radm --mode system --op bsload --bstype rbd > "$TMP/bsload.out" 2>&1 || rc=$?
[ $rc -eq 8 ] && grep -qF "install modtgt-rbd)" "$TMP/bsload.out" ||
  fail "bsload --bstype rbd without modtgt-rbd: exit $rc: $(cat "$TMP/bsload.out")"

# ---- 6. modtgt-uring, live ---------------------------------------------------------------
apt_install "/var/tmp/debs/modtgt-uring_${VERSION}_$ARCH.deb" || fail "apt-get install modtgt-uring failed"
lap "apt-get install modtgt-uring"
installed liburing2 || fail "modtgt-uring did not bring liburing2"
radm --mode system --op bsload --bstype uring > "$TMP/bsload.out" 2>&1 ||
  fail "bsload --bstype uring after installing modtgt-uring: $(cat "$TMP/bsload.out")"
SHOW=$(radm --mode system --op show --json)
[ "$(json_get 'j["pid"]' <<< "$SHOW")" = "$PID_BEFORE" ] || fail "the daemon restarted"
[ "$(json_get '[m["state"] for m in j["modules"] if m["name"] == "uring"][0]' <<< "$SHOW")" = ready ] ||
  fail "uring is not ready: $SHOW"
truncate -s 16M "$R/srv/uring.img"
radm --mode logicalunit --op new --tid 1 --lun 2 --bstype uring --backing-store /srv/uring.img
head -c 8M /dev/urandom > "$TMP/data"
roundtrip 2 /srv/uring.img
lap "uring LUN served"

stop_daemon

# ---- 7. the unit under systemd -----------------------------------------------------------
# The same root boots with systemd (systemd-nspawn, in its own network namespace holding
# only a loopback, so the unit's default portal, port 3260, collides with nothing).
# modtgtd.service runs exactly as the package installed and enabled it; a check unit inside
# drives it: Type=notify start, the admin socket in its RuntimeDirectory, a LUN file under
# /srv (ReadWritePaths), an initiator over the container's loopback, reload (SIGHUP through
# /bin/kill), restart with the configuration kept (the state file), stop.
apt_install systemd libiscsi-bin || fail "apt-get install systemd libiscsi-bin in the root failed"
lap "apt-get install systemd"
[ -L "$R/etc/systemd/system/multi-user.target.wants/modtgtd.service" ] ||
  fail "installing modtgt did not enable modtgtd.service"
sed "s|@IQN@|$IQN|g" "$MODTGT_SRC/tests/e2e/package/systemd-check.sh" \
  > "$R/usr/local/sbin/modtgt-systemd-check"
chmod 0755 "$R/usr/local/sbin/modtgt-systemd-check"
cp "$MODTGT_SRC/tests/e2e/package/modtgt-systemd-check.service" "$R/etc/systemd/system/"
ln -s /etc/systemd/system/modtgt-systemd-check.service \
  "$R/etc/systemd/system/multi-user.target.wants/modtgt-systemd-check.service"
# nspawn keeps state under /run/systemd/nspawn: a private /run (mount namespace) takes it
# away with it. No registration with a host systemd and no scope unit (none may run here).
rc=0
unshare -m --propagation private sh -c 'mount -t tmpfs modtgt-run /run && exec "$@"' sh \
  timeout -k 10 240 systemd-nspawn -q --register=no --keep-unit --private-network \
  --resolv-conf=off --timezone=off -D "$R" -b > "$TMP/nspawn.log" 2>&1 < /dev/null || rc=$?
lap "boot under systemd-nspawn (exit $rc)"
if ! grep -q '^RESULT: PASS' "$R/modtgt-check.txt" 2>/dev/null; then
  cat "$R/modtgt-check.txt" >&2 2>/dev/null || true
  tail -n 30 "$TMP/nspawn.log" >&2
  fail "modtgtd.service under systemd: $(grep '^RESULT' "$R/modtgt-check.txt" 2>/dev/null ||
                                         echo 'no result (the check never ran)')"
fi
grep -E '^(STEP|Type=|ExecMainStatus=)' "$R/modtgt-check.txt" | sed 's/^/# systemd: /' >&2

check_mounts || fail "mounts were left behind"
info "package test: $((SECONDS - T0))s in all"
