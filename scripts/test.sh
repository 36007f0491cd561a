#!/usr/bin/env bash
# Installs missing Debian packages, builds keygate and runs every test
# (ctest: unit, store, HTTP, crash/power-loss/fault, corpus replay), then the
# CI stages of scripts/ci-stages.sh: asan (ASan+UBSan build with
# -Wthread-safety -Werror=thread-safety and the fuzzers, whole ctest suite),
# fuzz (each libFuzzer target for KEYGATE_FUZZ_SECONDS) and tsan (the verify
# index under ThreadSanitizer). Exits non-zero if anything fails.
#
# KEYGATE_STAGES (default "asan fuzz tsan") picks the stages; set it to
# "none" to run only the main build and ctest. README, "Test stages", says
# how to run each stage alone.
set -euo pipefail
cd "$(dirname "$0")/.."

start="$(date +%s)"
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j2
echo "=== main build and ctest: passed in $(( $(date +%s) - start )) s ==="

stages="${KEYGATE_STAGES:-asan fuzz tsan}"
if [ "$stages" != "none" ]; then
  # shellcheck disable=SC2086
  bash scripts/ci-stages.sh $stages
fi
echo "=== all of scripts/test.sh: passed in $(( $(date +%s) - start )) s ==="
