#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Quick start (2): install what is needed, build, and run the whole test suite: unit tests,
# ABI tests, fuzz corpus replays, end-to-end tests against the real daemon with real
# initiators, and the iscsi-test-cu conformance check against the committed expected list.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 -j"$(nproc)" "$@"
