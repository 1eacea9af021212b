#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and builds modtgt (warnings are errors) into build/, or into DIR with
# --dir DIR. Other arguments go to cmake (e.g. -DMODTGT_SANITIZE=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
if [ "${1:-}" = --dir ]; then
  dir=$2
  shift 2
fi
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMODTGT_WERROR=ON "$@" >/dev/null
ninja -C "$dir"
