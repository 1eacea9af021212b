#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and builds modtgt into build/ (warnings are errors).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMODTGT_WERROR=ON "$@" >/dev/null
ninja -C build
