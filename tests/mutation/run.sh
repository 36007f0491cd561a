#!/usr/bin/env bash
# tests/mutation/run.sh: mutation testing of keygate's security-critical lines.
#
# Applies, one at a time, each small deliberate bug listed in
# tests/mutation/mutations.txt, rebuilds only the test binaries its ctest
# regex names (plus what they depend on), runs those tests, and reports
# KILLED (some test failed, or the mutant did not build) or SURVIVED (every
# test passed: the suite cannot see that bug). Run on demand, not by CI.
#
# Usage: tests/mutation/run.sh [-b BUILD_DIR] [-o NAME[,NAME...]] [-l LOG_DIR] [-n]
#   -b  a configured build directory of this source tree. Default: <repo>/build
#   -o  run only the named mutations
#   -l  where each mutation's build and test output goes. Default: a fresh temp dir
#   -n  do not rebuild the original targets at the end
#
# The tree is never left modified: the file under mutation is copied aside
# first and copied back on every exit path (EXIT/INT/TERM trap), then checked
# byte for byte; if that check fails the script restores it with
# `git checkout` and says so. Exit status: 0 if every mutation was killed,
# 1 if some survived, 2 on a usage or setup error.
#
# mutations.txt: one mutation per line, fields separated by " ||| ":
#   file ||| original snippet ||| replacement ||| ctest -R regex ||| name
# The snippet must occur exactly once in the file (checked); in the snippet
# and the replacement, \n stands for a newline. The regex's
# words ending in "_test" are the targets rebuilt. Blank lines and lines
# starting with '#' are ignored.
set -u -o pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(git -C "$SCRIPT_DIR" rev-parse --show-toplevel)" || exit 2
BUILD_DIR="$REPO/build"
ONLY=""
LOG_DIR=""
REBUILD_AT_END=1
while getopts "b:o:l:n" opt; do
  case "$opt" in
    b) BUILD_DIR="$(cd "$OPTARG" && pwd)" || exit 2 ;;
    o) ONLY=",$OPTARG," ;;
    l) LOG_DIR="$OPTARG" ;;
    n) REBUILD_AT_END=0 ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
  esac
done
LIST="$SCRIPT_DIR/mutations.txt"
[[ -f "$BUILD_DIR/CMakeCache.txt" ]] || { echo "not a configured build dir: $BUILD_DIR" >&2; exit 2; }
[[ -n "$LOG_DIR" ]] || LOG_DIR="$(mktemp -d /tmp/keygate-mutation.XXXXXX)"
mkdir -p "$LOG_DIR"
JOBS="${MUTATION_JOBS:-2}"

BACKUP="$(mktemp /tmp/keygate-mutation-backup.XXXXXX)"
MUTATED=""   # repo-relative path currently mutated, empty when none

restore() {
  [[ -z "$MUTATED" ]] && return 0
  cp -p "$BACKUP" "$REPO/$MUTATED"
  touch "$REPO/$MUTATED"   # newer than the mutant's objects: make rebuilds
  if ! cmp -s "$BACKUP" "$REPO/$MUTATED"; then
    echo "restore of $MUTATED failed; running git checkout" >&2
    git -C "$REPO" checkout -- "$MUTATED"
  fi
  MUTATED=""
}
cleanup() { restore; rm -f "$BACKUP"; }
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

# apply FILE ORIGINAL REPLACEMENT: replaces the one occurrence, or fails.
apply() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
path = sys.argv[1]
old, new = (a.replace("\\n", "\n") for a in sys.argv[2:4])
text = open(path, encoding="utf-8").read()
count = text.count(old)
if count != 1:
    print(f"snippet occurs {count} times in {path}", file=sys.stderr)
    sys.exit(1)
open(path, "w", encoding="utf-8").write(text.replace(old, new, 1))
PY
}

# build_targets TEST...: rebuilds the libraries, then only the named test
# binaries. With Makefiles, "<target>/fast" skips the tools every test target
# also depends on (the keygate command, the example host): no mutated test
# here runs them, and relinking them for every mutation doubles the run.
GENERATOR="$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$BUILD_DIR/CMakeCache.txt")"
build_targets() {
  if [[ "$GENERATOR" == "Unix Makefiles" ]]; then
    cmake --build "$BUILD_DIR" -j"$JOBS" --target keygate keygate_http keygate_tool &&
      make -C "$BUILD_DIR" -j"$JOBS" "${@/%//fast}"
  else
    cmake --build "$BUILD_DIR" -j"$JOBS" --target "$@"
  fi
}

