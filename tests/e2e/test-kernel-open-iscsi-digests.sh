#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The kernel open-iscsi test with CRC32C header and data digests negotiated (libiscsi, the
# other initiator in these tests, has no data digest support).
export KERNEL_TEST_DIGEST=CRC32C
exec bash "$(dirname "$0")/test-kernel-open-iscsi.sh" "$@"
