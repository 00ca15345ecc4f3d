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


INTEGERS = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT")
# (source type, canonical type) pairs whose cast can never fail or lose anything.
_WIDENING = {("INTEGER", "BIGINT"), ("SMALLINT", "BIGINT"), ("TINYINT", "BIGINT"), ("SMALLINT", "INTEGER"),
             ("TINYINT", "INTEGER"), ("DATE", "TIMESTAMP")}


def _cast_can_fail(source_type: str | None, type_: str) -> bool:
    """Whether a plain column of source_type may fail (or round) casting to type_.

    >>> _cast_can_fail("DECIMAL(18,2)", "DECIMAL(18,2)"), _cast_can_fail("DOUBLE", "DECIMAL(18,2)")
    (False, True)
    """
    if source_type is None:
        return True
    source = source_type.upper().replace(" ", "")
    return source != type_.replace(" ", "") and (source, type_) not in _WIDENING


def _bad_condition(expression: exp.Expression, type_: str, source_type: str | None) -> exp.Expression:
    """True when the source had a value but it did not cast (or lost digits casting to an integer)."""
    refs = [c for c in expression.find_all(exp.Column)]
    present = exp.or_(*[exp.Not(this=exp.Is(this=r.copy(), expression=exp.Null())) for r in refs]) if refs else None
    failed: exp.Expression = exp.Is(this=_cast(expression, type_), expression=exp.Null())
    if type_ in INTEGER_TYPES and (source_type or "").upper() not in INTEGERS:
        # TRY_CAST('12.5' AS BIGINT) rounds to 13: refuse instead
        exact = exp.NEQ(this=_cast(expression, "DOUBLE"), expression=_cast(expression, type_))
        failed = exp.or_(failed, exact)
    return exp.and_(present, failed) if present is not None else exp.false()


def _fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _not_utf8(value: exp.Expression) -> exp.Expression:
    """True for text whose bytes are not valid UTF-8 (a SQLite register may hold cp1252 bytes)."""
    return exp.and_(exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())),
                    exp.Is(this=_fn("try", _fn("decode", _fn("encode", value.copy()))), expression=exp.Null()))


def _hex_sample(value: exp.Expression) -> exp.Expression:
    """What a rejected non-UTF-8 value is staged as: its bytes in hex, for the report's samples."""
    hex_digits = _fn("left", _fn("hex", value.copy()), exp.Literal.number(64))
    return _fn("concat", exp.Literal.string("not UTF-8: x'"), hex_digits, exp.Literal.string("'"))


def select_for(table_map: TableMapping, source_catalog: str, types: dict[str, str] | None = None,
               check_text: bool = False) -> exp.Select:
    """SELECT every canonical column of one table, TRY_CAST, plus the `_bad` column list.

    types (source column, lower case → DuckDB type) lets plain columns whose cast cannot fail
    skip the `_bad` test: that test is most of the extraction's cost on typed registers.
    check_text also tests text columns for bytes that are not UTF-8: such a value is staged as
    its hex and its column listed in `_bad`, so check 5 rejects the row with a hex sample (FAULTS 18).
    """
    types = types or {}
    table = TABLES[table_map.canonical]
    projections: list[exp.Expression] = []
    bad_parts: list[exp.Expression] = []
    for column, type_ in table.columns:
        mapped = table_map.columns[column]
        if mapped is None:
            projections.append(exp.alias_(exp.cast(exp.Null(), type_), column, quoted=True))
            continue
        source = _qualified(mapped)
        if check_text and type_ == "VARCHAR":
            text = _cast(source, type_)
            projections.append(exp.alias_(exp.Case().when(_not_utf8(text), _hex_sample(text)).else_(text.copy()),
                                          column, quoted=True))
            bad_parts.append(exp.Case().when(_not_utf8(text), exp.Literal.string(column)))
            continue
        projections.append(exp.alias_(_cast(source, type_), column, quoted=True))
        source_type = types.get(mapped.name.lower()) if isinstance(mapped, exp.Column) else None
        if type_ != "VARCHAR" and _cast_can_fail(source_type, type_):  # any value casts to text
            bad_parts.append(exp.Case().when(_bad_condition(source, type_, source_type), exp.Literal.string(column)))
    # Anonymous: sqlglot would otherwise rewrite concat_ws with NULL guards we don't want.
    bad = (exp.Anonymous(this="concat_ws", expressions=[exp.Literal.string(","), *bad_parts])
           if bad_parts else exp.Null())
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


def voucher_select(mapping: Mapping, catalog: str, process_date: dt.date, types: SourceTypes,
                   check_text: bool = False) -> exp.Select:
    headers = mapping.tables["vouchers"]
    return select_for(headers, catalog, types.get("vouchers"), check_text).where(_date_filter(headers, process_date))


def child_select(mapping: Mapping, table: str, catalog: str, process_date: dt.date,
                 types: SourceTypes, check_text: bool = False) -> exp.Select:
    """Lines or payments of that date's headers, plus orphans (no header at the register at all).

    One pass over the header table: its keys, grouped, with whether any header of that key is
    in the batch; lines join to it, and a line with no header anywhere comes along to be rejected.
    """
    child = select_for(mapping.tables[table], catalog, types.get(table), check_text).subquery("c")
    headers = mapping.tables["vouchers"]
    keys = [exp.alias_(_cast(_qualified(headers.columns[k]), TABLES["vouchers"].type_of(k)), k)  # type: ignore[arg-type]
            for k in ("voucher_code", "number")]
    in_batch = exp.alias_(exp.func("bool_or", _date_filter(headers, process_date)), "in_batch")
    header_keys = (
        exp.select(*keys, in_batch)
        .from_(exp.Table(this=exp.to_identifier(headers.source, quoted=True),
                         catalog=exp.to_identifier(catalog, quoted=True),
                         alias=exp.TableAlias(this=exp.to_identifier(SRC))))
        .group_by("1", "2")
    )
    return (
        exp.select("c.*").from_(child)
        .join(header_keys.subquery("h"), on="h.voucher_code = c.voucher_code AND h.number = c.number",
              join_type="left")
        .where("h.in_batch OR h.number IS NULL")
    )


