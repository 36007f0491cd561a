#!/usr/bin/env bash
# bench/fleet/run.sh: the fleet benchmarks (bench/fleet_store_benchmark.cc
# and bench/fleet_lease_benchmark.cc) against a throwaway PostgreSQL server
# on loopback (scripts/throwaway-postgres.sh), stopped and removed at the
# end. Builds keygate_bench in $KEYGATE_BUILD_DIR (default build) and passes
# extra arguments to it, e.g.
#   bash bench/fleet/run.sh --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD_DIR="${KEYGATE_BUILD_DIR:-build}"
bash scripts/install-deps.sh postgresql libpq-dev
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target keygate_bench

source scripts/throwaway-postgres.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/keygate-fleet-bench.XXXXXX")"
cleanup() { throwaway_postgres_stop; rm -rf "$work"; }
trap cleanup EXIT
throwaway_postgres_start "$work"
echo "fleet bench: PostgreSQL at $THROWAWAY_PG_CONNINFO"
KEYGATE_BENCH_POSTGRES="$THROWAWAY_PG_CONNINFO" \
  "$BUILD_DIR/keygate_bench" --benchmark_filter='BM_(Fleet|LeaseHeld|ReportApplied)' "$@"
