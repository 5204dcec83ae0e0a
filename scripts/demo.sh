#!/usr/bin/env bash
# make demo: a throwaway cluster in .demo/pg, the sample mirror, one reconciliation.
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${CUSTOMERS:-500}
bin=$(swift build --show-bin-path)
admin=$(scripts/pg.sh start .demo/pg)
trap 'scripts/pg.sh stop .demo/pg' EXIT
db="${admin/dbname=postgres/dbname=recon_demo}"
psql "$admin" -qAt -c "DROP DATABASE IF EXISTS recon_demo" -c "CREATE DATABASE recon_demo" >/dev/null
# The state (run history, lifecycle) lives in a database of its own that survives demo runs,
# so a second `make demo` shows the same findings as persisting.
state="${admin/dbname=postgres/dbname=recon_demo_state}"
psql "$admin" -qAt -c "SELECT 1 FROM pg_database WHERE datname = 'recon_demo_state'" | grep -q 1 \
  || psql "$admin" -qAt -c "CREATE DATABASE recon_demo_state" >/dev/null
export RECON_STATE_DATABASE_URL="$state"
mkdir -p .demo
echo "demo: loading a sample mirror of $customers customers per system (ground truth in .demo/truth.csv)"
"$bin/recon-mirror" --customers "$customers" --truth .demo/truth.csv | psql -q -v ON_ERROR_STOP=1 "$db"
"$bin/recon" migrate --database "$db" --log-level warning
echo "demo: recon run"
status=0
DATABASE_URL="$db" "$bin/recon" run | tee .demo/last-run.txt || status=${PIPESTATUS[0]}
if [ "$status" -ge 2 ]; then echo "demo: recon failed (exit $status)" >&2; exit "$status"; fi
latest=$(sed -n 's/^reports: //p' .demo/last-run.txt)
echo
echo "demo: done (recon exit $status: 0 clean, 1 threshold breached, 2 error, 3 already running)."
echo "demo: reports are in $latest: index.html (open it in a browser), findings.csv, one CSV per finding type, resolved.csv, summary.json"
echo "demo: the cluster is stopped again. To look further (recon batch show, explain, waive):"
echo "  scripts/pg.sh start .demo/pg"
echo "  export DATABASE_URL='$db' RECON_STATE_DATABASE_URL='$state'"
echo "  $bin/recon batch list"
