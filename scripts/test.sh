#!/usr/bin/env bash
# Installs missing Debian packages, builds keygate and runs every test.
# Exits non-zero if any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build.sh
ctest --test-dir build --output-on-failure -j2
