"""`catalogs load TABLE FILE`: fill one of main's catalogs from CSV or Parquet, checked before anything is written.

Every value is cast by etl.casts' strict rules, as an import casts a register's (CSV text in its plain
forms; a Parquet DOUBLE 12.1 is the decimal 12.1000, float noise normalised). The load is refused,
naming rows, values and why, when the key column is missing, a key is empty or repeated, or a value
does not cast or would lose digits (0.00015 has more decimals than a price keeps). By default the
file becomes the catalog (rows it lacks are deleted from main); with merge=True its rows are added or
updated and the others are kept. A CSV file may be written as shops write it (etl/csvfiles.py: its
encoding, separator and decimal mark are found or given).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
from sqlglot import exp

from etl import casts, csvfiles, ledger
from etl.catalogs.plan import Target, hash_sql, lit
from etl.csvfiles import COMMA_NUMBER, POINT_NUMBER, CsvFormat
from etl.errors import ConfigError
from etl.i18n import Said
from etl.ledger import Counts
from etl.schema import CATALOG_TABLES, TABLES
from etl.store import Store, quote

RAW = "temp.catalog_load_raw"
SAMPLES = 5
# A total beside sample rows is a scalar subquery over a MATERIALIZED CTE, never a count(*) window: DuckDB
# 1.5.5's parallel window intermittently fails there with an internal error that invalidates the whole
# database until the process restarts (duckdb/duckdb#25713; seen here in a suite run under load).
# CSV quoting is RFC 4180's ("" inside quotes); left to the sniffer, a value ending in `\` before its
# closing quote (a product named `a\`) could be read as a backslash-escaped quote and shift the columns.
# The whole dialect is given (the sniffer is off): a ragged row is an error naming its line, never a
# silently empty or shifted read.
CSV_READER = ("read_csv({path}, auto_detect = false, header = true, delim = {delim}, quote = '\"', escape = '\"', "
              "columns = {columns}, strict_mode = true)")
READERS = {".csv": CSV_READER, ".parquet": "read_parquet({path})", ".pq": "read_parquet({path})"}


@dataclass(frozen=True)
class CsvOptions:
    """What the user said about a CSV file; None: find it out (etl/csvfiles.py)."""

    encoding: str | None = None
    separator: str | None = None
    decimal_comma: bool | None = None


@dataclass(frozen=True)
class LoadResult:
    table: str
    file: Path
    rows: int
    inserted: int
    updated: int
    deleted: int
    unchanged: int
    missing_columns: tuple[str, ...]  # canonical columns the file lacks (left empty)
    merge: bool
    csv: CsvFormat | None = None  # how a CSV file was read (None for Parquet)


def load_catalog(store: Store, table: str, file: Path, merge: bool = False,
                 options: CsvOptions | None = None) -> LoadResult:
    """Check the file, then replace (or merge into) main's catalog in one transaction, logged."""
    if table not in CATALOG_TABLES:
        raise ConfigError(Said("%(table)s is not a catalog; catalogs are %(catalogs)s.", table=repr(table),
                               catalogs=", ".join(CATALOG_TABLES)))
    file = Path(file)
    if not file.is_file():
        raise ConfigError(Said("%(file)s: no such file.", file=str(file)))
    reader = READERS.get(file.suffix.lower())
    if reader is None:
        if not file.suffix:
            raise ConfigError(Said("%(file)s: unknown format (no extension); give a .csv or .parquet file.",
                                   file=file.name))
        raise ConfigError(Said("%(file)s: unknown format %(kind)s; give a .csv or .parquet file.", file=file.name,
                               kind=file.suffix))
    con = store.con
    fmt: CsvFormat | None = None
    try:
        if file.suffix.lower() == ".csv":
            fmt = _read_csv(con, file, options or CsvOptions(), store.data_dir / "csv")
        else:
            _read(con, file, _source(reader, file))
        columns = _columns(con, table, file)
        if fmt is not None:
            fmt = _decimal_mark(con, table, columns, fmt, (options or CsvOptions()).decimal_comma)
        _check_values(con, table, file, columns, fmt)
        rows = _count(con, f"SELECT count(*) FROM {RAW}")
        if not rows:
            raise ConfigError(Said("%(file)s: the file has no rows; nothing was loaded.", file=file.name))
        _check_keys(con, table, file)
        return _write(store, table, file, columns, rows, merge, fmt)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {RAW}")
        con.execute("DROP TABLE IF EXISTS temp.catalog_load_rows")


