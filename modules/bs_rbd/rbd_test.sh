#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctest bs_rbd.unit: starts a throwaway single-node Ceph cluster (tests/e2e/ceph.sh) and
# runs the module's tests (rbd_test.cc, the binary given as $1) against it.
source "$(dirname "$0")/../../tests/e2e/functions.sh"
source "$(dirname "$0")/../../tests/e2e/ceph.sh"
[ -x "${1:-}" ] || fail "usage: rbd_test.sh BS_RBD_TEST_BINARY"
ceph_start
RBD_TEST_CONF=$CEPH_CONF RBD_TEST_KEYRING=$CEPH_KEYRING RBD_TEST_POOL=$CEPH_POOL "$1"
