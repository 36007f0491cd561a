#!/usr/bin/env bash
# bench/fleet/compare.sh: two builds of keygate_bench on the same throwaway
# PostgreSQL server, alternating, so that both see the same machine load
# (a shared machine's load drifts; compare medians of one run only).
#   bash bench/fleet/compare.sh BEFORE_BIN AFTER_BIN FILTER [ROUNDS]
# FILTER is a --benchmark_filter regex, ROUNDS (default 5) how many times
# each binary runs it (one repetition each, in the order B A B A ...).
# Prints every run's lines, then per benchmark the median real time of each
# binary and the ratio after/before.
set -euo pipefail
cd "$(dirname "$0")/../.."

BEFORE="$(realpath "$1")"
AFTER="$(realpath "$2")"
FILTER="$3"
ROUNDS="${4:-5}"

source scripts/throwaway-postgres.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/keygate-compare.XXXXXX")"
cleanup() { throwaway_postgres_stop; rm -rf "$work"; }
trap cleanup EXIT
throwaway_postgres_start "$work"
echo "compare: PostgreSQL at $THROWAWAY_PG_CONNINFO; start $(uptime)"
for ((i = 0; i < ROUNDS; ++i)); do
  for which in before after; do
    bin="$BEFORE"; [[ "$which" == after ]] && bin="$AFTER"
    KEYGATE_BENCH_POSTGRES="$THROWAWAY_PG_CONNINFO" "$bin" \
      --benchmark_filter="$FILTER" --benchmark_format=csv 2>/dev/null |
      grep '^"' | sed "s/^/$which,/" >>"$work/results.csv"
  done
done
echo "end $(uptime)"
cat "$work/results.csv"
python3 - "$work/results.csv" <<'PY'
import csv, statistics, sys
runs = {}
for row in csv.reader(open(sys.argv[1])):
    which, name, real, unit = row[0], row[1], float(row[3]), row[5]
    runs.setdefault(name, {}).setdefault(which, []).append((real, unit))
for name, by in runs.items():
    b = [r for r, _ in by.get("before", [])]
    a = [r for r, _ in by.get("after", [])]
    unit = (by.get("after") or by.get("before"))[0][1]
    if not a or not b:
        continue
    mb, ma = statistics.median(b), statistics.median(a)
    print(f"{name}: before median {mb:.1f} {unit} ({len(b)} runs), "
          f"after median {ma:.1f} {unit} ({len(a)} runs), after/before {ma / mb:.2f}")
PY
