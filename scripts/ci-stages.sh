#!/usr/bin/env bash
# Runs the CI stages that follow the main build and ctest run (scripts/test.sh
# calls it): each stage builds in its own tree with clang 14 and fails CI
# (non-zero exit) on any failure.
#
#   asan           ASan+UBSan build of the library, tools and tests in
#                  build-asan; the whole ctest suite runs there (leaks and UB
#                  are errors).
#   thread-safety  -Wthread-safety -Werror=thread-safety compile of keygate
#                  and keygate::http in build-tsa (checks ABSL_GUARDED_BY).
#   fuzz           libFuzzer build in build-fuzz; each fuzz/<name>_fuzzer runs
#                  from its seed corpus for KEYGATE_FUZZ_SECONDS (default 20)
#                  with -rss_limit_mb=2048; any crash, leak or timeout fails.
#
# Usage: scripts/ci-stages.sh [asan] [thread-safety] [fuzz]   (default: all)
# Environment: KEYGATE_JOBS (build parallelism, default nproc),
#   KEYGATE_FUZZ_SECONDS, KEYGATE_ASAN_CTEST_ARGS (extra ctest arguments for
#   the asan stage, e.g. "-LE slow").
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS="${KEYGATE_JOBS:-$(nproc)}"
FUZZ_SECONDS="${KEYGATE_FUZZ_SECONDS:-20}"
CLANG_CC="${KEYGATE_CLANG_CC:-clang-14}"
CLANG_CXX="${KEYGATE_CLANG_CXX:-clang++-14}"

stage_asan() {
  local flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
  # vptr checks need RTTI from every library; Debian's RocksDB is not built
  # for it, so that one check is off.
  flags+=" -fno-sanitize=vptr -fno-omit-frame-pointer"
  CC="$CLANG_CC" CXX="$CLANG_CXX" cmake -S . -B build-asan \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYGATE_BUILD_TOOLS=ON \
    -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
  cmake --build build-asan -j"$JOBS"
  # shellcheck disable=SC2086
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    ctest --test-dir build-asan --output-on-failure -j2 \
      ${KEYGATE_ASAN_CTEST_ARGS:-}
}

stage_thread_safety() {
  CC="$CLANG_CC" CXX="$CLANG_CXX" cmake -S . -B build-tsa \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DKEYGATE_BUILD_TESTS=OFF -DKEYGATE_BUILD_TOOLS=OFF \
    -DKEYGATE_BUILD_EXAMPLES=OFF \
    -DCMAKE_CXX_FLAGS="-Wthread-safety -Werror=thread-safety" >/dev/null
  cmake --build build-tsa -j"$JOBS" --target keygate keygate_http
}

stage_fuzz() {
  CC="$CLANG_CC" CXX="$CLANG_CXX" cmake -S . -B build-fuzz \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYGATE_BUILD_FUZZERS=ON \
    -DKEYGATE_BUILD_TESTS=OFF -DKEYGATE_BUILD_TOOLS=OFF \
    -DKEYGATE_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build build-fuzz -j"$JOBS"
  local failed=0 source name corpus work log
  for source in fuzz/*_fuzzer.cc; do
    name="$(basename "$source" .cc)"
    corpus="fuzz/corpus/${name%_fuzzer}"
    work="build-fuzz/corpus/${name%_fuzzer}"
    log="build-fuzz/logs/$name.log"
    mkdir -p "$work" build-fuzz/logs build-fuzz/artifacts
    # New inputs go to the scratch corpus, never into the repository.
    if ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
        "build-fuzz/$name" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 \
        -timeout=30 -print_final_stats=1 \
        -artifact_prefix="build-fuzz/artifacts/$name-" \
        "$work" "$corpus" >"$log" 2>&1; then
      echo "fuzz $name: ok, $(grep -m1 -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" || echo '? runs')"
    else
      echo "fuzz $name: FAILED (log $log, artifacts build-fuzz/artifacts/$name-*)"
      tail -n 40 "$log"
      failed=1
    fi
  done
  return "$failed"
}

run_stage() {
  local stage="$1" start status
  start="$(date +%s)"
  echo "=== stage $stage ==="
  status=0
  case "$stage" in
    asan) stage_asan || status=$? ;;
    thread-safety) stage_thread_safety || status=$? ;;
    fuzz) stage_fuzz || status=$? ;;
    *) echo "unknown stage $stage" >&2; return 2 ;;
  esac
  echo "=== stage $stage: $([ "$status" -eq 0 ] && echo passed || echo FAILED)" \
    "in $(( $(date +%s) - start )) s ==="
  return "$status"
}

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(thread-safety fuzz asan)
failed=0
for stage in "${stages[@]}"; do
  run_stage "$stage" || failed=1
done
exit "$failed"
