"""What posync is measured against, with no posync code in the data path.

- `limit`: the plain-DuckDB limit. A hand-written script that attaches each register and runs
  `INSERT INTO main… SELECT … FROM reg… WHERE date = …`, one transaction per register, into
  tables of the same types as posync's main (DECIMAL(18,4), …). No copy, no checks, no hashes:
  nothing posync does can be faster than this, so it is the ceiling for throughput.
- `adbc`: the pushdown reference. Each register's day read by SQLite itself through Apache Arrow's
  ADBC driver (`WHERE date = ?` and the header join run by SQLite, so the cost follows the day's
  rows, not the history), handed to DuckDB as Arrow and `INSERT … SELECT`ed with the casts to
  main's types, one transaction per register. No copy, no checks, no hashes.
- `dlt`: the general-purpose loader a user would otherwise pick. The same day, read with DuckDB
  from the registers into the same Arrow tables posync stages (canonical types), loaded by
  `dlt` into a DuckDB file with `write_disposition="merge"` and the natural primary keys.

Each runs as its own process (`python -m bench.reference limit|dlt …`) so that the runner
measures its wall time and peak RSS exactly as it measures `posync`. Only the path of the
sqlite extension's file is borrowed from posync (`etl.engines.extension_path`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

# dlt phones home and writes to ~/.dlt unless told otherwise; set before dlt is imported.
DLT_ENV = {"RUNTIME__DLTHUB_TELEMETRY": "false", "RUNTIME__LOG_LEVEL": "WARNING"}

# Main's voucher tables, column by column as posync's main schema has them (etl/store.py).
MAIN_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "vouchers": (
        ("register", "VARCHAR"), ("voucher_code", "VARCHAR"), ("number", "BIGINT"), ("date", "DATE"),
        ("issued_at", "TIMESTAMP"), ("customer_id", "VARCHAR"), ("subtotal", "DECIMAL(18,4)"),
        ("tax", "DECIMAL(18,4)"), ("total", "DECIMAL(18,4)"), ("status", "VARCHAR"), ("updated_at", "TIMESTAMP"),
        ("content_hash", "VARCHAR"), ("imported_at", "TIMESTAMP"),
    ),
    "voucher_lines": (
        ("register", "VARCHAR"), ("voucher_code", "VARCHAR"), ("number", "BIGINT"), ("line_no", "INTEGER"),
        ("product_id", "VARCHAR"), ("quantity", "DECIMAL(18,3)"), ("unit_price", "DECIMAL(18,4)"),
        ("discount", "DECIMAL(18,4)"), ("tax", "DECIMAL(18,4)"), ("total", "DECIMAL(18,4)"),
        ("imported_at", "TIMESTAMP"),
    ),
    "payments": (
        ("register", "VARCHAR"), ("voucher_code", "VARCHAR"), ("number", "BIGINT"), ("seq", "INTEGER"),
        ("method_id", "VARCHAR"), ("amount", "DECIMAL(18,4)"), ("imported_at", "TIMESTAMP"),
    ),
}
KEYS = {
    "vouchers": ("voucher_code", "number"),
    "voucher_lines": ("voucher_code", "number", "line_no"),
    "payments": ("voucher_code", "number", "seq"),
}
# Columns that are not read from the register.
_NOT_SOURCE = {"register", "content_hash", "imported_at"}

if TYPE_CHECKING:
    import duckdb


def literal(text: str) -> str:
    """A SQL string literal.

    >>> literal("/data/caja 'uno'.db")
    "'/data/caja ''uno''.db'"
    """
    return "'" + text.replace("'", "''") + "'"


def source_columns(table: str) -> list[tuple[str, str]]:
    return [(c, t) for c, t in MAIN_COLUMNS[table] if c not in _NOT_SOURCE]


def day_select(table: str, alias: str, register: str, day: str, typed: bool) -> str:
    """The register's rows of that day for one table; lines and payments through their header's date.

    typed=True casts every column to main's type (what the Arrow tables fed to dlt carry).

    >>> print(day_select("payments", "r", "caja1", "2026-11-26", typed=False))  # doctest: +NORMALIZE_WHITESPACE
    SELECT 'caja1' AS register, t."voucher_code", t."number", t."seq", t."method_id", t."amount"
    FROM r."payments" t JOIN r."vouchers" h ON h."voucher_code" = t."voucher_code" AND h."number" = t."number"
    WHERE h."date" = DATE '2026-11-26'
    """
    return _day_sql(table, f"{alias}.", register, f"DATE {literal(day)}", typed)


def _day_sql(table: str, prefix: str, register: str, when: str, typed: bool) -> str:
    """day_select and sqlite_day_select: tables named `prefix`"table", the date compared with `when`."""
    cols = ", ".join(f'CAST(t."{c}" AS {ty}) AS "{c}"' if typed else f't."{c}"' for c, ty in source_columns(table))
    head = f'SELECT {literal(register)} AS register, {cols} FROM {prefix}"{table}" t'
    if table == "vouchers":
        return f'{head} WHERE t."date" = {when}'
    return (f'{head} JOIN {prefix}"vouchers" h ON h."voucher_code" = t."voucher_code" AND h."number" = t."number" '
            f'WHERE h."date" = {when}')


def _connect(path: str = ":memory:") -> duckdb.DuckDBPyConnection:
    import duckdb

    from etl.engines import extension_path

    con = duckdb.connect(path, config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute(f"LOAD {literal(str(extension_path('sqlite_scanner')))}")
    return con


def _main(main: Path) -> duckdb.DuckDBPyConnection:
    """The reference's main store, with main's voucher tables and types."""
    con = _connect(str(main))
    for table, cols in MAIN_COLUMNS.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(f'{c} {t}' for c, t in cols)})")
    return con


def _stamps(table: str) -> str:
    """The columns main fills itself: content_hash (vouchers only) and imported_at."""
    return "NULL, now()::TIMESTAMP" if table == "vouchers" else "now()::TIMESTAMP"


def limit(main: Path, registers: Sequence[tuple[str, str]], day: str) -> int:
    """The plain-DuckDB limit: one INSERT … SELECT per table, one transaction per register."""
    con = _main(main)
    rows = 0
    for name, path in registers:
        con.execute(f"ATTACH {literal(path)} AS reg (TYPE sqlite, READ_ONLY)")
        con.execute("BEGIN")
        for table in MAIN_COLUMNS:
            select = day_select(table, "reg", name, day, typed=False)
            inserted = con.execute(f"INSERT INTO {table} SELECT *, {_stamps(table)} FROM ({select})").fetchone()
            rows += int(inserted[0]) if inserted else 0
        con.execute("COMMIT")
        con.execute("DETACH reg")
    con.close()
    return rows


def sqlite_day_select(table: str, register: str) -> str:
    """The day's rows of one table in SQLite's own SQL (the date bound as `?`), for the ADBC reference.

    >>> print(sqlite_day_select("payments", "caja1"))  # doctest: +NORMALIZE_WHITESPACE
    SELECT 'caja1' AS register, t."voucher_code", t."number", t."seq", t."method_id", t."amount"
    FROM "payments" t JOIN "vouchers" h ON h."voucher_code" = t."voucher_code" AND h."number" = t."number"
    WHERE h."date" = ?
    """
    return _day_sql(table, "", register, "?", typed=False)


def adbc(main: Path, registers: Sequence[tuple[str, str]], day: str) -> int:
    """The ADBC pushdown reference: SQLite filters and joins, DuckDB casts and inserts, per register."""
    import adbc_driver_sqlite.dbapi as sqlite_adbc

    con = _main(main)
    rows = 0
    for name, path in registers:
        reg = sqlite_adbc.connect(f"file:{path}?mode=ro")
        try:
            con.execute("BEGIN")
            for table in MAIN_COLUMNS:
                cursor = reg.cursor()
                cursor.execute(sqlite_day_select(table, name), [day])
                day_rows = cursor.fetch_arrow_table()  # noqa: F841 - read by DuckDB below, by name
                cursor.close()
                casts = ", ".join(f"CAST({c} AS {t})" for c, t in MAIN_COLUMNS[table] if c not in _NOT_SOURCE)
                inserted = con.execute(f"INSERT INTO {table} SELECT register, {casts}, {_stamps(table)} FROM day_rows"
                                       ).fetchone()
                rows += int(inserted[0]) if inserted else 0
            con.execute("COMMIT")
        finally:
            reg.close()
    con.close()
    return rows


def dlt_load(dest: Path, work: Path, registers: Sequence[tuple[str, str]], day: str) -> int:
    """The same day through dlt: Arrow tables per register and table, merged on the primary key."""
    for key, value in DLT_ENV.items():
        os.environ.setdefault(key, value)
    import dlt

    con = _connect()

    def arrow_tables(table: str) -> Iterator[object]:
        for i, (name, path) in enumerate(registers):
            alias = f"r_{table}_{i}"  # dlt may interleave the three generators
            con.execute(f"ATTACH {literal(path)} AS {alias} (TYPE sqlite, READ_ONLY)")
            try:
                yield con.cursor().execute(day_select(table, alias, name, day, typed=True)).to_arrow_table()
            finally:
                con.execute(f"DETACH {alias}")

    def hints(table: str) -> dict[str, dict[str, object]]:  # naive timestamps, as in main (dlt defaults to tz)
        return {c: {"timezone": False} for c, t in source_columns(table) if t == "TIMESTAMP"}

    resources = [
        dlt.resource(arrow_tables(t), name=t, write_disposition="merge", primary_key=list(KEYS[t]),
                     columns=hints(t))
        for t in MAIN_COLUMNS
    ]
    pipeline = dlt.pipeline(pipeline_name="bench_dlt", destination=dlt.destinations.duckdb(str(dest)),
                            dataset_name="main_data", pipelines_dir=str(work))
    pipeline.run(resources)
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace is not None else None
    if info is None:
        raise RuntimeError("dlt ran but reported no normalize step")
    counts: dict[str, int] = info.row_counts
    return sum(n for t, n in counts.items() if t in MAIN_COLUMNS)


def _pairs(values: Sequence[str]) -> list[tuple[str, str]]:
    return [(name, path) for name, path in (v.split("=", 1) for v in values)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reference", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    lim = sub.add_parser("limit", help="plain DuckDB INSERT … SELECT, one transaction per register")
    lim.add_argument("--main", type=Path, required=True)
    ad = sub.add_parser("adbc", help="the day read by SQLite through ADBC, inserted by DuckDB")
    ad.add_argument("--main", type=Path, required=True)
    dl = sub.add_parser("dlt", help="dlt merge of the same Arrow tables")
    dl.add_argument("--dest", type=Path, required=True)
    dl.add_argument("--work", type=Path, required=True)
    for p in (lim, ad, dl):
        p.add_argument("--date", required=True)
        p.add_argument("registers", nargs="+", metavar="NAME=PATH")
    args = parser.parse_args(argv)
    if args.what == "limit":
        rows = limit(args.main, _pairs(args.registers), args.date)
    elif args.what == "adbc":
        rows = adbc(args.main, _pairs(args.registers), args.date)
    else:
        rows = dlt_load(args.dest, args.work, _pairs(args.registers), args.date)
    print(f"{args.what}: {rows} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
