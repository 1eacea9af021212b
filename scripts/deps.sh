#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian 12 package modtgt needs to build and to run its tests.
# Usage: scripts/deps.sh [build|package|test]
#   build: to build; package: build + the Debian packaging tools (dpkg-buildpackage);
#   test (default): build + packaging + every tool the tests use.
# Nothing else on the machine changes: the kernel the VM tests boot, and Debian's
# multipath-tools for that VM, are downloaded and unpacked into the build folder by
# tests/e2e/vm/build-initramfs.sh, never installed (an installed multipath-tools would run
# a multipathd on this machine); the libraries multipath-tools links are in test_pkgs.
set -euo pipefail
what=${1:-test}
build_pkgs=(cmake ninja-build g++ pkg-config libisal-dev libssl-dev liburing-dev
            nlohmann-json3-dev librbd-dev librados-dev)
# dpkg-buildpackage -b -uc -us (debian/control's Build-Depends are build_pkgs).
package_pkgs=(dpkg-dev debhelper fakeroot)
test_pkgs=(libgtest-dev libgmock-dev libiscsi-dev libiscsi-bin qemu-utils qemu-block-extra
           python3 clang libclang-rt-14-dev procps iproute2 make binutils
           qemu-system-x86 open-iscsi busybox cpio kmod genisoimage
           ceph-mon ceph-osd ceph-common ceph-base uuid-runtime
           man-db groff-base bsdextrautils systemd util-linux
           lintian debootstrap debian-archive-keyring systemd-container git
           tgt sg3-utils libbenchmark-dev
           udev dmsetup libaio1 libdevmapper1.02.1 libedit2 libjson-c5 liburcu8 libudev1
           libsystemd0 libgcc-s1)
case $what in
  build) pkgs=("${build_pkgs[@]}") ;;
  package) pkgs=("${build_pkgs[@]}" "${package_pkgs[@]}") ;;
  test) pkgs=("${build_pkgs[@]}" "${package_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: scripts/deps.sh [build|package|test]" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