SourceTypes = dict[str, dict[str, str]]  # canonical table -> source column (lower case) -> DuckDB type


def check_columns(con: duckdb.DuckDBPyConnection, catalog: str, register: str, mapping: Mapping,
                  tables: tuple[str, ...]) -> tuple[SourceTypes, dict[str, tuple[str, ...]]]:
    """Refuse schema drift the mapping can't absorb (FAULTS 9); return source types and unmapped columns (8)."""
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = ?", [catalog]
    ).fetchall()
    actual: dict[str, dict[str, tuple[str, str]]] = {}
    for table_name, column, type_ in rows:
        actual.setdefault(table_name.lower(), {})[column.lower()] = (column, type_)
    types: SourceTypes = {}
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
        types[table] = {low: type_ for low, (_, type_) in present.items()}
        used = {c.lower() for c in tm.source_columns()}
        extra = tuple(sorted(name for low, (name, _) in present.items() if low not in used))
        if extra:
            unmapped[table] = extra
    return types, unmapped


def _stream_into(con: duckdb.DuckDBPyConnection, query: exp.Expression, table: str, register: str) -> int:
    """Run the extraction on a cursor and stream its Arrow batches into the staging table."""
    cursor = con.cursor()
    try:
        con.register("extracted_batches", cursor.execute(query.sql("duckdb")).to_arrow_reader(BATCH_ROWS))
        result = con.execute(
            f"INSERT INTO {stage_table(table)} SELECT ?, * FROM extracted_batches", [register]
        ).fetchone()
    finally:
        con.unregister("extracted_batches")
        cursor.close()
    return int(result[0]) if result else 0


# Raised by the SQLite scanner when a value does not match its column's declared type.
_TYPE_ERRORS = (duckdb.TypeMismatchException, duckdb.ConversionException)


def extract_vouchers(con: duckdb.DuckDBPyConnection, snapshot: Snapshot, mapping: Mapping,
                     process_date: dt.date, alias: str) -> Extracted:
    """Attach the staged copy, check its schema, and stage that date's vouchers, lines and payments.

    A SQLite register is read with its declared types first (fast); if a value does not match
    its declared type (SQLite allows that), it is read again as text, so that posync's own
    casts can reject the offending rows with samples instead of failing the register. Text that
    is not UTF-8 (SQLite does not check) makes it read again testing every text value, so
    that only those rows are rejected, with a hex sample.
    """
    as_text = check_text = False
    while True:
        try:
            return _extract(con, snapshot, mapping, process_date, alias, as_text, check_text)
        except _TYPE_ERRORS:
            if snapshot.engine.name != "sqlite" or as_text:
                raise
            as_text = True
        except _NotUtf8:
            if check_text:
                raise PosyncError(f"register {snapshot.register}: text that is not UTF-8 could not be isolated "
                                  f"reading it through mapping {mapping.file}.") from None
            check_text = True
        discard(con, snapshot.register, STAGED_TABLES)


STAGED_TABLES = ("voucher_types", *VOUCHER_TABLES)


class _NotUtf8(Exception):
    """DuckDB met text that is not UTF-8 while staging a register's rows."""


def _extract(con: duckdb.DuckDBPyConnection, snapshot: Snapshot, mapping: Mapping, process_date: dt.date,
             alias: str, as_text: bool, check_text: bool = False) -> Extracted:
    register = snapshot.register
    checkpoint("attach")
    try:
        load_extension(con, snapshot.engine.extension)
        if snapshot.engine.name == "sqlite":  # must be set before ATTACH: column types bind there
            con.execute(f"SET GLOBAL sqlite_all_varchar = {'true' if as_text else 'false'}")
        attach(con, snapshot.target, alias, snapshot.engine, read_only=True)
    except duckdb.Error as err:
        raise PosyncError(f"register {register}: cannot open the database ({_first_line(err)}).") from None
    try:
        tables = STAGED_TABLES if "voucher_types" in mapping.tables else VOUCHER_TABLES
        types, unmapped = check_columns(con, alias, register, mapping, tables)
        checkpoint("extract")
        counts: dict[str, int] = {}
        try:
            if "voucher_types" in mapping.tables:
                query = select_for(mapping.tables["voucher_types"], alias, types.get("voucher_types"), check_text)
                counts["voucher_types"] = _stream_into(con, query, "voucher_types", register)
            counts["vouchers"] = _stream_into(
                con, voucher_select(mapping, alias, process_date, types, check_text), "vouchers", register
            )
            for table in ("voucher_lines", "payments"):
                query = child_select(mapping, table, alias, process_date, types, check_text)
                counts[table] = _stream_into(con, query, table, register)
        except _TYPE_ERRORS:
            raise
        except duckdb.InvalidInputException as err:
            if "invalid unicode" in str(err).lower():
                raise _NotUtf8(str(err)) from None
            raise PosyncError(
                f"register {register}: reading it through mapping {mapping.file} failed ({_first_line(err)})."
            ) from None
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
