"""Mapping + process date → a sqlglot SELECT → Arrow record batches → DuckDB temp staging tables.

Every value is TRY_CAST to its canonical type and a `_bad` column names the columns whose
source value was present but did not cast, so check 5 can reject those rows with samples
instead of coercing them to NULL or 0 (FAULTS 10).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
from sqlglot import exp

from etl.engines import attach, detach, load_extension
from etl.errors import PosyncError
from etl.faults import checkpoint
from etl.mapping import Mapping, TableMapping
from etl.schema import TABLES, VOUCHER_TABLES
from etl.staging import Snapshot
from etl.store import quote

BATCH_ROWS = 200_000
INTEGER_TYPES = ("BIGINT", "INTEGER")
SRC = "src"


@dataclass(frozen=True)
class Extracted:
    """Rows read from one register for one date, and the columns its tables have that nobody maps."""

    register: str
    counts: dict[str, int]
    unmapped: dict[str, tuple[str, ...]]


STAGE = "stage"  # an in-memory database (not `temp`): the extraction cursors must see it too


def stage_table(table: str) -> str:
    return f"{STAGE}.{table}"


def create_staging(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> None:
    """Empty staging tables (register + canonical columns + _bad) for this run."""
    attached = con.execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", [STAGE]).fetchone()
    if not attached or not attached[0]:
        con.execute(f"ATTACH ':memory:' AS {STAGE}")
    for table in tables:
        cols = ", ".join(f"{quote(c)} {t}" for c, t in TABLES[table].columns)
        con.execute(f"CREATE OR REPLACE TABLE {stage_table(table)} (register VARCHAR, {cols}, _bad VARCHAR)")


def _qualified(expression: exp.Expression, alias: str = SRC) -> exp.Expression:
    """The mapping expression with every column qualified by the source alias."""
    tree = expression.copy()
    for column in tree.find_all(exp.Column):
        column.set("table", exp.to_identifier(alias))
    return tree


def _cast(expression: exp.Expression, type_: str) -> exp.Expression:
    return exp.TryCast(this=expression, to=exp.DataType.build(type_, dialect="duckdb"))


def _bad_condition(expression: exp.Expression, type_: str) -> exp.Expression:
    """True when the source had a value but it did not cast (or lost digits casting to an integer)."""
    refs = [c for c in expression.find_all(exp.Column)]
    present = exp.or_(*[exp.Not(this=exp.Is(this=r.copy(), expression=exp.Null())) for r in refs]) if refs else None
    failed: exp.Expression = exp.Is(this=_cast(expression, type_), expression=exp.Null())
    if type_ in INTEGER_TYPES:  # TRY_CAST('12.5' AS BIGINT) rounds to 13: refuse instead
        exact = exp.NEQ(this=_cast(expression, "DECIMAL(38,6)"), expression=_cast(expression, type_))
        failed = exp.or_(failed, exact)
    return exp.and_(present, failed) if present is not None else exp.false()


def select_for(table_map: TableMapping, source_catalog: str) -> exp.Select:
    """SELECT every canonical column of one table, TRY_CAST, plus the `_bad` column list."""
    table = TABLES[table_map.canonical]
    projections: list[exp.Expression] = []
    bad_parts: list[exp.Expression] = []
    for column, type_ in table.columns:
        mapped = table_map.columns[column]
        if mapped is None:
            projections.append(exp.alias_(exp.cast(exp.Null(), type_), column, quoted=True))
            continue
        source = _qualified(mapped)
        projections.append(exp.alias_(_cast(source, type_), column, quoted=True))
        if type_ != "VARCHAR":  # any value casts to text
            bad_parts.append(exp.Case().when(_bad_condition(source, type_), exp.Literal.string(column)))
    # Anonymous: sqlglot would otherwise rewrite concat_ws with NULL guards we don't want.
    bad = exp.Anonymous(this="concat_ws", expressions=[exp.Literal.string(","), *bad_parts]) if bad_parts else exp.Null()
    projections.append(exp.alias_(exp.func("nullif", bad, exp.Literal.string("")), "_bad"))
    source_table = exp.Table(
        this=exp.to_identifier(table_map.source, quoted=True),
        catalog=exp.to_identifier(source_catalog, quoted=True),
        alias=exp.TableAlias(this=exp.to_identifier(SRC)),
    )
    return exp.select(*projections).from_(source_table)


def _date_filter(table_map: TableMapping, process_date: dt.date) -> exp.Expression:
    """The business date decides; rows whose date is missing or unreadable come along to be rejected."""
    mapped = table_map.columns["date"]
    assert mapped is not None  # required by the mapping loader
    date = _cast(_qualified(mapped), "DATE")
    day = exp.cast(exp.Literal.string(process_date.isoformat()), "DATE")
    return exp.or_(exp.EQ(this=date, expression=day), exp.Is(this=date.copy(), expression=exp.Null()))


def voucher_select(mapping: Mapping, catalog: str, process_date: dt.date) -> exp.Select:
    return select_for(mapping.tables["vouchers"], catalog).where(_date_filter(mapping.tables["vouchers"], process_date))


def child_select(mapping: Mapping, table: str, catalog: str, register: str) -> exp.Select:
    """Lines or payments of the staged headers, plus orphans (no header at the register at all)."""
    child = select_for(mapping.tables[table], catalog).subquery("c")
    headers = mapping.tables["vouchers"]
    keys = ("voucher_code", "number")
    header_keys = exp.select(
        *[exp.alias_(_cast(_qualified(headers.columns[k]), TABLES["vouchers"].type_of(k)), k)  # type: ignore[arg-type]
          for k in keys]
    ).from_(exp.Table(this=exp.to_identifier(headers.source, quoted=True),
                      catalog=exp.to_identifier(catalog, quoted=True),
                      alias=exp.TableAlias(this=exp.to_identifier(SRC))))
    staged = exp.select("1").from_(exp.to_table(stage_table("vouchers")).as_("s")).where(
        exp.EQ(this=exp.column("register", "s"), expression=exp.Literal.string(register)),
        "s.voucher_code = c.voucher_code AND s.number = c.number",
    )
    anywhere = exp.select("1").from_(header_keys.subquery("h")).where(
        "h.voucher_code = c.voucher_code AND h.number = c.number"
    )
    return exp.select("c.*").from_(child).where(
        exp.or_(exp.Exists(this=staged), exp.Not(this=exp.Exists(this=anywhere)))
    )


def check_columns(con: duckdb.DuckDBPyConnection, catalog: str, register: str, mapping: Mapping,
                  tables: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Refuse schema drift the mapping can't absorb; return unmapped columns (FAULTS 8, 9)."""
    rows = con.execute(
        "SELECT table_name, list(column_name) FROM duckdb_columns() WHERE database_name = ? GROUP BY table_name",
        [catalog],
    ).fetchall()
    actual = {name.lower(): {c.lower(): c for c in cols} for name, cols in rows}
    unmapped: dict[str, tuple[str, ...]] = {}
    for table in tables:
        tm = mapping.tables[table]
        present = actual.get(tm.source.lower())
        if present is None:
            raise PosyncError(
                f"register {register}: table {tm.source} missing (mapping {mapping.file}, "
                f"{mapping.json_path(table)}.source); the register's schema does not match its mapping."
            )
        for column, canonical in tm.source_columns().items():
            if column.lower() not in present:
                raise PosyncError(
                    f"register {register}: {tm.source}.{column} missing, needed for {table}.{canonical} "
                    f"(mapping {mapping.file}, {mapping.json_path(table, canonical)})."
                )
        used = {c.lower() for c in tm.source_columns()}
        extra = tuple(sorted(c for low, c in present.items() if low not in used))
        if extra:
            unmapped[table] = extra
    return unmapped


