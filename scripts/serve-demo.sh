#!/usr/bin/env bash
# scripts/serve-demo.sh: build keygate, start `keygate serve` on an embedded
# store with a development JWT secret, and walk the API with curl:
# create a service account and a token, call /whoami with the token, revoke
# it, and see the 401 problem. Stops the server with SIGTERM at the end.
#
# Exits 0 when every step answered as expected, non-zero otherwise.
#
# Environment:
#   KEYGATE_DEMO_PORT   port to listen on (default: a free port)
#   KEYGATE_DEMO_DIR    working directory for data and secret (default: .)
#   KEYGATE_SKIP_BUILD  set to 1 to use an existing ./build/keygate
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${KEYGATE_DEMO_DIR:-$PWD}"
mkdir -p "$work"
cd "$work"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { printf '\nFAILED: %s\n' "$*" >&2; exit 1; }

# ---- build ---------------------------------------------------------------
keygate="$repo/build/keygate"
if [[ "${KEYGATE_SKIP_BUILD:-0}" != 1 ]]; then
  step "build"
  if [[ -x "$repo/scripts/build.sh" || -f "$repo/scripts/build.sh" ]]; then
    bash "$repo/scripts/build.sh"
  else
    cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$repo/build" -j2 --target keygate_cmd
  fi
fi
[[ -x "$keygate" ]] || fail "no binary at $keygate"

# ---- data and development secret -------------------------------------------
data_dir="$work/keygate-data"
jwt_secret="$work/keygate-dev-jwt-secret"
if [[ ! -d "$data_dir" ]]; then
  step "keygate init (store in $data_dir)"
  "$keygate" --data-dir "$data_dir" init
fi
if [[ ! -f "$jwt_secret" ]]; then
  step "development JWT secret ($jwt_secret, mode 0600)"
  (umask 077 && head -c 32 /dev/urandom | base64 >"$jwt_secret")
fi

# ---- start the server --------------------------------------------------------
port="${KEYGATE_DEMO_PORT:-0}"
port_file="$(mktemp "${TMPDIR:-/tmp}/keygate-port.XXXXXX")"
log_file="$(mktemp "${TMPDIR:-/tmp}/keygate-serve-log.XXXXXX")"
rm -f "$port_file"
step "keygate serve --listen 127.0.0.1:$port (log: $log_file)"
"$keygate" --data-dir "$data_dir" serve --listen "127.0.0.1:$port" \
  --jwt-secret-file "$jwt_secret" --port-file "$port_file" \
  --auth-check-scope-from-header 2>"$log_file" &
server_pid=$!
cleanup() {
  if kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" || true; fi
  rm -f "$port_file"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  [[ -s "$port_file" ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$log_file" >&2; fail "server exited"; }
  sleep 0.1
done
[[ -s "$port_file" ]] || fail "server did not report its port"
port="$(tr -d '\n' <"$port_file")"
base="http://127.0.0.1:$port"
echo "listening on $base"

# ---- mint a JWT --------------------------------------------------------------
step "mint a JWT for organization acme, subject alice (HS256, 1 hour)"
if "$keygate" jwt --help >/dev/null 2>&1; then
  jwt="$("$keygate" jwt mint --jwt-secret-file "$jwt_secret" --org acme \
          --sub alice --ttl 1h 2>/dev/null || true)"
fi
if [[ -z "${jwt:-}" ]]; then
  jwt="$(python3 -c 'import sys,time,json,hmac,hashlib,base64
k=open(sys.argv[1],"rb").read().rstrip(b"\r\n")
e=lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
h=e(b"{\"alg\":\"HS256\",\"typ\":\"JWT\"}")
p=e(json.dumps({"org":"acme","sub":"alice","exp":int(time.time())+3600}).encode())
print(h+"."+p+"."+e(hmac.new(k,(h+"."+p).encode(),hashlib.sha256).digest()))' "$jwt_secret")"
fi
[[ -n "$jwt" ]] || fail "could not mint a JWT"
echo "JWT: ${jwt:0:24}..."

# call METHOD PATH EXPECTED_STATUS [CREDENTIAL] [JSON_BODY]: prints the body,
# fails unless the status matches.
body_file="$(mktemp "${TMPDIR:-/tmp}/keygate-body.XXXXXX")"
call() {
  local method="$1" path="$2" want="$3" cred="${4:-}" data="${5:-}" header="${6:-}"
  local args=(-sS -o "$body_file" -w '%{http_code}' -X "$method")
  [[ -n "$cred" ]] && args+=(-H "Authorization: Bearer $cred")
  [[ -n "$data" ]] && args+=(-H 'Content-Type: application/json' --data "$data")
  [[ -n "$header" ]] && args+=(-H "$header")
  local got
  got="$(curl "${args[@]}" "$base$path")" || fail "curl $method $path"
  echo "\$ curl -X $method $path  -> $got"
  [[ -s "$body_file" ]] && { cat "$body_file"; echo; }
  [[ "$got" == "$want" ]] || fail "$method $path: want $want, got $got"
}

slug="demo-$(date +%s)"
step "create a service account"
call POST /service-accounts 201 "$jwt" "{\"name\":\"Demo bot\",\"slug\":\"$slug\"}"

step "create a token (the value is shown once)"
call POST "/service-accounts/$slug/tokens" 201 "$jwt" \
  '{"name":"deploy","slug":"deploy","scopes":["read:tokens"]}'
token="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$body_file")"
[[ "$token" == kg_* ]] || fail "no token in the create response"

step "list tokens (metadata only)"
call GET "/service-accounts/$slug/tokens" 200 "$jwt"
grep -q "$token" "$body_file" && fail "the token value leaked into the list"

step "whoami with the token"
call GET /whoami 200 "$token"

step "gateway check: the proxy sets the required scope, the client cannot"
call GET /auth/check 200 "$token" "" "X-Keygate-Required-Scope: read:tokens"
call GET /auth/check 403 "$token" "" "X-Keygate-Required-Scope: write:tokens"
call GET "/auth/check?scope=read:tokens" 422 "$token" "" "X-Keygate-Required-Scope: write:tokens"

step "revoke the token (204, empty body)"
call DELETE "/service-accounts/$slug/tokens/deploy" 204 "$jwt"

step "whoami again: the revoked token gets the 401 problem"
call GET /whoami 401 "$token"
grep -q '"status":401' "$body_file" || fail "no problem body"
token=""
rm -f "$body_file"

# ---- stop --------------------------------------------------------------------
step "SIGTERM the server"
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
[[ "$rc" == 0 ]] || { cat "$log_file" >&2; fail "server exited with $rc"; }
echo "server exited 0; its log:"
cat "$log_file"
rm -f "$log_file"
step "demo OK"
