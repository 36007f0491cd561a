# scripts/throwaway-postgres.sh: a throwaway PostgreSQL server for scripts.
# Source it, then:
#   throwaway_postgres_start DIR   initdb a cluster in DIR/pg (trust auth,
#                                  loopback only, a free port, its socket in
#                                  DIR/sock, no fsync at initdb), start it and
#                                  create database `keygate`; sets
#                                  THROWAWAY_PG_CONNINFO. Fails (returns
#                                  non-zero) if the binaries are missing.
#   throwaway_postgres_stop        immediate stop; safe to call twice or when
#                                  start failed. Call it from your EXIT trap.
# PostgreSQL refuses to run as root: as root, the cluster belongs to the
# `postgres` user the package created. KEYGATE_PG_BIN overrides Debian's
# newest /usr/lib/postgresql/*/bin.

THROWAWAY_PG_CONNINFO=""
_throwaway_pg_data=""
_throwaway_pg_bin=""
_throwaway_pg_as=()

throwaway_postgres_start() {
  local dir="$1" port
  _throwaway_pg_bin="${KEYGATE_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}"
  if [[ -z "$_throwaway_pg_bin" || ! -x "$_throwaway_pg_bin/initdb" ]]; then
    echo "no PostgreSQL binaries (bash scripts/install-deps.sh postgresql installs them)" >&2
    return 1
  fi
  mkdir -p "$dir/pg" "$dir/sock"
  : >"$dir/pg.log"
  chmod 0755 "$dir"
  _throwaway_pg_as=()
  if [[ "$(id -u)" == 0 ]]; then
    _throwaway_pg_as=(runuser -u postgres --)
    chown postgres "$dir/pg" "$dir/sock" "$dir/pg.log"
  fi
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  "${_throwaway_pg_as[@]}" "$_throwaway_pg_bin/initdb" -D "$dir/pg" --auth=trust \
    -U keygate --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; return 1; }
  _throwaway_pg_data="$dir/pg"
  "${_throwaway_pg_as[@]}" "$_throwaway_pg_bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock" start >/dev/null ||
    { cat "$dir/pg.log" >&2; return 1; }
  "${_throwaway_pg_as[@]}" "$_throwaway_pg_bin/createdb" -h 127.0.0.1 -p "$port" -U keygate keygate
  THROWAWAY_PG_CONNINFO="host=127.0.0.1 port=$port user=keygate dbname=keygate"
}

throwaway_postgres_stop() {
  if [[ -n "$_throwaway_pg_data" && -f "$_throwaway_pg_data/postmaster.pid" ]]; then
    "${_throwaway_pg_as[@]}" "$_throwaway_pg_bin/pg_ctl" -D "$_throwaway_pg_data" \
      -m immediate stop >/dev/null 2>&1 || true
  fi
  _throwaway_pg_data=""
}
