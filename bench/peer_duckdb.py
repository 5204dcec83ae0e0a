#!/usr/bin/env python3
"""The DuckDB peer: reads the four CSV files exported by COPY, runs bench/peer_reconcile.sql and
writes findings.csv. Usage: peer_duckdb.py <folder with crm_c.csv …> <out.csv>"""
import sys

import duckdb

folder, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
for table in ("crm_c", "erp_c", "crm_o", "erp_o"):
    con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM read_csv('{folder}/{table}.csv', header = true, all_varchar = true)")
statement = []
for line in open("bench/peer_reconcile.sql"):
    if line.startswith("--") and not statement:
        continue
    statement.append(line)
    if line.rstrip().endswith(";"):
        sql = "".join(statement).strip()
        statement = []
        if not sql.startswith("ANALYZE"):
            con.execute(sql)
con.execute(f"COPY (SELECT * FROM findings ORDER BY 1, 2, 3, 4, 5) TO '{out}' (HEADER)")
print(con.execute("SELECT count(*) FROM findings").fetchone()[0])
