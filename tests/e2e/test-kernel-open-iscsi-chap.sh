#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The kernel open-iscsi test with CHAP (open-iscsi 2.1.8: node.session.auth.chap_algs):
# discovery CHAP, a wrong secret refused, then logins with SHA3-256 (mutual), SHA-256,
# SHA-1 (mutual) and MD5, each reading data back (see test-kernel-open-iscsi.sh).
export KERNEL_TEST_CHAP=1
exec bash "$(dirname "$0")/test-kernel-open-iscsi.sh" "$@"
