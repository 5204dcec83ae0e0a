#!/usr/bin/env python3
"""recon benchmark driver. In one invocation, for each profile of the mirror (tidy: the generator's
slots; dense: over half of the customers in some finding), each the median of N runs:
- the floor: psql running COPY (query) TO STDOUT for the four query files, output to /dev/null;
- recon end to end (`recon run`) on a later night (the state database holds the nights before) and
  on a first night (a fresh, empty state database each round), with peak RSS (wait4 rusage) and
  per-phase timings from summary.json;
- peer "sql": the same reconciliation hand-written in SQL inside PostgreSQL (bench/peer_reconcile.sql
  over temp tables filled by the query files, ANALYZE, hash joins), findings written to CSV;
- peer "duckdb": the four extracts exported to CSV by COPY, then DuckDB runs the same SQL (export
  time counted).
Then, once per profile: one more later night after one CRM contact's segment changed (the measured
later nights repeat the mirror of the night before and keep the pending batch on its inputs; this one
plans in full; reported, not in the bar); recon with every fast path off (--no-fast-paths), whose findings.csv must equal
the fast run's (all but the three lifecycle columns) and whose plan.csv must be identical; once: the
phone differential check over a large corpus. Writes everything to reports/bench/<time>.json, prints
a table per profile and each point of the bar (issue 19) as met or not."""
import argparse, json, os, shutil, statistics, subprocess, sys, time

QUERIES = ["crm_customers", "erp_customers", "crm_orders", "erp_orders"]
TABLES = {"crm_customers": "crm_c", "erp_customers": "erp_c", "crm_orders": "crm_o", "erp_orders": "erp_o"}


def run(cmd, env=None):
    """Runs cmd, returns (seconds, exit status, stdout, stderr)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    elapsed = time.perf_counter() - start
    return elapsed, p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def run_measured(cmd, env=None):
    """Like run, with the child's peak RSS from wait4 (stdout to /dev/null)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # stderr is small (quiet runs): read it after exit, so wait4 reports this child's rusage.
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - start
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, p.returncode, usage.ru_maxrss * 1024, err


def prune(out_dir):
    """Keeps what a nightly installation keeps of out_dir's folders for the next night: the
    newest, and the newest with a plan (a pending batch's files, which a night that plans it
    again compares with); removes the others (a dense night's folder is most of a gigabyte)."""
    if not os.path.isdir(out_dir):
        return
    folders = sorted(f for f in os.listdir(out_dir) if not f.startswith("."))
    keep = set(folders[-1:]) | set([f for f in folders if os.path.exists(os.path.join(out_dir, f, "plan.json"))][-1:])
    for f in os.listdir(out_dir):
        if f not in keep:
            shutil.rmtree(os.path.join(out_dir, f), ignore_errors=True)


def recon_run(recon, out_dir, env, what, extra=(), fresh=False):
    """`recon run` into out_dir (emptied first when fresh, else pruned): (seconds, peak RSS, its
    report folder, its summary.json)."""
    if fresh:
        shutil.rmtree(out_dir, ignore_errors=True)
    prune(out_dir)
    before = set(os.listdir(out_dir)) if os.path.isdir(out_dir) else set()
    t, code, peak, err = run_measured([recon, "run", "-q", "--reports", out_dir, *extra], env=env)
    if code not in (0, 1):  # 0 clean, 1 breached
        sys.exit(f"bench: {what} failed with exit {code}: {err}")
    run_dir = os.path.join(out_dir, sorted(set(os.listdir(out_dir)) - before)[-1])
    return t, peak, run_dir, json.load(open(os.path.join(run_dir, "summary.json")))


def query_text(q):
    return open(f"queries/{q}.sql").read().rstrip().rstrip(";")


def one_line(sql):
    """A query on one line for psql's \\copy (comments dropped; the queries have no quoted --)."""
    return " ".join(" ".join(line.split("--", 1)[0] for line in sql.splitlines()).split())