def _stream_into(con: duckdb.DuckDBPyConnection, query: exp.Expression, table: str, register: str) -> int:
    """Run the extraction on a cursor and stream its Arrow batches into the temp staging table."""
    cursor = con.cursor()
    try:
        reader = cursor.execute(query.sql("duckdb")).to_arrow_reader(BATCH_ROWS)  # noqa: F841 (scanned by name)
        before = con.execute(f"SELECT count(*) FROM {stage_table(table)}").fetchone()[0]  # type: ignore[index]
        con.execute(f"INSERT INTO {stage_table(table)} SELECT ?, * FROM reader", [register])
        after = con.execute(f"SELECT count(*) FROM {stage_table(table)}").fetchone()[0]  # type: ignore[index]
    finally:
        cursor.close()
    return int(after - before)


def extract_vouchers(con: duckdb.DuckDBPyConnection, snapshot: Snapshot, mapping: Mapping,
                     process_date: dt.date, alias: str) -> Extracted:
    """Attach the staged copy, check its schema, and stage that date's vouchers, lines and payments."""
    register = snapshot.register
    checkpoint("attach")
    try:
        load_extension(con, snapshot.engine.extension)
        if snapshot.engine.name == "sqlite":  # SQLite types are advisory: read text, cast it ourselves
            con.execute("SET GLOBAL sqlite_all_varchar = true")
        attach(con, snapshot.target, alias, snapshot.engine, read_only=True)
    except duckdb.Error as err:
        raise PosyncError(f"register {register}: cannot open the database ({_first_line(err)}).") from None
    try:
        tables = ("voucher_types", *VOUCHER_TABLES) if "voucher_types" in mapping.tables else VOUCHER_TABLES
        unmapped = check_columns(con, alias, register, mapping, tables)
        checkpoint("extract")
        counts: dict[str, int] = {}
        try:
            if "voucher_types" in mapping.tables:
                counts["voucher_types"] = _stream_into(
                    con, select_for(mapping.tables["voucher_types"], alias), "voucher_types", register
                )
            counts["vouchers"] = _stream_into(con, voucher_select(mapping, alias, process_date), "vouchers", register)
            for table in ("voucher_lines", "payments"):
                counts[table] = _stream_into(con, child_select(mapping, table, alias, register), table, register)
        except duckdb.Error as err:
            raise PosyncError(
                f"register {register}: reading it through mapping {mapping.file} failed ({_first_line(err)})."
            ) from None
        return Extracted(register, counts, unmapped)
    finally:
        detach(con, alias)


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__


def discard(con: duckdb.DuckDBPyConnection, register: str, tables: tuple[str, ...]) -> None:
    """Drop whatever one register staged (after it failed half-way)."""
    for table in tables:
        con.execute(f"DELETE FROM {stage_table(table)} WHERE register = ?", [register])

