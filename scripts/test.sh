#!/usr/bin/env bash
# Installs missing Debian packages, builds keygate and runs every test
# (ctest: unit, store, HTTP, crash/power-loss/fault, corpus replay).
# Exits non-zero if any test fails.
#
# The sanitizer, thread-safety and fuzzing stages run separately with
# `bash scripts/ci-stages.sh [asan] [thread-safety] [fuzz]` (README, "Test
# stages"); they join this script once the ASan stage is green on the whole
# suite.
set -euo pipefail
cd "$(dirname "$0")/.."

start="$(date +%s)"
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j2
echo "=== main build and ctest: passed in $(( $(date +%s) - start )) s ==="
