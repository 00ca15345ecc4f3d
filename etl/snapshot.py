"""What listings and `status` read while a run holds a DuckDB main store: main as of the last finished run.

DuckDB lets one process at a time open a database file for writing, and no other process read it
meanwhile; a monitor polling `posync status` during the nightly sync must still get an answer. So
every run that changed main leaves, as it ends (still holding the run lock), a snapshot beside its
working files: the small tables listings read, copied whole, and summaries in place of what only the
big voucher tables could answer (each register's last sales, the numbering gaps). A listing opened
while a run holds the store attaches the snapshot as main, read-only, and runs the same queries.
PostgreSQL main stores need none of this: readers read through the run, as PostgreSQL allows.

The summaries are views on a live store (created per connection, `create_views`) and tables in the
snapshot, under the same names, so every listing's SQL reads either.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import duckdb

from etl.paths import sql_string

FILE = "snapshot.duckdb"
TABLES = ("schema_version", "remotes", "sync_log", "import_batches", "voucher_code_owners", "pushes", "numbering",
          "commercial_rules", "source_changes", "catalog_loads", "loyalty_movements", "customers", "voucher_types",
          "held_codes")
SUMMARIES = {
    "register_sales": "SELECT register, max(date) AS last_sales, count(*) AS vouchers FROM vouchers GROUP BY register",
    "code_stats": """SELECT voucher_code, min(date) AS first_date, max(date) AS last_date, count(*) AS vouchers,
                            list(DISTINCT register ORDER BY register) AS registers
                     FROM vouchers WHERE voucher_code IS NOT NULL GROUP BY voucher_code""",
    "numbering_gaps": """
        WITH n AS (SELECT DISTINCT voucher_code, number FROM vouchers
                   WHERE voucher_code IS NOT NULL AND number IS NOT NULL),
             g AS (SELECT voucher_code, number,
                          lag(number) OVER (PARTITION BY voucher_code ORDER BY number) AS prev FROM n)
        SELECT voucher_code, list({'lo': prev + 1, 'hi': number - 1} ORDER BY number) AS gaps,
               sum(number - prev - 1)::BIGINT AS missing
        FROM g WHERE number - prev > 1 GROUP BY voucher_code""",
}


def path(data_dir: Path) -> Path:
    return data_dir / FILE


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """The summaries as temp views over main's own tables (a live store, read or written)."""
    for name, sql in SUMMARIES.items():
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")


def write(con: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    """Leave main's listing tables and summaries in data_dir/snapshot.duckdb (written aside, then renamed)."""
    final = path(data_dir)
    partial = final.with_name(f"{FILE}.{os.getpid()}.partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    con.execute(f"ATTACH {sql_string(str(partial))} AS posync_snapshot")
    try:
        for table in TABLES:
            con.execute(f"CREATE TABLE posync_snapshot.main.{table} AS SELECT * FROM {table}")
        for name in SUMMARIES:
            con.execute(f"CREATE TABLE posync_snapshot.main.{name} AS SELECT * FROM {name}")
        con.execute("CREATE TABLE posync_snapshot.main.snapshot_taken AS SELECT now()::TIMESTAMP AS taken_at")
    finally:
        con.execute("DETACH posync_snapshot")
    os.replace(partial, final)


def taken_at(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute("SELECT strftime(taken_at, '%Y-%m-%d %H:%M:%S') FROM snapshot_taken").fetchone()
    return str(row[0]) if row else None