def _source(reader: str, file: Path, **dialect: str) -> str:
    return reader.format(path=lit(str(file.resolve())), **dialect)


def _read(con: duckdb.DuckDBPyConnection, file: Path, source: str, fmt: CsvFormat | None = None) -> None:
    try:
        names = [d[0] for d in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        renamed = ", ".join(f"{quote(n)} AS {quote(n.strip().lower())}" for n in names)
        con.execute(f"CREATE OR REPLACE TEMP TABLE catalog_load_raw AS "
                    f"SELECT row_number() OVER () AS _row, {renamed} FROM {source}")
    except duckdb.Error as err:
        raise ConfigError(_read_error(file, str(err), fmt)) from None


def _read_error(file: Path, error: str, fmt: CsvFormat | None) -> Said:
    """One sentence for a file DuckDB could not read: for a CSV, the line, what was wrong and how it was read."""
    first = error.strip().splitlines()[0][:300]
    if fmt is None:
        return Said("%(file)s: cannot be read as %(kind)s (%(why)s).", file=file.name,
                    kind=file.suffix.lstrip('.').upper(), why=first)
    line = re.search(r"CSV Error on Line: (\d+)", error)
    fields = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", error)
    if line and fields:
        return Said("%(file)s: line %(line)s has %(found)s values where the header has %(expected)s (read as "
                    "%(format)s); a %(separator)s inside a value needs quotes, or give the separator with "
                    "--separator.", file=file.name, line=line.group(1), found=fields.group(2),
                    expected=fields.group(1), format=fmt.describe(), separator=csvfiles.SEPARATOR_NAMES[fmt.separator])
    return Said("%(file)s: cannot be read as CSV (read as %(format)s: %(why)s).", file=file.name,
                format=fmt.describe(), why=first)


def _read_csv(con: duckdb.DuckDBPyConnection, file: Path, options: CsvOptions, work: Path) -> CsvFormat:
    """Find or take the file's encoding and separator, then read it as text columns named by its header."""
    fmt = csvfiles.sniff(file, options.encoding, options.separator)
    names = [n.strip().lower() for n in csvfiles.header(file, fmt)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(Said("%(file)s: column(s) %(columns)s appear more than once in the header (read as "
                               "%(format)s).", file=file.name, columns=", ".join(twice), format=fmt.describe()))
    columns = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in names) + "}"
    readable = csvfiles.as_utf8(file, fmt, work)
    try:
        _read(con, file, _source(CSV_READER, readable, delim=lit(fmt.separator), columns=columns), fmt)
    finally:
        if readable != file:
            with contextlib.suppress(OSError):
                readable.unlink()
    return fmt


def _decimals(table: str, columns: tuple[str, ...]) -> list[str]:
    return [c for c in columns if TABLES[table].type_of(c).startswith("DECIMAL")]


def _decimal_mark(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], fmt: CsvFormat,
                  decimal_comma: bool | None) -> CsvFormat:
    """Decide the decimal mark (given, or a comma when unambiguous) and turn `1234,50` into `1234.50`."""
    decimals = _decimals(table, columns)
    if not decimals:
        return fmt
    found = fmt.found
    if decimal_comma is None:
        comma = " + ".join(f"count(*) FILTER (regexp_matches({quote(c)}, {lit(COMMA_NUMBER)}))" for c in decimals)
        point = " + ".join(f"count(*) FILTER (regexp_matches({quote(c)}, {lit(POINT_NUMBER)}))" for c in decimals)
        row = con.execute(f"SELECT {comma}, {point} FROM {RAW}").fetchone()
        commas, points = row if row else (0, 0)
        decimal_comma = fmt.separator != "," and commas > 0 and points == 0
        found = (*found, "decimal mark")
    if decimal_comma:
        sets = ", ".join(f"{quote(c)} = CASE WHEN regexp_matches({quote(c)}, {lit(COMMA_NUMBER)}) "
                         f"THEN replace({quote(c)}, ',', '.') ELSE {quote(c)} END" for c in decimals)
        con.execute(f"UPDATE {RAW} SET {sets}")
    return CsvFormat(fmt.encoding, fmt.separator, decimal_comma, found)


