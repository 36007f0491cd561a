#!/usr/bin/env bash
# Installs missing Debian packages, then builds keygate (library, `keygate`
# command at build/keygate, tests) in ./build.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
