#!/usr/bin/env bash
# Installs missing Debian packages, builds keygate and runs every test, then
# the CI stages (scripts/ci-stages.sh: thread-safety build, fuzzing, ASan+UBSan
# test run). Exits non-zero if any test or stage fails.
set -euo pipefail
cd "$(dirname "$0")/.."

start="$(date +%s)"
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j2
echo "=== main build and ctest: passed in $(( $(date +%s) - start )) s ==="
bash scripts/ci-stages.sh
