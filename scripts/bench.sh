#!/usr/bin/env bash
# make bench: a mirror of BENCH_CUSTOMERS customers per system (default 1,000,000; about 1.5
# orders each) in a throwaway cluster, recon end to end (median of BENCH_RUNS, default 3) with
# peak RSS, the floor (psql COPY of the same four queries to /dev/null), the two peers (the same
# reconciliation in SQL inside PostgreSQL; COPY export + DuckDB), the fast-vs-slow findings check
# and the large phone differential check, all in the same run (bench/bench.py).
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${BENCH_CUSTOMERS:-1000000}
runs=${BENCH_RUNS:-3}
bin=$(swift build -c release --show-bin-path)
admin=$(scripts/pg.sh start .bench/pg)
trap 'scripts/pg.sh stop .bench/pg' EXIT
# One database per size (kept between runs: loading 4M customers takes minutes).
dbname="recon_bench_$customers"
db="${admin/dbname=postgres/dbname=$dbname}"
marker=".bench/loaded-$customers"
if [ ! -f "$marker" ]; then
  echo "bench: loading a mirror of $customers customers per system" >&2
  psql "$admin" -qAtX -c "DROP DATABASE IF EXISTS $dbname" -c "CREATE DATABASE $dbname" >/dev/null
  start=$(date +%s)
  "$bin/recon-mirror" --customers "$customers" --truth ".bench/truth-$customers.csv" | psql -qX -v ON_ERROR_STOP=1 "$db"
  psql -qAtX "$db" -c "VACUUM ANALYZE" >/dev/null
  echo "bench: loaded in $(( $(date +%s) - start )) s" >&2
  touch "$marker"
fi
"$bin/recon" migrate --database "$db" >/dev/null
# The DuckDB peer needs the duckdb Python package: a venv under .bench (PyPI, test tooling only).
if [ ! -x .bench/venv/bin/python ] || ! .bench/venv/bin/python -c "import duckdb" 2>/dev/null; then
  python3 -m venv .bench/venv
  .bench/venv/bin/pip install -q duckdb
fi
python3 bench/bench.py --recon "$bin/recon" --mirror-tool "$bin/recon-mirror" --database "$db" \
  --customers "$customers" --runs "$runs" --python .bench/venv/bin/python ${BENCH_ARGS:-}
