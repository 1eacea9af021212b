#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs one libFuzzer binary for a fixed time from its committed corpus (ctest fuzz.NAME.run).
#   run_fuzzer.sh FUZZER SECONDS CORPUS ARTIFACT_DIR
# New inputs go to a temporary folder (the committed corpus is never changed); a crash
# leaves its input in ARTIFACT_DIR and fails the test.
set -euo pipefail
fuzzer=$1 seconds=$2 corpus=$3 artifacts=$4
work=$(mktemp -d "${TMPDIR:-/tmp}/modtgt-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
dict=$(dirname "$corpus")/../$(basename "$corpus").dict
args=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$artifacts/$(basename "$corpus")-")
[ -f "$dict" ] && args+=(-dict="$dict")
# ASan's leak check at exit stays on; libFuzzer reports a leak as a crash.
exec "$fuzzer" "${args[@]}" "$work" "$corpus"
