#!/usr/bin/env bash
# bench/fleet/run_visibility.sh: bench/fleet_revocation_visibility.cc
# (N real processes on one PostgreSQL; how soon a revocation is refused in
# every one of them) against a throwaway server on loopback
# (scripts/throwaway-postgres.sh), stopped and removed at the end, for the
# lease off (0: no fleet wait) and on (5 s). Builds the program in
# $KEYGATE_BUILD_DIR (default build) unless KEYGATE_VISIBILITY_BIN names one
# (or several, space-separated: run in turn on the same server, so that
# they see the same machine load); KEYGATE_VISIBILITY_LEASES (default
# "0 5000") lists the leases in ms.
#   bash bench/fleet/run_visibility.sh [rounds] [processes]   (200, 3)
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS="${1:-200}"
PROCESSES="${2:-3}"
BIN="${KEYGATE_VISIBILITY_BIN:-}"
if [[ -z "$BIN" ]]; then
  BUILD_DIR="${KEYGATE_BUILD_DIR:-build}"
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR" -j2 --target keygate_fleet_revocation_visibility
  BIN="$BUILD_DIR/keygate_fleet_revocation_visibility"
fi

source scripts/throwaway-postgres.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/keygate-visibility.XXXXXX")"
cleanup() { throwaway_postgres_stop; rm -rf "$work"; }
trap cleanup EXIT
throwaway_postgres_start "$work"
echo "visibility: PostgreSQL at $THROWAWAY_PG_CONNINFO; $(uptime)"
for lease_ms in ${KEYGATE_VISIBILITY_LEASES:-0 5000}; do
  for bin in $BIN; do
    echo "== $bin"
    KEYGATE_BENCH_POSTGRES="$THROWAWAY_PG_CONNINFO" \
      "$bin" "$ROUNDS" "$lease_ms" "$PROCESSES"
  done
done