killed=0; survived=0; invalid=0
declare -a survivors=() all_targets=()
SEP=' ||| '
while IFS= read -r line || [[ -n "$line" ]]; do
  [[ -z "${line// }" || "$line" == \#* ]] && continue
  rest="$line"; fields=()
  while [[ "$rest" == *"$SEP"* ]]; do fields+=("${rest%%"$SEP"*}"); rest="${rest#*"$SEP"}"; done
  fields+=("$rest")
  if (( ${#fields[@]} != 5 )); then
    echo "INVALID   (${#fields[@]} fields) $line"; invalid=$((invalid + 1)); continue
  fi
  file="${fields[0]}"; original="${fields[1]}"; replacement="${fields[2]}"
  regex="${fields[3]}"; name="${fields[4]}"
  [[ -n "$ONLY" && "$ONLY" != *",$name,"* ]] && continue
  log="$LOG_DIR/$name.log"
  mapfile -t targets < <(grep -oE '[a-z0-9_]+_test' <<<"$regex" | sort -u)
  all_targets+=("${targets[@]}")

  cp -p "$REPO/$file" "$BACKUP" || { echo "INVALID   $name (no file $file)"; invalid=$((invalid + 1)); continue; }
  MUTATED="$file"
  if ! apply "$REPO/$file" "$original" "$replacement" >"$log" 2>&1; then
    restore; echo "INVALID   $name ($(tail -1 "$log"))"; invalid=$((invalid + 1)); continue
  fi
  touch "$REPO/$file"
  start=$SECONDS
  if ! build_targets "${targets[@]}" >>"$log" 2>&1; then
    restore; killed=$((killed + 1))
    echo "KILLED    $name (does not build) [$((SECONDS - start))s]"; continue
  fi
  ntests="$(ctest --test-dir "$BUILD_DIR" -N -R "$regex" 2>/dev/null | sed -n 's/^Total Tests: //p')"
  if [[ -z "$ntests" || "$ntests" == 0 ]]; then
    restore; echo "INVALID   $name (regex matches no test: $regex)"; invalid=$((invalid + 1)); continue
  fi
  if ctest --test-dir "$BUILD_DIR" -R "$regex" -j"$JOBS" --stop-on-failure \
       --timeout 300 --output-on-failure >>"$log" 2>&1; then
    survived=$((survived + 1)); survivors+=("$name")
    echo "SURVIVED  $name ($ntests tests) [$((SECONDS - start))s]"
  else
    killed=$((killed + 1))
    echo "KILLED    $name ($(grep -m1 -oE '[A-Za-z0-9_]+\.[A-Za-z0-9_/.]+ \.+\*+(Failed|Timeout|Exception)[^ ]*' "$log" | sed 's/ \.*\*\*\*/ /' || true)) [$((SECONDS - start))s]"
  fi
  restore
done <"$LIST"

total=$((killed + survived))
echo "----"
echo "mutations: $total run, $killed killed, $survived survived, $invalid invalid"
if (( total > 0 )); then echo "score: $killed/$total ($(( 100 * killed / total ))%)"; fi
(( survived > 0 )) && echo "survivors: ${survivors[*]}"
echo "logs: $LOG_DIR"
git -C "$REPO" diff --quiet -- $(awk -F' \\|\\|\\| ' '!/^#/ && NF==5 {print $1}' "$LIST" | sort -u) \
  || echo "warning: a mutated file differs from HEAD (it had uncommitted changes before the run, or restore failed)" >&2
if (( REBUILD_AT_END && ${#all_targets[@]} > 0 )); then
  mapfile -t uniq < <(printf '%s\n' "${all_targets[@]}" | sort -u)
  echo "rebuilding the unmutated targets: ${uniq[*]}"
  build_targets "${uniq[@]}" >"$LOG_DIR/rebuild.log" 2>&1 \
    || echo "rebuild failed: see $LOG_DIR/rebuild.log" >&2
fi
(( invalid > 0 )) && exit 2
(( survived > 0 )) && exit 1
exit 0
