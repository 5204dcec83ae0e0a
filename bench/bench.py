#!/usr/bin/env python3
"""recon benchmark driver: the floor (psql COPY of the four queries to /dev/null) and recon end
to end, each the median of N runs in the same invocation, with recon's peak RSS (wait4 rusage)
and per-phase timings from its summary.json. Writes the figures to reports/bench/<time>.json."""
import argparse, json, os, shutil, statistics, subprocess, sys, time

QUERIES = ["crm_customers", "erp_customers", "crm_orders", "erp_orders"]


def run(cmd, env=None, stdin=None):
    """Runs cmd, returns (seconds, exit status, peak RSS in bytes)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - start
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    return elapsed, code, usage.ru_maxrss * 1024, err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recon", required=True)
    ap.add_argument("--database", required=True)
    ap.add_argument("--customers", type=int, required=True)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()

    script = "".join(f"COPY (\n{open(f'queries/{q}.sql').read().rstrip().rstrip(';')}\n) TO STDOUT;\n" for q in QUERIES)
    floor, recon, rss, phases = [], [], [], []
    out_dir = ".bench/reports"
    for i in range(a.runs):
        with open(".bench/floor.sql", "w") as f:
            f.write(script)
        t, code, _, err = run(["psql", "-qX", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", "-f", ".bench/floor.sql", a.database])
        if code != 0:
            sys.exit(f"bench: floor failed: {err}")
        floor.append(t)
        shutil.rmtree(out_dir, ignore_errors=True)
        env = dict(os.environ, DATABASE_URL=a.database)
        t, code, peak, err = run([a.recon, "run", "-q", "--reports", out_dir], env=env)
        if code not in (0, 1):  # 0 clean, 1 breached
            sys.exit(f"bench: recon failed with exit {code}: {err}")
        recon.append(t)
        rss.append(peak)
        run_dir = os.path.join(out_dir, sorted(os.listdir(out_dir))[-1])
        summary = json.load(open(os.path.join(run_dir, "summary.json")))
        phases.append(summary["timings_ms"])
        print(f"bench: run {i + 1}/{a.runs}: floor {floor[-1]:.2f} s, recon {t:.2f} s, peak RSS {peak / 2**20:.0f} MiB", file=sys.stderr)

    fm, rm = statistics.median(floor), statistics.median(recon)
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
        "floor_seconds": [round(x, 3) for x in floor],
        "recon_seconds": [round(x, 3) for x in recon],
        "findings_total": summary["findings_total"],
    }
    os.makedirs("reports/bench", exist_ok=True)
    path = time.strftime("reports/bench/%Y%m%dT%H%M%SZ.json", time.gmtime())
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    rows = sum(result["rows"].values())
    print(f"customers per system   {a.customers:,} ({rows:,} rows in the four extracts), {os.cpu_count()} cores, median of {a.runs}")
    print(f"floor (psql COPY)      {fm:8.2f} s")
    print(f"recon end to end       {rm:8.2f} s   ratio {rm / fm:.2f}x the floor")
    print("  phases (ms)          " + ", ".join(f"{k} {v:.0f}" for k, v in phase_median.items()))
    print(f"recon peak RSS         {result['recon_peak_rss_mib_median']:8.1f} MiB")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
