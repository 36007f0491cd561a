#!/usr/bin/env bash
# scripts/fleet-demo.sh: a keygate fleet on one machine. Starts a throwaway
# PostgreSQL cluster on loopback (initdb in a temporary directory, stopped
# and removed at the end), three `keygate serve` processes sharing it, and
# walks the fleet with curl: a token created through one process verifies on
# the other two; a revoke through one returns and the very next verify on
# every process is refused.
#
# Exits 0 when every step answered as expected, non-zero otherwise. Leaves
# nothing running.
#
# Environment:
#   KEYGATE_SKIP_BUILD  set to 1 to use an existing ./build/keygate
#   KEYGATE_PG_BIN      PostgreSQL's bin directory (default: Debian's newest
#                       /usr/lib/postgresql/*/bin)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { printf '\nFAILED: %s\n' "$*" >&2; exit 1; }

# ---- build -----------------------------------------------------------------
keygate="$repo/build/keygate"
if [[ "${KEYGATE_SKIP_BUILD:-0}" != 1 ]]; then
  step "build"
  bash "$repo/scripts/build.sh"
fi
[[ -x "$keygate" ]] || fail "no binary at $keygate"
source "$repo/scripts/throwaway-postgres.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/keygate-fleet.XXXXXX")"
chmod 0755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  throwaway_postgres_stop
  rm -rf "$work"
}
trap cleanup EXIT

# ---- PostgreSQL ----------------------------------------------------------------
step "PostgreSQL on loopback (a throwaway cluster in $work/pg, trust on loopback only)"
throwaway_postgres_start "$work" || fail "PostgreSQL did not start"
conninfo="$THROWAWAY_PG_CONNINFO"
echo "$conninfo"

# ---- keys shared by the fleet ------------------------------------------------
pepper="$work/keygate.pepper"
jwt_secret="$work/jwt-secret"
(umask 077 && head -c 32 /dev/urandom | base64 >"$jwt_secret")
step "keygate init (schema created in PostgreSQL; one pepper file for the fleet)"
"$keygate" --postgres "$conninfo" --pepper-file "$pepper" init

# ---- three processes ---------------------------------------------------------
base=()
for i in 0 1 2; do
  port_file="$work/port.$i"
  "$keygate" --postgres "$conninfo" --pepper-file "$pepper" serve \
    --listen 127.0.0.1:0 --port-file "$port_file" \
    --jwt-secret-file "$jwt_secret" 2>"$work/serve.$i.log" &
  pids+=($!)
  for _ in $(seq 1 100); do [[ -s "$port_file" ]] && break; sleep 0.1; done
  [[ -s "$port_file" ]] || { cat "$work/serve.$i.log" >&2; fail "process $i did not start"; }
  base+=("http://127.0.0.1:$(tr -d '\n' <"$port_file")")
  echo "process $i: ${base[$i]} (pid ${pids[$i]})"
done

jwt="$("$keygate" jwt mint --jwt-secret-file "$jwt_secret" --org acme --sub alice --ttl 1h)"
body="$work/body"
# call PROCESS METHOD PATH EXPECTED_STATUS CREDENTIAL [JSON_BODY]
call() {
  local p="$1" method="$2" path="$3" want="$4" cred="$5" data="${6:-}"
  local args=(-sS -o "$body" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $cred")
  [[ -n "$data" ]] && args+=(-H 'Content-Type: application/json' --data "$data")
  local got
  got="$(curl "${args[@]}" "${base[$p]}$path")" || fail "curl $method $path on process $p"
  echo "process $p: $method $path -> $got"
  [[ "$got" == "$want" ]] || { cat "$body" >&2; fail "want $want"; }
}

step "create a service account and a token through process 0"
call 0 POST /service-accounts 201 "$jwt" '{"name":"Fleet bot","slug":"fleet-bot"}'
call 0 POST /service-accounts/fleet-bot/tokens 201 "$jwt" '{"name":"deploy","slug":"deploy","scopes":["read:tokens"]}'
token="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$body")"

step "the token verifies on every process (each from its own in-memory index)"
for p in 0 1 2; do
  for _ in $(seq 1 50); do
    code="$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "${base[$p]}/whoami")"
    [[ "$code" == 200 ]] && break; sleep 0.1
  done
  call "$p" GET /whoami 200 "$token"
done

step "revoke through process 1; when it returns, no process accepts the token"
call 1 DELETE /service-accounts/fleet-bot/tokens/deploy 204 "$jwt"
for p in 0 1 2; do call "$p" GET /whoami 401 "$token"; done
token=""

step "stop the fleet (SIGTERM, each must exit 0)"
for i in 0 1 2; do
  kill -TERM "${pids[$i]}"
  rc=0; wait "${pids[$i]}" || rc=$?
  [[ "$rc" == 0 ]] || { cat "$work/serve.$i.log" >&2; fail "process $i exited $rc"; }
done
pids=()
step "fleet demo OK"