def findings_core(path):
    """findings.csv without the lifecycle columns (status, first_seen, nights_open)."""
    with open(path, newline="") as f:
        return [line.rstrip("\r\n").rsplit(",", 3)[0] for line in f]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def phase_medians(phases):
    return {k: statistics.median(p.get(k, 0) for p in phases) for k in phases[0]} if phases else {}


class Profile:
    """One mirror: its rounds, then its figures."""

    def __init__(self, name, database):
        self.name, self.database = name, database
        self.floor, self.later, self.later_rss, self.later_phases = [], [], [], []
        self.first, self.first_rss, self.first_phases = [], [], []
        self.sql_peer, self.sql_rss, self.duck_peer, self.duck_export, self.duck_rss = [], [], [], [], []
        self.summary = None
        self.run_dir = None
        self.first_dir = None


def fresh_state(admin, name, recon):
    """An empty state database (dropped first if a run before left it): a first night."""
    psql = ["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", admin]
    subprocess.run(psql + ["-c", f"DROP DATABASE IF EXISTS {name}", "-c", f"CREATE DATABASE {name}"], check=True, stdout=subprocess.DEVNULL)
    url = admin.replace("dbname=postgres", f"dbname={name}")
    t, code, out, err = run([recon, "migrate", "--state-database", url])
    if code != 0:
        sys.exit(f"bench: migrating the first night's state database failed: {err}")
    return url


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recon", required=True)
    ap.add_argument("--mirror-tool", required=True)
    ap.add_argument("--profile", nargs=2, action="append", metavar=("NAME", "DATABASE"), required=True,
                    help="a mirror to measure (repeat: tidy, dense)")
    ap.add_argument("--admin", required=True, help="the cluster's postgres database: first nights get a fresh state database there")
    ap.add_argument("--customers", type=int, required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--python", default=sys.executable, help="a Python with duckdb installed")
    ap.add_argument("--skip-slow", action="store_true", help="skip the fast-vs-slow findings check")
    ap.add_argument("--skip-first-night", action="store_true", help="later nights only")
    ap.add_argument("--skip-changed-night", action="store_true", help="no later night after one changed row")
    ap.add_argument("--phone-variants", type=int, default=40)
    ap.add_argument("--skip-peers", action="store_true", help="only the floor and recon (and the linearity point)")
    ap.add_argument("--linear-database", help="a tidy mirror of --linear-customers per system: the linearity point")
    ap.add_argument("--linear-customers", type=int, default=0)
    a = ap.parse_args()

    os.makedirs(".bench/peer-sql", exist_ok=True)
    os.makedirs(".bench/peer-duckdb", exist_ok=True)
    floor_sql = "".join(f"COPY (\n{query_text(q)}\n) TO STDOUT;\n" for q in QUERIES)
    with open(".bench/floor.sql", "w") as f:
        f.write(floor_sql)
    peer_sql = "SET work_mem = '256MB';\n" + "".join(
        f"CREATE TEMP TABLE {TABLES[q]} AS\n{query_text(q)}\n;\nANALYZE {TABLES[q]};\n" for q in QUERIES)
    peer_sql += open("bench/peer_reconcile.sql").read()
    peer_sql += f"\\copy (SELECT * FROM findings ORDER BY 1, 2, 3, 4, 5) TO '.bench/peer-sql/findings.csv' CSV HEADER\n"
    with open(".bench/peer-sql.sql", "w") as f:
        f.write(peer_sql)
    export_sql = "".join(f"\\copy ({one_line(query_text(q))}) TO '.bench/peer-duckdb/{TABLES[q]}.csv' CSV HEADER\n" for q in QUERIES)
    with open(".bench/peer-duckdb-export.sql", "w") as f:
        f.write(export_sql)

    psql = ["psql", "-qX", "-v", "ON_ERROR_STOP=1"]
    profiles = [Profile(name, db) for name, db in a.profile]
    lin_floor, lin_recon, lin_rss, lin_phases = [], [], [], []
    lin_env = dict(os.environ, DATABASE_URL=a.linear_database) if a.linear_database else None
    first_state = "recon_bench_first_night"
    for p in profiles:
        # One night unmeasured, so that every measured "later night" has a night before it
        # (a freshly loaded mirror's state is empty).
        recon_run(a.recon, f".bench/reports-{p.name}", dict(os.environ, DATABASE_URL=p.database), f"recon warm-up ({p.name})")
    if lin_env:
        recon_run(a.recon, ".bench/reports-linear", lin_env, f"recon warm-up at {a.linear_customers:,} customers")
    for i in range(a.runs):
        for p in profiles:
            env = dict(os.environ, DATABASE_URL=p.database)
            t, code, _, err = run_measured(psql + ["-o", "/dev/null", "-f", ".bench/floor.sql", p.database])
            if code != 0:
                sys.exit(f"bench: floor failed: {err}")
            p.floor.append(t)

            # A later night: the state in the mirror's database holds the nights before.
            t, peak, p.run_dir, p.summary = recon_run(a.recon, f".bench/reports-{p.name}", env, f"recon ({p.name})")
            p.later.append(t)
            p.later_rss.append(peak)
            p.later_phases.append(p.summary["timings_ms"])
            note = f"bench: {p.name} run {i + 1}/{a.runs}: floor {p.floor[-1]:.2f} s, later night {t:.2f} s ({peak / 2**20:.0f} MiB)"

            if not a.skip_first_night:
                url = fresh_state(a.admin, first_state, a.recon)
                t, peak, p.first_dir, summary = recon_run(a.recon, f".bench/reports-first-{p.name}", env, f"recon first night ({p.name})",
                                                          extra=["--state-database", url], fresh=True)
                p.first.append(t)
                p.first_rss.append(peak)
                p.first_phases.append(summary["timings_ms"])
                note += f", first night {t:.2f} s ({peak / 2**20:.0f} MiB)"

            if lin_env and p is profiles[0]:
                # Right after the run above, so that the ratio of the two compares like with like
                # on a noisy machine; then the floor at that size.
                t, peak, _, lin_summary = recon_run(a.recon, ".bench/reports-linear", lin_env, f"recon at {a.linear_customers:,} customers")
                lin_recon.append(t)
                lin_rss.append(peak)
                lin_phases.append(lin_summary["timings_ms"])
                t, code, _, err = run_measured(psql + ["-o", "/dev/null", "-f", ".bench/floor.sql", a.linear_database])
                if code != 0:
                    sys.exit(f"bench: floor at {a.linear_customers:,} customers failed: {err}")
                lin_floor.append(t)
                note += (f", at {a.linear_customers:,}: recon {lin_recon[-1]:.2f} s ({lin_rss[-1] / 2**20:.0f} MiB, "
                         f"{lin_recon[-1] / p.later[-1]:.2f}x this round's), floor {lin_floor[-1]:.2f} s")

            if not a.skip_peers:
                t, code, peak, err = run_measured(psql + ["-f", ".bench/peer-sql.sql", p.database])
                if code != 0:
                    sys.exit(f"bench: SQL peer failed: {err}")
                p.sql_peer.append(t)
                p.sql_rss.append(peak)
                t_export, code, _, err = run_measured(psql + ["-f", ".bench/peer-duckdb-export.sql", p.database])
                if code != 0:
                    sys.exit(f"bench: COPY export for DuckDB failed: {err}")
                t_duck, code, peak, err = run_measured([a.python, "bench/peer_duckdb.py", ".bench/peer-duckdb", ".bench/peer-duckdb/findings.csv"])
                if code != 0:
                    sys.exit(f"bench: DuckDB peer failed: {err}")
                p.duck_export.append(t_export)
                p.duck_peer.append(t_export + t_duck)
                p.duck_rss.append(peak)
                note += f", SQL peer {p.sql_peer[-1]:.2f} s, DuckDB peer {p.duck_peer[-1]:.2f} s (export {t_export:.2f} s)"
            print(note, file=sys.stderr)

    result = {"customers_per_system": a.customers, "cores": os.cpu_count(), "runs": a.runs, "profiles": {}}
    bar = []
    for p in profiles:
        env = dict(os.environ, DATABASE_URL=p.database)
        fm, lm = median(p.floor), median(p.later)
        r = {
            "database": p.database.split("dbname=")[-1],
            "rows": p.summary["records_read"],
            "findings_total": p.summary["findings_total"],
            "floor_seconds_median": round(fm, 3),
            "later_seconds_median": round(lm, 3),
            "ratio_later_to_floor": round(lm / fm, 2),
            "later_peak_rss_mib_median": round(median(p.later_rss) / 2**20, 1),
            "later_phase_ms_median": phase_medians(p.later_phases),
            "floor_seconds": [round(x, 3) for x in p.floor],
            "later_seconds": [round(x, 3) for x in p.later],
            "later_peak_rss_mib": [round(x / 2**20, 1) for x in p.later_rss],
        }
        if not a.skip_changed_night:
            # The measured later nights run on the mirror of the night before, so they keep the
            # pending batch without planning it (its inputs are the same: README, "Correction
            # batches"). One more later night, after one CRM contact's segment changed, plans in
            # full: reported beside the bar, then the row is put back exactly as it was.
            saved = "public.bench_changed_row"
            subprocess.run(psql + [p.database, "-c", "SET client_min_messages = warning", "-c", f"DROP TABLE IF EXISTS {saved}",
                                   "-c", f"CREATE TABLE {saved} AS SELECT row_id, segment FROM crm.contacts WHERE row_id = (SELECT min(row_id) FROM crm.contacts)",
                                   "-c", f"UPDATE crm.contacts c SET segment = coalesce(c.segment, '') || ' (bench: changed)' FROM {saved} s WHERE c.row_id = s.row_id"],
                           check=True, stdout=subprocess.DEVNULL)
            try:
                t, peak, _, changed = recon_run(a.recon, f".bench/reports-{p.name}", env, f"recon after one changed row ({p.name})")
            finally:
                subprocess.run(psql + [p.database, "-c", f"UPDATE crm.contacts c SET segment = s.segment FROM {saved} s WHERE c.row_id = s.row_id",
                                       "-c", f"DROP TABLE {saved}"], check=True, stdout=subprocess.DEVNULL)
            r.update({"changed_later_seconds": round(t, 3), "ratio_changed_later_to_floor": round(t / fm, 2),
                      "changed_later_peak_rss_mib": round(peak / 2**20, 1), "changed_later_phase_ms": changed["timings_ms"]})
        if p.first:
            r.update({
                "first_seconds_median": round(median(p.first), 3),
                "ratio_first_to_floor": round(median(p.first) / fm, 2),
                "first_peak_rss_mib_median": round(median(p.first_rss) / 2**20, 1),
                "first_phase_ms_median": phase_medians(p.first_phases),
                "first_seconds": [round(x, 3) for x in p.first],
                "first_peak_rss_mib": [round(x / 2**20, 1) for x in p.first_rss],
            })
        if p.sql_peer:
            r.update({
                "peer_sql_seconds_median": round(median(p.sql_peer), 3),
                "peer_duckdb_seconds_median": round(median(p.duck_peer), 3),
                "peer_duckdb_export_seconds_median": round(median(p.duck_export), 3),
                "peer_duckdb_peak_rss_mib_median": round(median(p.duck_rss) / 2**20, 1),
                "peer_sql_seconds": [round(x, 3) for x in p.sql_peer],
                "peer_duckdb_seconds": [round(x, 3) for x in p.duck_peer],
            })
        if not a.skip_slow:
            # Both on a first night (a fresh state database each), so that both plan the whole
            # batch: a later night may plan the pending batch again and write no plan files.
            if p.first_dir is None:
                _, _, p.first_dir, _ = recon_run(a.recon, f".bench/reports-first-{p.name}", env, f"recon first night ({p.name})",
                                                 extra=["--state-database", fresh_state(a.admin, first_state, a.recon)], fresh=True)
            t, peak, slow_run, _ = recon_run(a.recon, f".bench/reports-slow-{p.name}", env, f"recon --no-fast-paths ({p.name})",
                                             extra=["--no-fast-paths", "--state-database", fresh_state(a.admin, first_state, a.recon)], fresh=True)
            same_findings = findings_core(os.path.join(p.first_dir, "findings.csv")) == findings_core(os.path.join(slow_run, "findings.csv"))
            same_plan = open(os.path.join(p.first_dir, "plan.csv"), "rb").read() == open(os.path.join(slow_run, "plan.csv"), "rb").read()
            r.update({"slow_paths_seconds": round(t, 3), "slow_paths_peak_rss_mib": round(peak / 2**20, 1),
                      "findings_equal_fast_vs_slow": same_findings, "plan_equal_fast_vs_slow": same_plan})
            if not (same_findings and same_plan):
                print(f"bench: {p.name}: FINDINGS OR PLAN DIFFER between {p.first_dir} and {slow_run}", file=sys.stderr)
        result["profiles"][p.name] = r

        # The bar (issue 19), each point as met or not by this run's medians (peak RSS: the largest run).
        later_bar = 1.5 if p.name == "tidy" else 2.0
        bar.append((f"{p.name}: later night <= {later_bar}x the floor", f"{lm / fm:.2f}x", lm / fm <= later_bar))
        if p.first:
            bar.append((f"{p.name}: first night <= 2.5x the floor", f"{median(p.first) / fm:.2f}x", median(p.first) / fm <= 2.5))
        peak = max(p.later_rss + p.first_rss)
        bar.append((f"{p.name}: peak RSS <= 1.5 GB", f"{peak / 1e9:.3f} GB at most", peak <= 1.5e9))
        if p.sql_peer:
            slowest = max([lm] + ([median(p.first)] if p.first else []))
            bar.append((f"{p.name}: faster than every peer", f"{slowest / median(p.sql_peer):.2f}x SQL, {slowest / median(p.duck_peer):.2f}x DuckDB",
                        slowest < median(p.sql_peer) and slowest < median(p.duck_peer)))
        if not a.skip_slow:
            bar.append((f"{p.name}: fast and slow paths agree", "identical" if r["findings_equal_fast_vs_slow"] and r["plan_equal_fast_vs_slow"] else "different",
                        r["findings_equal_fast_vs_slow"] and r["plan_equal_fast_vs_slow"]))

    if lin_recon:
        base = profiles[0]
        lm, lfm = median(lin_recon), median(lin_floor)
        result["linear"] = {
            "profile": base.name,
            "customers_per_system": a.linear_customers,
            "rows": lin_summary["records_read"],
            "recon_seconds_median": round(lm, 3),
            "recon_peak_rss_mib_median": round(median(lin_rss) / 2**20, 1),
            "floor_seconds_median": round(lfm, 3),
            "ratio_time": round(lm / median(base.later), 2),
            "ratio_peak_rss": round(median(lin_rss) / median(base.later_rss), 2),
            "ratio_floor": round(lfm / median(base.floor), 2),
            "ratio_time_per_round": [round(x / y, 2) for x, y in zip(lin_recon, base.later)],
            "recon_seconds": [round(x, 3) for x in lin_recon],
            "recon_peak_rss_mib": [round(x / 2**20, 1) for x in lin_rss],
            "floor_seconds": [round(x, 3) for x in lin_floor],
            "recon_phase_ms_median": phase_medians(lin_phases),
        }
        L = result["linear"]
        bar.append((f"linear at {a.linear_customers:,} ({base.name}): <= 4.4x", f"time {L['ratio_time']:.2f}x, RSS {L['ratio_peak_rss']:.2f}x",
                    L["ratio_time"] <= 4.4 and L["ratio_peak_rss"] <= 4.4))

    t, code, out, err = run([a.mirror_tool, "--phone-differential", str(a.phone_variants), "--seed", "20261129"])
    phone = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    phone["seconds"] = round(t, 2)
    phone["equal"] = code == 0
    result["phone_differential"] = phone
    if code != 0:
        print(f"bench: PHONE FAST PATH DIFFERS from libphonenumber:\n{err}", file=sys.stderr)
    bar.append(("phone fast path agrees with libphonenumber", f"{phone.get('differences', '?')} differences", phone["equal"]))

    result["bar"] = {name: {"value": value, "met": met} for name, value, met in bar}
    os.makedirs("reports/bench", exist_ok=True)
    path = time.strftime("reports/bench/%Y%m%dT%H%M%SZ.json", time.gmtime())
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"customers per system {a.customers:,}, {os.cpu_count()} cores, median of {a.runs}")
    for p in profiles:
        r = result["profiles"][p.name]
        rows = sum(r["rows"].values())
        fm = r["floor_seconds_median"]
        print(f"[{p.name}] {rows:,} rows in the four extracts, {r['findings_total']:,} findings")
        print(f"  floor (psql COPY)      {fm:8.2f} s")
        print(f"  recon, later night     {r['later_seconds_median']:8.2f} s   {r['ratio_later_to_floor']:.2f}x the floor, "
              f"peak RSS {r['later_peak_rss_mib_median']:.1f} MiB")
        print("    phases (ms)          " + ", ".join(f"{k} {v:.0f}" for k, v in r["later_phase_ms_median"].items()))
        if "changed_later_seconds" in r:
            print(f"  recon, after one change {r['changed_later_seconds']:7.2f} s   {r['ratio_changed_later_to_floor']:.2f}x the floor (one night, "
                  f"not in the bar: plans in full), peak RSS {r['changed_later_peak_rss_mib']:.1f} MiB")
            print("    phases (ms)          " + ", ".join(f"{k} {v:.0f}" for k, v in r["changed_later_phase_ms"].items()))
        if "first_seconds_median" in r:
            print(f"  recon, first night     {r['first_seconds_median']:8.2f} s   {r['ratio_first_to_floor']:.2f}x the floor, "
                  f"peak RSS {r['first_peak_rss_mib_median']:.1f} MiB")
            print("    phases (ms)          " + ", ".join(f"{k} {v:.0f}" for k, v in r["first_phase_ms_median"].items()))
        if "peer_sql_seconds_median" in r:
            print(f"  peer: SQL in PostgreSQL{r['peer_sql_seconds_median']:8.2f} s   {r['peer_sql_seconds_median'] / fm:.2f}x the floor")
            print(f"  peer: COPY + DuckDB    {r['peer_duckdb_seconds_median']:8.2f} s   {r['peer_duckdb_seconds_median'] / fm:.2f}x the floor "
                  f"(export {r['peer_duckdb_export_seconds_median']:.2f} s, DuckDB peak RSS {r['peer_duckdb_peak_rss_mib_median']:.0f} MiB)")
        if "findings_equal_fast_vs_slow" in r:
            print(f"  fast vs --no-fast-paths findings.csv and plan.csv: "
                  f"{'identical' if r['findings_equal_fast_vs_slow'] and r['plan_equal_fast_vs_slow'] else 'DIFFERENT'} (slow run {r['slow_paths_seconds']:.1f} s)")
    print(f"phone fast path vs libphonenumber: {phone.get('entries', 0):,} texts, {phone.get('fast_answered', 0):,} answered by the fast path, "
          f"{phone.get('differences', '?')} differences ({phone.get('fast_ns_per_entry', 0)} vs {phone.get('libphonenumber_ns_per_entry', 0)} ns per text)")
    if lin_recon:
        L = result["linear"]
        print(f"at {a.linear_customers:,} per system ({L['profile']}): recon {L['recon_seconds_median']:.2f} s ({L['ratio_time']:.2f}x), "
              f"peak RSS {L['recon_peak_rss_mib_median']:.1f} MiB ({L['ratio_peak_rss']:.2f}x), floor {L['floor_seconds_median']:.2f} s "
              f"({L['ratio_floor']:.2f}x); per round {', '.join(f'{x:.2f}x' for x in L['ratio_time_per_round'])}")
    for name, value, met in bar:
        print(f"  {'met    ' if met else 'NOT MET'}  {name:44} {value}")
    print(f"written to {path}")
    if not all(met for _, _, met in bar[-1:]) or any(r.get("findings_equal_fast_vs_slow") is False or r.get("plan_equal_fast_vs_slow") is False
                                                    for r in result["profiles"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
