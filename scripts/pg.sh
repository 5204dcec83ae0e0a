#!/usr/bin/env bash
# A throwaway PostgreSQL cluster in a folder of ours, reached through a unix socket only
# (listen_addresses = ''), so it never clashes with a server already running on this machine.
#
#   scripts/pg.sh start DIR   initdb if needed, start, print a libpq connection string
#   scripts/pg.sh stop DIR    stop it (fast shutdown); safe when it is not running
#   scripts/pg.sh url DIR     print the connection string of a running cluster
#
# RECON_PG_OPTIONS adds server settings at start (e.g. the TLS test's `-c ssl=on -c port=…`).
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop|url DIR}
dir=${2:?usage: pg.sh start|stop|url DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bindir" ] || { echo "pg.sh: no PostgreSQL server found under /usr/lib/postgresql (run scripts/bootstrap.sh)" >&2; exit 1; }
# Socket paths are limited to about 100 bytes: keep the socket in a short folder of its own.
sock=/tmp/recon-pg-$(printf '%s' "$dir" | md5sum | cut -c1-12)
data="$dir/data"
# As root the server runs as user postgres, which may not be able to reach a checkout under a
# private home folder; then the cluster lives beside the socket in /tmp instead.
if [ "$(id -u)" -eq 0 ] && [ -f "$sock/use-tmp" ]; then data="$sock/data"; fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

url() { echo "host=$sock port=5432 user=postgres dbname=postgres"; }

case "$cmd" in
  start)
    mkdir -p "$sock"
    if [ "$(id -u)" -eq 0 ]; then
      chown postgres "$dir" "$sock"
      if ! runuser -u postgres -- test -w "$dir"; then
        echo "pg.sh: user postgres cannot reach $dir; keeping the cluster in $sock/data" >&2
        touch "$sock/use-tmp"
        data="$sock/data"
      fi
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
      as_owner "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if ! as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      as_owner "$bindir/pg_ctl" -D "$data" -l "$(dirname "$data")/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$sock' -p 5432 -c fsync=off -c synchronous_commit=off -c full_page_writes=off ${RECON_PG_OPTIONS:-}" \
        start >/dev/null || { tail -n 20 "$(dirname "$data")/server.log" >&2; exit 1; }
    fi
    url
    ;;
  stop)
    if [ -f "$data/PG_VERSION" ]; then
      as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
  url) url ;;
  *) echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac
