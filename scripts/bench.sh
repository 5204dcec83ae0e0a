#!/usr/bin/env bash
# make bench: two mirrors of BENCH_CUSTOMERS customers per system (default 1,000,000; about 1.5
# orders each) in a throwaway cluster: "tidy" (the generator's slots, a third of the customers in
# some finding) and "dense" (recon-mirror --anomaly-rate BENCH_DENSE_RATE, default 0.65: over half
# of them); BENCH_PROFILES picks ("tidy dense" by default). For each: recon end to end on a later
# night and on a first night (empty state), median of BENCH_RUNS (default 3), with peak RSS, the
# floor (psql COPY of the same four queries to /dev/null), the two peers (the same reconciliation
# in SQL inside PostgreSQL; COPY export + DuckDB), the fast-vs-slow check; the linearity point
# (recon and the floor at BENCH_LINEAR_CUSTOMERS, default 4x BENCH_CUSTOMERS, tidy, 0 to skip, in
# the same rounds) and the large phone differential check, all in the same run (bench/bench.py),
# which prints each point of the bar as met or not.
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${BENCH_CUSTOMERS:-1000000}
runs=${BENCH_RUNS:-3}
bin=$(swift build -c release --show-bin-path)
admin=$(scripts/pg.sh start .bench/pg)
trap 'scripts/pg.sh stop .bench/pg' EXIT
# One database per size and profile (kept between runs: loading 4M customers takes minutes),
# reloaded when the generator changes (the marker names its source's hash).
generator=$(sha256sum Sources/MirrorGen/Generator.swift | cut -c1-12)
dense_rate=${BENCH_DENSE_RATE:-0.65}
load() {
  local n=$1 profile=$2 dbname=$3 db="${admin/dbname=postgres/dbname=$3}" marker=".bench/loaded-$1-$2-$generator"
  local args=(--customers "$n" --truth ".bench/truth-$n-$profile.csv")
  [ "$profile" = dense ] && args+=(--anomaly-rate "$dense_rate") && marker="$marker-$dense_rate"
  if [ ! -f "$marker" ]; then
    echo "bench: loading a $profile mirror of $n customers per system" >&2
    psql "$admin" -qAtX -c "DROP DATABASE IF EXISTS $dbname" -c "CREATE DATABASE $dbname" >/dev/null
    local start=$(date +%s)
    "$bin/recon-mirror" "${args[@]}" | psql -qX -v ON_ERROR_STOP=1 "$db"
    psql -qAtX "$db" -c "VACUUM ANALYZE" >/dev/null
    echo "bench: loaded in $(( $(date +%s) - start )) s" >&2
    rm -f .bench/loaded-"$n"-"$profile"-*
    touch "$marker"
  fi
  "$bin/recon" migrate --database "$db" >/dev/null
}
profile_args=()
for profile in ${BENCH_PROFILES:-tidy dense}; do
  case "$profile" in
    tidy) dbname="recon_bench_$customers" ;;
    dense) dbname="recon_bench_${customers}_dense" ;;
    *) echo "bench: unknown profile $profile (tidy, dense)" >&2; exit 2 ;;
  esac
  load "$customers" "$profile" "$dbname"
  profile_args+=(--profile "$profile" "${admin/dbname=postgres/dbname=$dbname}")
done
# The linearity point (4x the customers, tidy, recon and the floor only), run in the same rounds.
linear=${BENCH_LINEAR_CUSTOMERS-$(( customers * 4 ))}
linear_args=()
if [ "$linear" != 0 ] && [ -n "$linear" ]; then
  ldbname="recon_bench_$linear"
  load "$linear" tidy "$ldbname"
  linear_args=(--linear-database "${admin/dbname=postgres/dbname=$ldbname}" --linear-customers "$linear")
fi
# The DuckDB peer needs the duckdb Python package: a venv under .bench (PyPI, test tooling only).
if [ ! -x .bench/venv/bin/python ] || ! .bench/venv/bin/python -c "import duckdb" 2>/dev/null; then
  python3 -m venv .bench/venv
  .bench/venv/bin/pip install -q duckdb
fi
# BENCH_RECON: another recon binary to measure on the same mirror (a before/after comparison).
python3 bench/bench.py --recon "${BENCH_RECON:-$bin/recon}" --mirror-tool "$bin/recon-mirror" "${profile_args[@]}" --admin "$admin" \
  --customers "$customers" --runs "$runs" --python .bench/venv/bin/python "${linear_args[@]}" ${BENCH_ARGS:-}
# The apply benchmark: a batch of BENCH_APPLY_ACTIONS updates (default 100,000; 0 skips it)
# approved and applied, median of the same number of rounds.
apply_actions=${BENCH_APPLY_ACTIONS:-100000}
if [ "$apply_actions" != 0 ]; then
  python3 bench/apply.py --recon "$bin/recon" --admin "$admin" --actions "$apply_actions" --runs "$runs"
fi
