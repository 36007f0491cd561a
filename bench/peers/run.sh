#!/usr/bin/env bash
# Runs keygate's verify beside its peers in one process and one run
# (BENCHMARKS.md, "Peers"): Redis (SHA-256 digest + GET), PostgreSQL
# (SHA-256 digest + indexed SELECT) and the reference product's scheme
# (the SELECT, then a bcrypt cost-10 compare).
#
# Installs what is missing (redis-server, postgresql, libpq-dev,
# libcrypt-dev), builds keygate_peers_bench in $KEYGATE_BUILD_DIR (default
# build), starts redis-server and a throwaway PostgreSQL cluster on loopback
# in a temporary directory, runs the benchmarks, prints medians and ratios to
# keygate, and stops both servers by their PIDs. Nothing is left running or on
# disk, whatever happens (trap).
#
# Usage: bench/peers/run.sh [extra keygate_peers_bench flags]
# Environment: KEYGATE_PEERS_TOKENS (default 10000), KEYGATE_PEERS_REPETITIONS
#   (default 5), KEYGATE_PEERS_OUT (JSON results, default $KEYGATE_BUILD_DIR/peers.json).
set -euo pipefail
cd "$(dirname "$0")/../.."

BUILD_DIR="${KEYGATE_BUILD_DIR:-build}"
REPETITIONS="${KEYGATE_PEERS_REPETITIONS:-5}"
OUT="${KEYGATE_PEERS_OUT:-$BUILD_DIR/peers.json}"

bash scripts/install-deps.sh redis-server postgresql libpq-dev libcrypt-dev

pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
if [[ -z "$pg_bin" || ! -x "$pg_bin/initdb" ]]; then
  echo "run.sh: PostgreSQL server binaries not found under /usr/lib/postgresql" >&2
  exit 1
fi

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKEYGATE_BUILD_PEER_BENCHMARKS=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target keygate_peers_bench

work="$(mktemp -d /tmp/keygate-peers.XXXXXX)"
chmod 755 "$work"
redis_pid=""
pg_pid=""
cleanup() {
  if [[ -n "$redis_pid" ]] && kill -0 "$redis_pid" 2>/dev/null; then
    kill -TERM "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  if [[ -n "$pg_pid" ]] && kill -0 "$pg_pid" 2>/dev/null; then
    kill -INT "$pg_pid" 2>/dev/null || true  # PostgreSQL's fast shutdown
    for _ in $(seq 100); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Redis, in memory only, loopback only.
redis_port="$(free_port)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" \
  --appendonly no --dir "$work" --protected-mode yes \
  >"$work/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$redis_port" ping >/dev/null

# PostgreSQL refuses to run as root: as root, the cluster belongs to the
# postgres user the package created.
as_pg=()
if [[ "$(id -u)" -eq 0 ]]; then
  as_pg=(runuser -u postgres --)
  chown postgres "$work"
fi
pg_port="$(free_port)"
"${as_pg[@]}" "$pg_bin/initdb" -D "$work/pg" -U keygate --auth=trust \
  --no-sync >"$work/initdb.log" 2>&1
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
  -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1" start >/dev/null
pg_pid="$(head -n1 "$work/pg/postmaster.pid")"

export KEYGATE_PEERS_REDIS_PORT="$redis_port"
export KEYGATE_PEERS_PG_CONNINFO="host=127.0.0.1 port=$pg_port user=keygate dbname=postgres"
# The benchmark's throwaway keygate store goes into the work directory too.
export TMPDIR="$work"

echo "peers: redis pid $redis_pid port $redis_port, postgres pid $pg_pid port $pg_port," \
  "${KEYGATE_PEERS_TOKENS:-10000} tokens"
"$BUILD_DIR/keygate_peers_bench" \
  --benchmark_repetitions="$REPETITIONS" \
  --benchmark_report_aggregates_only=true \
  --benchmark_out="$OUT" --benchmark_out_format=json "$@"

python3 - "$OUT" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    results = json.load(f)
medians = {}
runs = [b for b in results["benchmarks"] if not b.get("error_occurred")]
# With repetitions, the medians; with a single run, the run itself.
if any(b.get("aggregate_name") for b in runs):
    runs = [b for b in runs if b.get("aggregate_name") == "median"]
for b in runs:
    medians[b["run_name"]] = b["real_time"]
base = medians.get("BM_PeerKeygateVerify/real_time")
print()
print(f"{'benchmark (median wall time)':45} {'ns/verify':>14} {'x keygate':>12}")
for name, ns in medians.items():
    ratio = f"{ns / base:,.0f}x" if base else "-"
    print(f"{name:45} {ns:14,.0f} {ratio:>12}")
EOF
