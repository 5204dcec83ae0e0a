#!/usr/bin/env python3
"""The apply benchmark: a batch of N update actions (default 100,000) approved and applied, the
median of R rounds. A mirror of N customers per system, linked one to one, whose ERP tier differs
from the CRM's (which owns it), is made in its own database; each round clears the outbox, runs
recon (which plans the batch), approves it as a second role and times `recon batch apply`: the
re-read of every targeted record through the query files, the preconditions, the outbox, the import
files and the rollback batch. Writes reports/bench/apply-<time>.json and prints the result."""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

QUERIES = {
    "crm_customers.sql": "SELECT pk::text AS id, counterpart::text AS external_id, mail AS email, tel AS phone, cc AS country, tier FROM bench.party WHERE src = 'crm'",
    "erp_customers.sql": "SELECT pk::text AS id, mail AS email, tel AS phone, cc AS country, tier FROM bench.party WHERE src = 'erp'",
    "crm_orders.sql": "SELECT pk::text AS id, 'booked' AS status, NULL::text AS external_id, NULL::text AS customer_id, 1.0 AS amount, 'EUR' AS currency, now() - interval '30 days' AS created_at FROM bench.party WHERE false",
    "erp_orders.sql": "SELECT pk::text AS id, 'ok' AS status, NULL::text AS customer_id, 1.0 AS amount, 'EUR' AS currency, now() - interval '30 days' AS created_at FROM bench.party WHERE false",
}
CONFIG = """default_country: DE
fail_on: none
statuses:
  crm: {booked: won}
  erp: {ok: paid}
  compatible: [[won, paid]]
ownership:
  fields: {tier: crm}
"""


def psql(conninfo, sql):
    subprocess.run(["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", conninfo, "-c", sql], check=True, stdout=subprocess.DEVNULL)


def recon(binary, workdir, conninfo, *args):
    start = time.perf_counter()
    p = subprocess.run([binary, *args, "--config", workdir + "/recon.yml", "--queries", workdir + "/queries",
                        "--reports", workdir + "/reports", "-q"], env={**os.environ, "DATABASE_URL": conninfo},
                       capture_output=True, text=True)
    return time.perf_counter() - start, p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recon", required=True)
    ap.add_argument("--admin", required=True, help="conninfo of the cluster's superuser (dbname=postgres)")
    ap.add_argument("--actions", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", help="run the last apply under this command prefix instead (e.g. 'perf record -g -o F --'), keep the files")
    a = ap.parse_args()
    n = a.actions
    dbname = f"recon_bench_apply_{n}"
    db = a.admin.replace("dbname=postgres", f"dbname={dbname}")
    approver = db.replace("user=postgres", "user=bench_approver")
    psql(a.admin, f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
    psql(a.admin, f"CREATE DATABASE {dbname}")
    psql(db, f"""
        CREATE SCHEMA bench;
        CREATE TABLE bench.party (src text, pk int, counterpart int, mail text, tel text, cc text, tier text, PRIMARY KEY (src, pk));
        INSERT INTO bench.party SELECT 'crm', g, 1000000000 + g, 'p' || g || '@bench.example', NULL, 'DE', 'gold' FROM generate_series(1, {n}) g;
        INSERT INTO bench.party SELECT 'erp', 1000000000 + g, NULL, 'p' || g || '@bench.example', NULL, 'DE', 'silver' FROM generate_series(1, {n}) g;
        DO $$ BEGIN CREATE ROLE bench_approver LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;""")
    psql(db, "VACUUM ANALYZE bench.party")
    work = tempfile.mkdtemp(prefix="recon-bench-apply-")
    os.makedirs(work + "/queries")
    for name, sql in QUERIES.items():
        open(f"{work}/queries/{name}", "w").write(sql)
    open(work + "/recon.yml", "w").write(CONFIG)
    t, p = recon(a.recon, work, db, "migrate")
    if p.returncode != 0:
        sys.exit(f"bench apply: migrate failed: {p.stderr}")
    psql(db, """GRANT USAGE ON SCHEMA recon, bench TO bench_approver;
        GRANT SELECT ON ALL TABLES IN SCHEMA recon, bench TO bench_approver;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA recon TO bench_approver;""")
    rounds = []
    for i in range(a.runs):
        psql(db, "TRUNCATE recon.corrections")
        shutil.rmtree(work + "/reports", ignore_errors=True)
        t_run, p = recon(a.recon, work, db, "run")
        if p.returncode not in (0, 1):
            sys.exit(f"bench apply: run failed: {p.stderr}")
        batch = "B-" + sorted(os.listdir(work + "/reports"))[-1]
        t_approve, p = recon(a.recon, work, approver, "batch", "approve", batch)
        if p.returncode != 0:
            sys.exit(f"bench apply: approve failed: {p.stderr}")
        if a.profile and i == a.runs - 1:
            start = time.perf_counter()
            p = subprocess.run(a.profile.split() + [a.recon, "batch", "apply", batch, "--config", work + "/recon.yml", "--queries", work + "/queries",
                                                     "--reports", work + "/reports", "-q"], env={**os.environ, "DATABASE_URL": approver},
                               capture_output=True, text=True)
            t_apply = time.perf_counter() - start
        else:
            t_apply, p = recon(a.recon, work, approver, "batch", "apply", batch)
        if p.returncode != 0 or f"{n} applied" not in p.stdout:
            sys.exit(f"bench apply: apply failed or applied the wrong number: {p.stdout} {p.stderr}")
        rounds.append({"run_s": round(t_run, 3), "approve_s": round(t_approve, 3), "apply_s": round(t_apply, 3)})
        print(f"bench apply: round {i + 1}: run {t_run:.2f} s, approve {t_approve:.2f} s, apply {t_apply:.2f} s ({n} actions)", flush=True)
    median = statistics.median(r["apply_s"] for r in rounds)
    result = {"actions": n, "rounds": rounds, "apply_median_s": round(median, 3), "bar_s": 60,
              "met": median < 60}
    os.makedirs("reports/bench", exist_ok=True)
    path = time.strftime("reports/bench/apply-%Y%m%dT%H%M%SZ.json", time.gmtime())
    json.dump(result, open(path, "w"), indent=2)
    print(f"bench apply: {n} actions applied in {median:.2f} s (median of {a.runs}); bar: well under 60 s: "
          + ("met" if median < 60 else "NOT met") + f" ({path})")
    shutil.rmtree(work, ignore_errors=True)
    psql(a.admin, f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")


if __name__ == "__main__":
    main()
