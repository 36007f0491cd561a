#!/usr/bin/env bash
# Runs the CI stages that follow the main build and ctest run (scripts/test.sh
# calls it, so .ci/run runs them): each builds with clang 14 and fails CI
# (non-zero exit) on any failure.
#
#   asan           One clang tree, build-asan, for three checks: ASan+UBSan
#                  (leaks and UB are errors), -Wthread-safety
#                  -Werror=thread-safety (checks ABSL_GUARDED_BY and friends in
#                  every target: library, adapter, tools, tests), and the
#                  libFuzzer targets (the libraries also carry
#                  -fsanitize=fuzzer-no-link coverage; KEYGATE_BUILD_FUZZERS).
#                  Builds everything there and runs the whole ctest suite.
#   thread-safety  Only the -Wthread-safety compile of keygate, keygate::http
#                  and the keygate command, in build-asan (for running it
#                  alone; the asan stage does it as part of its build).
#   fuzz           Each fuzz/<name>_fuzzer (built in build-asan) runs from its
#                  seed corpus for KEYGATE_FUZZ_SECONDS (default 30) with
#                  -rss_limit_mb=2048; any crash, leak or timeout fails.
#   tsan           ThreadSanitizer on what it can check meaningfully: the
#                  lock-free verify index (lib/index with lib/scope and
#                  lib/crypto, compiled with -fsanitize=thread) under
#                  tests/tsan/ stress tests, in build-tsan (KEYGATE_TSAN=ON).
#                  Debian's RocksDB and Abseil are not instrumented, so the
#                  store, storage and HTTP layers are not run under TSan.
#
# Usage: scripts/ci-stages.sh [asan] [thread-safety] [fuzz] [tsan]
#        (default: asan fuzz tsan)
# Environment: KEYGATE_JOBS (build parallelism, default nproc),
#   KEYGATE_FUZZ_SECONDS, KEYGATE_ASAN_CTEST_ARGS (extra ctest arguments for
#   the asan stage, e.g. "-R cli_test").
set -euo pipefail
cd "$(dirname "$0")/.."

JOBS="${KEYGATE_JOBS:-$(nproc)}"
FUZZ_SECONDS="${KEYGATE_FUZZ_SECONDS:-30}"
CLANG_CC="${KEYGATE_CLANG_CC:-clang-14}"
CLANG_CXX="${KEYGATE_CLANG_CXX:-clang++-14}"

# Sanitizer runtime options shared by the asan and fuzz stages. ASan's
# default disable_coredump=1 stays (tests/cli_test.cc handles it for the
# processes whose core limit it checks).
ASAN_RUNTIME_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1"
UBSAN_RUNTIME_OPTIONS="halt_on_error=1:print_stacktrace=1"

configure_asan_tree() {
  local flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
  # vptr checks need RTTI from every library; Debian's RocksDB is not built
  # for it, so that one check is off.
  flags+=" -fno-sanitize=vptr -fno-omit-frame-pointer"
  flags+=" -Wthread-safety -Werror=thread-safety"
  # -O1 and line tables only: about a third less compile time than -O2 -g on
  # this 2-core machine, and still file:line in every sanitizer report.
  CC="$CLANG_CC" CXX="$CLANG_CXX" cmake -S . -B build-asan \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYGATE_BUILD_TOOLS=ON \
    -DKEYGATE_BUILD_FUZZERS=ON -DKEYGATE_BUILD_BENCHMARKS=OFF \
    -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
}

fuzz_targets() {
  local source
  for source in fuzz/*_fuzzer.cc; do basename "$source" .cc; done
}

stage_asan() {
  configure_asan_tree
  cmake --build build-asan -j"$JOBS"
  # The crash campaign runs in full (200 SIGKILLs, 60 power losses) in the
  # main ctest run; under ASan every cycle costs several times more, and a
  # memory error shows in the first cycles, so here it is 50 and 20.
  # shellcheck disable=SC2086
  ASAN_OPTIONS="$ASAN_RUNTIME_OPTIONS" UBSAN_OPTIONS="$UBSAN_RUNTIME_OPTIONS" \
  KEYGATE_CRASH_KILLS="${KEYGATE_CRASH_KILLS:-50}" \
  KEYGATE_POWER_LOSS_CYCLES="${KEYGATE_POWER_LOSS_CYCLES:-20}" \
    ctest --test-dir build-asan --output-on-failure -j2 \
      ${KEYGATE_ASAN_CTEST_ARGS:-}
}

stage_thread_safety() {
  configure_asan_tree
  cmake --build build-asan -j"$JOBS" --target keygate keygate_http keygate_cmd
}

stage_fuzz() {
  configure_asan_tree
  # shellcheck disable=SC2046
  cmake --build build-asan -j"$JOBS" --target $(fuzz_targets)
  local failed=0 name corpus work log
  for name in $(fuzz_targets); do
    corpus="fuzz/corpus/${name%_fuzzer}"
    work="build-asan/fuzz-corpus/${name%_fuzzer}"
    log="build-asan/fuzz-logs/$name.log"
    mkdir -p "$work" build-asan/fuzz-logs build-asan/fuzz-artifacts
    # New inputs go to the scratch corpus, never into the repository.
    if ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="$UBSAN_RUNTIME_OPTIONS" \
        "build-asan/$name" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 \
        -timeout=30 -print_final_stats=1 \
        -artifact_prefix="build-asan/fuzz-artifacts/$name-" \
        "$work" "$corpus" >"$log" 2>&1; then
      echo "fuzz $name: ok, $(grep -m1 -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" || echo '? runs')"
    else
      echo "fuzz $name: FAILED (log $log, artifacts build-asan/fuzz-artifacts/$name-*)"
      tail -n 40 "$log"
      failed=1
    fi
  done
  return "$failed"
}

stage_tsan() {
  CC="$CLANG_CC" CXX="$CLANG_CXX" cmake -S . -B build-tsan \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEYGATE_TSAN=ON \
    -DKEYGATE_BUILD_TOOLS=OFF -DKEYGATE_BUILD_EXAMPLES=OFF \
    -DKEYGATE_BUILD_BENCHMARKS=OFF >/dev/null
  local failed=0 source name
  for source in tests/tsan/*_test.cc; do
    name="$(basename "$source" .cc)"
    cmake --build build-tsan -j"$JOBS" --target "$name"
    # halt_on_error: the first race fails the stage; exitcode 66 tells a
    # race from a test failure.
    if TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1" \
        "build-tsan/$name"; then
      echo "tsan $name: ok"
    else
      echo "tsan $name: FAILED (exit $?; 66 = data race reported)"
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
    tsan) stage_tsan || status=$? ;;
    *) echo "unknown stage $stage" >&2; return 2 ;;
  esac
  echo "=== stage $stage: $([ "$status" -eq 0 ] && echo passed || echo FAILED)" \
    "in $(( $(date +%s) - start )) s ==="
  return "$status"
}

if ! command -v "$CLANG_CXX" >/dev/null; then
  echo "ci-stages: $CLANG_CXX not found (Debian 12: apt-get install clang-14)" >&2
  exit 1
fi

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(asan fuzz tsan)
failed=0
for stage in "${stages[@]}"; do
  run_stage "$stage" || failed=1
done
exit "$failed"
