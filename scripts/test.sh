#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Quick start (2): install what is needed, build, and run the whole test suite: unit tests,
# ABI tests, fuzz corpus replays and short fuzzing runs, end-to-end tests against the real
# daemon with real initiators (libiscsi, qemu, the Linux kernel's initiator in a VM, a real
# Ceph), the Debian packages in a throwaway root, and the iscsi-test-cu conformance check.
#
# The suite runs on a build with AddressSanitizer and UndefinedBehaviorSanitizer (clang,
# build-sanitize/): every unit and end-to-end test, the daemon and every module included,
# and the libFuzzer targets. (The package test builds and runs the normal build.)
# Extra arguments go to ctest (e.g. -R conformance).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
# clang for this build only: the package test builds the Debian packages as Debian does
# (gcc; Debian 12's dwz cannot read clang 14's DWARF 5).
CC=clang CXX=clang++ scripts/build.sh --dir build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMODTGT_SANITIZE=ON \
  -DMODTGT_FUZZ=ON
cd build-sanitize
ctest --output-on-failure --timeout 1200 -j"$(nproc)" "$@"
