#!/usr/bin/env python3
"""recon benchmark driver. In one invocation, each the median of N runs:
- the floor: psql running COPY (query) TO STDOUT for the four query files, output to /dev/null;
- recon end to end (`recon run`), with peak RSS (wait4 rusage) and per-phase timings from summary.json;
- peer "sql": the same reconciliation hand-written in SQL inside PostgreSQL (bench/peer_reconcile.sql
  over temp tables filled by the query files, ANALYZE, hash joins), findings written to CSV;
- peer "duckdb": the four extracts exported to CSV by COPY, then DuckDB runs the same SQL (export
  time counted).
Then, once: recon with every fast path off (--no-fast-paths), whose findings.csv must equal the fast
run's (all but the three lifecycle columns), and the phone differential check over a large corpus.
Writes everything to reports/bench/<time>.json and prints a table."""
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


def recon_run(recon, out_dir, env, what):
    """`recon run` into a fresh out_dir: (seconds, peak RSS, its report folder, its summary.json)."""
    shutil.rmtree(out_dir, ignore_errors=True)
    t, code, peak, err = run_measured([recon, "run", "-q", "--reports", out_dir], env=env)
    if code not in (0, 1):  # 0 clean, 1 breached
        sys.exit(f"bench: {what} failed with exit {code}: {err}")
    run_dir = os.path.join(out_dir, sorted(os.listdir(out_dir))[-1])
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recon", required=True)
    ap.add_argument("--mirror-tool", required=True)
    ap.add_argument("--database", required=True)
    ap.add_argument("--customers", type=int, required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--python", default=sys.executable, help="a Python with duckdb installed")
    ap.add_argument("--skip-slow", action="store_true", help="skip the fast-vs-slow findings check")
    ap.add_argument("--phone-variants", type=int, default=40)
    ap.add_argument("--skip-peers", action="store_true", help="only the floor and recon (and the linearity point)")
    ap.add_argument("--linear-database", help="a mirror of --linear-customers per system: the linearity point")
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

    env = dict(os.environ, DATABASE_URL=a.database)
    psql = ["psql", "-qX", "-v", "ON_ERROR_STOP=1"]
    floor, recon, rss, phases, sql_peer, duck_peer, duck_export, duck_rss, sql_rss = [], [], [], [], [], [], [], [], []
    lin_floor, lin_recon, lin_rss, lin_phases = [], [], [], []
    lin_env = dict(os.environ, DATABASE_URL=a.linear_database) if a.linear_database else None
    out_dir = ".bench/reports"
    for i in range(a.runs):
        t, code, _, err = run_measured(psql + ["-o", "/dev/null", "-f", ".bench/floor.sql", a.database])
        if code != 0:
            sys.exit(f"bench: floor failed: {err}")
        floor.append(t)

        t, peak, run_dir, summary = recon_run(a.recon, out_dir, env, "recon")
        recon.append(t)
        rss.append(peak)
        phases.append(summary["timings_ms"])

        lin_note = ""
        if lin_env:
            # Right after the run above, so that the ratio of the two compares like with like on
            # a noisy machine; then the floor at that size.
            t, peak, _, lin_summary = recon_run(a.recon, ".bench/reports-linear", lin_env, f"recon at {a.linear_customers:,} customers")
            lin_recon.append(t)
            lin_rss.append(peak)
            lin_phases.append(lin_summary["timings_ms"])
            t, code, _, err = run_measured(psql + ["-o", "/dev/null", "-f", ".bench/floor.sql", a.linear_database])
            if code != 0:
                sys.exit(f"bench: floor at {a.linear_customers:,} customers failed: {err}")
            lin_floor.append(t)
            lin_note = (f", at {a.linear_customers:,}: recon {lin_recon[-1]:.2f} s ({lin_rss[-1] / 2**20:.0f} MiB, "
                        f"{lin_recon[-1] / recon[-1]:.2f}x this round's), floor {lin_floor[-1]:.2f} s")

        if a.skip_peers:
            print(f"bench: run {i + 1}/{a.runs}: floor {floor[-1]:.2f} s, recon {recon[-1]:.2f} s ({rss[-1] / 2**20:.0f} MiB)" + lin_note,
                  file=sys.stderr)
            continue
        t, code, peak, err = run_measured(psql + ["-f", ".bench/peer-sql.sql", a.database])
        if code != 0:
            sys.exit(f"bench: SQL peer failed: {err}")
        sql_peer.append(t)
        sql_rss.append(peak)

        t_export, code, _, err = run_measured(psql + ["-f", ".bench/peer-duckdb-export.sql", a.database])
        if code != 0:
            sys.exit(f"bench: COPY export for DuckDB failed: {err}")
        t_duck, code, peak, err = run_measured([a.python, "bench/peer_duckdb.py", ".bench/peer-duckdb", ".bench/peer-duckdb/findings.csv"])
        if code != 0:
            sys.exit(f"bench: DuckDB peer failed: {err}")
        duck_export.append(t_export)
        duck_peer.append(t_export + t_duck)
        duck_rss.append(peak)
        print(f"bench: run {i + 1}/{a.runs}: floor {floor[-1]:.2f} s, recon {recon[-1]:.2f} s ({rss[-1] / 2**20:.0f} MiB), "
              f"SQL peer {sql_peer[-1]:.2f} s, DuckDB peer {duck_peer[-1]:.2f} s (export {t_export:.2f} s)" + lin_note, file=sys.stderr)

    fm, rm = statistics.median(floor), statistics.median(recon)
    sm = statistics.median(sql_peer) if sql_peer else float("nan")
    dm = statistics.median(duck_peer) if duck_peer else float("nan")
    phase_median = {k: statistics.median(p.get(k, 0) for p in phases) for k in phases[0]}
    result = {
        "customers_per_system": a.customers,
        "rows": summary["records_read"],
        "cores": os.cpu_count(),
        "runs": a.runs,
        "floor_seconds_median": round(fm, 3),
        "recon_seconds_median": round(rm, 3),
        "ratio_recon_to_floor": round(rm / fm, 2),
        "recon_peak_rss_mib_median": round(statistics.median(rss) / 2**20, 1),
        "recon_phase_ms_median": phase_median,
        "peer_sql_seconds_median": round(sm, 3) if sql_peer else None,
        "peer_duckdb_seconds_median": round(dm, 3) if duck_peer else None,
        "peer_duckdb_export_seconds_median": round(statistics.median(duck_export), 3) if duck_export else None,
        "peer_duckdb_peak_rss_mib_median": round(statistics.median(duck_rss) / 2**20, 1) if duck_rss else None,
        "ratio_recon_to_peer_sql": round(rm / sm, 3) if sql_peer else None,
        "ratio_recon_to_peer_duckdb": round(rm / dm, 3) if duck_peer else None,
        "floor_seconds": [round(x, 3) for x in floor],
        "recon_seconds": [round(x, 3) for x in recon],
        "recon_peak_rss_mib": [round(x / 2**20, 1) for x in rss],
        "peer_sql_seconds": [round(x, 3) for x in sql_peer],
        "peer_duckdb_seconds": [round(x, 3) for x in duck_peer],
        "findings_total": summary["findings_total"],
    }
    if lin_recon:
        lm, lfm = statistics.median(lin_recon), statistics.median(lin_floor)
        result["linear"] = {
            "customers_per_system": a.linear_customers,
            "rows": lin_summary["records_read"],
            "recon_seconds_median": round(lm, 3),
            "recon_peak_rss_mib_median": round(statistics.median(lin_rss) / 2**20, 1),
            "floor_seconds_median": round(lfm, 3),
            "ratio_time": round(lm / rm, 2),
            "ratio_peak_rss": round(statistics.median(lin_rss) / statistics.median(rss), 2),
            "ratio_floor": round(lfm / fm, 2),
            "ratio_time_per_round": [round(x / y, 2) for x, y in zip(lin_recon, recon)],
            "recon_seconds": [round(x, 3) for x in lin_recon],
            "recon_peak_rss_mib": [round(x / 2**20, 1) for x in lin_rss],
            "floor_seconds": [round(x, 3) for x in lin_floor],
            "recon_phase_ms_median": {k: statistics.median(p.get(k, 0) for p in lin_phases) for k in lin_phases[0]},
        }

    fast_findings = os.path.join(run_dir, "findings.csv")
    if not a.skip_slow:
        slow_dir = ".bench/reports-slow"
        shutil.rmtree(slow_dir, ignore_errors=True)
        t, code, peak, err = run_measured([a.recon, "run", "-q", "--no-fast-paths", "--reports", slow_dir], env=env)
        if code not in (0, 1):
            sys.exit(f"bench: recon --no-fast-paths failed with exit {code}: {err}")
        slow_findings = os.path.join(slow_dir, sorted(os.listdir(slow_dir))[-1], "findings.csv")
        same = findings_core(fast_findings) == findings_core(slow_findings)
        same_plan = open(os.path.join(os.path.dirname(fast_findings), "plan.csv"), "rb").read() == \
            open(os.path.join(os.path.dirname(slow_findings), "plan.csv"), "rb").read()
        result["plan_equal_fast_vs_slow"] = same_plan
        same = same and same_plan
        result["slow_paths_seconds"] = round(t, 3)
        result["slow_paths_peak_rss_mib"] = round(peak / 2**20, 1)
        result["findings_equal_fast_vs_slow"] = same
        if not same:
            print(f"bench: FINDINGS DIFFER between {fast_findings} and {slow_findings}", file=sys.stderr)

    t, code, out, err = run([a.mirror_tool, "--phone-differential", str(a.phone_variants), "--seed", "20261129"])
    phone = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    phone["seconds"] = round(t, 2)
    phone["equal"] = code == 0
    result["phone_differential"] = phone
    if code != 0:
        print(f"bench: PHONE FAST PATH DIFFERS from libphonenumber:\n{err}", file=sys.stderr)

    # The bar (issue 5), each point as met or not by this run's medians (peak RSS: the largest run).
    bar = [("1. recon <= 2.0x the floor", f"{rm / fm:.2f}x", rm / fm <= 2.0)]
    if sql_peer:
        bar.append(("2. faster than every peer", f"{rm / sm:.2f}x SQL, {rm / dm:.2f}x DuckDB", rm < sm and rm < dm))
    bar.append(("3. peak RSS <= 1.5 GB", f"{max(rss) / 1e9:.3f} GB at most", max(rss) <= 1.5e9))
    if lin_recon:
        bar.append((f"4. linear at {a.linear_customers:,}: <= 4.4x",
                    f"time {result['linear']['ratio_time']:.2f}x, RSS {result['linear']['ratio_peak_rss']:.2f}x",
                    result["linear"]["ratio_time"] <= 4.4 and result["linear"]["ratio_peak_rss"] <= 4.4))
    if "findings_equal_fast_vs_slow" in result:
        bar.append(("5. fast and slow paths agree", "identical" if result["findings_equal_fast_vs_slow"] else "different",
                    result["findings_equal_fast_vs_slow"]))
    result["bar"] = {name: {"value": value, "met": met} for name, value, met in bar}
    os.makedirs("reports/bench", exist_ok=True)
    path = time.strftime("reports/bench/%Y%m%dT%H%M%SZ.json", time.gmtime())
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    rows = sum(result["rows"].values())
    print(f"customers per system   {a.customers:,} ({rows:,} rows in the four extracts), {os.cpu_count()} cores, median of {a.runs}")
    print(f"floor (psql COPY)      {fm:8.2f} s")
    print(f"recon end to end       {rm:8.2f} s   {rm / fm:.2f}x the floor")
    print("  phases (ms)          " + ", ".join(f"{k} {v:.0f}" for k, v in phase_median.items()))
    print(f"recon peak RSS         {result['recon_peak_rss_mib_median']:8.1f} MiB")
    if sql_peer:
        print(f"peer: SQL in PostgreSQL{sm:8.2f} s   {sm / fm:.2f}x the floor; recon/peer {rm / sm:.2f}")
        print(f"peer: COPY + DuckDB    {dm:8.2f} s   {dm / fm:.2f}x the floor; recon/peer {rm / dm:.2f} "
              f"(export {result['peer_duckdb_export_seconds_median']:.2f} s, DuckDB peak RSS {result['peer_duckdb_peak_rss_mib_median']:.0f} MiB)")
    if "findings_equal_fast_vs_slow" in result:
        print(f"fast vs --no-fast-paths findings.csv and plan.csv: {'identical' if result['findings_equal_fast_vs_slow'] else 'DIFFERENT'} "
              f"(slow run {result['slow_paths_seconds']:.1f} s)")
    print(f"phone fast path vs libphonenumber: {phone.get('entries', 0):,} texts, {phone.get('fast_answered', 0):,} answered by the fast path, "
          f"{phone.get('differences', '?')} differences ({phone.get('fast_ns_per_entry', 0)} vs {phone.get('libphonenumber_ns_per_entry', 0)} ns per text)")
    if lin_recon:
        L = result["linear"]
        print(f"at {a.linear_customers:,} per system   recon {L['recon_seconds_median']:.2f} s ({L['ratio_time']:.2f}x), "
              f"peak RSS {L['recon_peak_rss_mib_median']:.1f} MiB ({L['ratio_peak_rss']:.2f}x), floor {L['floor_seconds_median']:.2f} s "
              f"({L['ratio_floor']:.2f}x); per round {', '.join(f'{x:.2f}x' for x in L['ratio_time_per_round'])}")
    for name, value, met in bar:
        print(f"  {'met    ' if met else 'NOT MET'}  {name:34} {value}")
    print(f"written to {path}")
    if not phone["equal"] or result.get("findings_equal_fast_vs_slow") is False:
        sys.exit(1)


if __name__ == "__main__":
    main()