def _columns(con: duckdb.DuckDBPyConnection, table: str, file: Path) -> tuple[str, ...]:
    """The canonical columns the file has; refuse unknown columns and a missing key."""
    present = [r[0] for r in con.execute(f"DESCRIBE {RAW}").fetchall() if r[0] != "_row"]
    known = TABLES[table].column_names
    unknown = [c for c in present if c not in known]
    if unknown:
        raise ConfigError(Said("%(file)s: unknown column(s) %(columns)s for %(table)s (its columns: %(known)s).",
                               file=file.name, columns=", ".join(unknown), table=table, known=", ".join(known)))
    key = TABLES[table].key[0]
    if key not in present:
        if not present:
            raise ConfigError(Said("%(file)s: no %(key)s column, the key of %(table)s (columns found: none).",
                                   file=file.name, key=key, table=table))
        raise ConfigError(Said("%(file)s: no %(key)s column, the key of %(table)s (columns found: %(found)s).",
                               file=file.name, key=key, table=table, found=", ".join(present)))
    return tuple(c for c in known if c in present)


def _types(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE {RAW}").fetchall()}


def _cast(column: str, source_type: str, target: str) -> tuple[str, str]:
    """(value, reason) SQL for one file column: the strict rules, and no NUL in text (no register can hold it)."""
    value, reason = casts.strict(exp.column(column, quoted=True), source_type, target)
    why = reason.sql("duckdb")
    if target == "VARCHAR":
        why = f"CASE WHEN strpos(CAST({quote(column)} AS VARCHAR), chr(0)) > 0 THEN 'has a NUL character' END"
    return value.sql("duckdb"), why


def _hint(column: str, fmt: CsvFormat | None) -> str:
    """SQL for the likely cause of a bad number in a CSV file, said after the reason (or NULL)."""
    value = f"CAST({quote(column)} AS VARCHAR)"
    if fmt is None:
        return "NULL"
    if not fmt.decimal_comma:
        return (f"CASE WHEN regexp_matches({value}, {lit(COMMA_NUMBER)}) "
                "THEN 'decimal comma? use --decimal-comma' END")
    return (f"CASE WHEN strpos({value}, '.') > 0 AND strpos({value}, ',') > 0 "
            "THEN 'a thousands separator? write the number without it' END")


def _check_values(con: duckdb.DuckDBPyConnection, table: str, file: Path, columns: tuple[str, ...],
                  fmt: CsvFormat | None = None) -> None:
    t, types = TABLES[table], _types(con)
    decimals = _decimals(table, columns)
    checks = []
    for c in columns:
        _, why = _cast(c, types[c], t.type_of(c))
        hint = _hint(c, fmt) if c in decimals else "NULL"
        checks.append(f"SELECT _row, {lit(c)} AS col, CAST({quote(c)} AS VARCHAR) AS val, {why} AS reason, "
                      f"{hint} AS hint FROM {RAW} WHERE ({why}) IS NOT NULL")
    found = con.execute(f"WITH f AS MATERIALIZED ({' UNION ALL '.join(checks)}) "  # a total: see SAMPLES
                        f"SELECT *, (SELECT count(*) FROM f) FROM f ORDER BY _row, col LIMIT {SAMPLES}").fetchall()
    if found:
        samples = "; ".join(f"row {r}: {c} {v!r} {why}{f' ({hint})' if hint else ''}"
                            for r, c, v, why, hint, _ in found)
        how = f" (read as {fmt.describe()})" if fmt is not None and not fmt.plain else ""
        raise ConfigError(Said("%(file)s: %(n)s value(s) do not cast (%(samples)s)%(how)s; fix them and load "
                               "again.", file=file.name, n=int(found[0][5]), samples=samples, how=how))


def _check_keys(con: duckdb.DuckDBPyConnection, table: str, file: Path) -> None:
    key = quote(TABLES[table].key[0])
    empty = con.execute(f"SELECT _row FROM {RAW} WHERE {key} IS NULL OR trim({key}) = '' ORDER BY _row "
                        f"LIMIT {SAMPLES}").fetchall()
    if empty:
        rows = ", ".join(str(r[0]) for r in empty)
        raise ConfigError(Said("%(file)s: %(key)s is empty on row(s) %(rows)s; every row needs its key.",
                               file=file.name, key=TABLES[table].key[0], rows=rows))
    dupes = con.execute(
        f"WITH d AS MATERIALIZED (SELECT {key}, list(_row ORDER BY _row) AS r, min(_row) AS first FROM {RAW} "
        f"GROUP BY {key} HAVING count(*) > 1) "
        f"SELECT {key}, r, (SELECT count(*) FROM d) FROM d ORDER BY first LIMIT {SAMPLES}").fetchall()
    if dupes:
        shown = "; ".join(f"{k!r} on rows {', '.join(map(str, r[:4]))}" for k, r, _ in dupes)
        raise ConfigError(Said("%(file)s: %(n)s %(key)s value(s) appear more than once (%(rows)s); a catalog "
                               "needs one row per key.", file=file.name, n=int(dupes[0][2]),
                               key=TABLES[table].key[0], rows=shown))


def _write(store: Store, table: str, file: Path, columns: tuple[str, ...], rows: int, merge: bool,
           fmt: CsvFormat | None) -> LoadResult:
    t, types = TABLES[table], _types(store.con)
    key = quote(t.key[0])
    select = ", ".join(
        (_cast(c, types[c], ty)[0] if c in columns else f"CAST(NULL AS {ty})") + f" AS {quote(c)}"
        for c, ty in t.columns)
    everything = Target(table, table, tuple((c, c) for c in t.column_names))
    con = store.con
    con.execute(f"CREATE OR REPLACE TEMP TABLE catalog_load_rows AS SELECT {select} FROM {RAW} ORDER BY {key}")
    new = "temp.catalog_load_rows"
    counts = con.execute(
        f"SELECT count(*) FILTER (o.k IS NULL), count(*) FILTER (o.k IS NOT NULL AND o.h <> n.h), "
        f"count(*) FILTER (o.k IS NOT NULL AND o.h = n.h) "
        f"FROM (SELECT {key} AS k, {hash_sql(everything)} AS h FROM {new}) n "
        f"LEFT JOIN (SELECT {key} AS k, {hash_sql(everything)} AS h FROM {quote(table)}) o USING (k)"
    ).fetchone()
    assert counts is not None
    inserted, updated, unchanged = (int(x) for x in counts)
    deleted = 0 if merge else _count(con, f"SELECT count(*) FROM {quote(table)} WHERE {key} NOT IN "
                                          f"(SELECT {key} FROM {new})")
    missing = tuple(c for c in t.column_names if c not in columns)
    with store.transaction() as tx:
        if merge:
            tx.execute(f"DELETE FROM {quote(table)} WHERE {key} IN (SELECT {key} FROM {new})")
        else:
            tx.execute(f"DELETE FROM {quote(table)}")
        tx.execute(f"INSERT INTO {quote(table)} SELECT * FROM {new}")
        tx.execute("INSERT INTO catalog_loads VALUES (?, now()::TIMESTAMP, ?, ?)", [table, str(file), rows])
        how = "merged into" if merge else "replaced"
        note = f"; columns not in the file left empty: {', '.join(missing)}" if missing else ""
        ledger.log(tx, "catalog load", "ok",
                   f"{table} {how} from {file.name}: +{inserted:,} ~{updated:,} -{deleted:,}{note}",
                   counts=Counts(read=rows, inserted=inserted, updated=updated, skipped=unchanged))
    return LoadResult(table, file, rows, inserted, updated, deleted, unchanged, missing, merge, fmt)


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0
