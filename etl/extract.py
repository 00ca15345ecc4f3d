"""A register's rows, read through its mapping and cast strictly, into the run's staging tables.

etl.registers delivers a register table's own columns; here each canonical column is computed
from them (a plain column, or the mapping's expression over them) and cast to its canonical type
by etl.casts' strict rules. A value that does not cast is never coerced: its column, the
register's own text and the reason go into the row's `_bad` list, so check 5 holds the row back
and the report shows what the register holds (FAULTS 10, 17, 18, 52).

Voucher codes are compared trimmed and case-insensitively (FAULTS 48): main stores them as the
register wrote them, trimmed and in upper case ('fv1 ' is FV1).

The day of an import. SQLite runs the date filter and the header join itself, so only the
day's rows cross over: the filter is the set of the register's own date values that posync's
strict cast puts on the process date (or can't read), found with one DISTINCT scan. Lines and
payments come with their header. Lines whose header the register does not have come along as
orphans (check 4) when their number lies in the day's numbering window: after the last number
of that code the register has before the day's first, and before the first one after the day's
last. Registers read in place of SQLite's pushdown (DuckDB files, PostgreSQL, mappings whose
date or keys are expressions) get the same rows, decided in DuckDB.

A range reads a register's dates in chunks: one SQLite query per table runs the single-date query
for each date of the chunk and tags each row with its date, so a small day costs a few DuckDB
statements instead of a round of reads (measured: a 7-date catch-up 3.3x faster than 7 imports).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
from sqlglot import exp

from etl import casts
from etl.errors import PosyncError
from etl.faults import checkpoint
from etl.i18n import Said
from etl.mapping import TableMapping
from etl.registers import DATED, DISTINCT_LIMIT, Register, Source, SqliteReader, first_line, quoted
from etl.schema import CODE_COLUMNS, TABLES, VOUCHER_TABLES
from etl.sqltemplate import fill
from etl.store import quote

READ_RULES = "2"  # part of a snapshot's identity: bump when a change to reading or casting changes what is staged
STAGE = "stage"  # an in-memory database (not `temp`): the extraction cursors must see it too
SRC = "src"
BAD_TYPE = 'STRUCT("column" VARCHAR, "value" VARCHAR, reason VARCHAR)[]'
SAMPLE_WIDTH = 60
STAGED_TABLES = ("voucher_types", *VOUCHER_TABLES)
_NO_VALUE = {"DATE": "is not a date", "TIMESTAMP": "is not a date and time", "BOOLEAN": "is not true or false",
             "VARCHAR": "gave no text"}


@dataclass(frozen=True)
class Extracted:
    """Rows read from one register for one date, and the columns its tables have that nobody maps."""

    register: str
    counts: dict[str, int]
    unmapped: dict[str, tuple[str, ...]]


def bad_text(column: str = "_bad") -> str:
    """SQL: a row's bad values in words, e.g. "total '1.234,56' is not a number; date 'x' is not a date"."""
    return f"array_to_string(list_transform({column}, b -> b.column || ' ' || b.value || ' ' || b.reason), '; ')"


def stage_table(table: str) -> str:
    return f"{STAGE}.{table}"


def create_staging(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> None:
    """Empty staging tables (register + canonical columns + _bad) for this run."""
    attached = con.execute("SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", [STAGE]).fetchone()
    if not attached or not attached[0]:
        # Compressed like a file's row groups: a day of ten registers peaked 100 MB (a fifth) lower, in the same time
        con.execute(f"ATTACH ':memory:' AS {STAGE} (COMPRESS)")
    for table in tables:
        cols = ", ".join(f"{quote(c)} {t}" for c, t in TABLES[table].columns)
        con.execute(f"CREATE OR REPLACE TABLE {stage_table(table)} (register VARCHAR, {cols}, _bad {BAD_TYPE})")


def discard(con: duckdb.DuckDBPyConnection, register: str, tables: tuple[str, ...]) -> None:
    """Drop whatever one register staged (after it failed half-way)."""
    for table in tables:
        con.execute(f"DELETE FROM {stage_table(table)} WHERE register = ?", [register])


# --- schema: what the mapping needs is there ---------------------------------------------------------------


def check_columns(register: Register, tables: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Refuse schema drift the mapping can't absorb (FAULTS 9); return the unmapped columns (8)."""
    mapping, name = register.mapping, register.name
    present_tables = register.reader.tables()
    unmapped: dict[str, tuple[str, ...]] = {}
    for table in tables:
        tm = mapping.tables[table]
        if tm.source.lower() not in present_tables:
            raise PosyncError(Said(
                "register %(register)s: table %(table)s missing (mapping %(mapping)s, %(where)s); the register's "
                "schema does not match its mapping.", register=name, table=tm.source, mapping=mapping.file,
                where=f"{mapping.json_path(table)}.source"))
        present = register.reader.describe(present_tables[tm.source.lower()]).columns
        for column, canonical in tm.source_columns().items():
            if column.lower() not in present:
                raise PosyncError(Said(
                    "register %(register)s: %(column)s missing, needed for %(canonical)s (mapping %(mapping)s, "
                    "%(where)s).", register=name, column=f"{tm.source}.{column}", canonical=f"{table}.{canonical}",
                    mapping=mapping.file, where=mapping.json_path(table, canonical)))
        used = {c.lower() for c in tm.source_columns()}
        extra = tuple(sorted(n for low, (n, _) in present.items() if low not in used))
        if extra:
            unmapped[table] = extra
    return unmapped


# --- the canonical projection: mapping expressions and strict casts over a Source ------------------------


def _ref(name: str, table: str = SRC) -> exp.Column:
    return exp.column(quoted(name), table=exp.to_identifier(table))


def _not_null(value: exp.Expr) -> exp.Expr:
    return exp.Not(this=exp.Is(this=value, expression=exp.Null()))


def _present(name: str, source: Source) -> exp.Expr:
    """The register has a value in this column (a number, text, or bytes that are not UTF-8)."""
    column = source.column(name)
    parts = [_not_null(_ref(column.name))]
    parts += [_not_null(_ref(f"{column.name}__{what}")) for what, on in (("text", column.text), ("hex", column.hex))
              if on]
    return exp.or_(*parts)


def _shown(name: str, source: Source) -> exp.Expr:
    """The register's own value for the report: quoted text cut at SAMPLE_WIDTH, bytes not UTF-8 as x'hex'."""
    column = source.column(name)
    value: exp.Expr = exp.cast(_ref(column.name), "VARCHAR")
    if column.text:
        value = exp.func("coalesce", _ref(f"{column.name}__text"), value)
    shown = fill(f"'''' || CASE WHEN length(__v__) > {SAMPLE_WIDTH} THEN left(__v__, {SAMPLE_WIDTH - 1}) || '…' "
                 "ELSE __v__ END || ''''", v=value)
    if column.hex:
        shown = fill("coalesce('x''' || left(__h__, 64) || '''', __s__)", h=_ref(f"{column.name}__hex"), s=shown)
    return shown


@dataclass(frozen=True)
class _Cast:
    value: exp.Expr  # the canonical value (meaningful only where reason is NULL)
    reason: exp.Expr  # why the register's value is bad, or NULL
    shown: exp.Expr  # the register's own text, for the report


def _not_utf8(reason: exp.Expr, names: Sequence[str], source: Source) -> exp.Expr:
    for name in names:
        column = source.column(name)
        if column.hex:
            reason = exp.Case().when(_not_null(_ref(f"{column.name}__hex")),
                                     exp.Literal.string("is not UTF-8")).else_(reason)
    return reason


def _plain(name: str, source: Source, target: str) -> _Cast:
    column = source.column(name)
    value, reason = casts.strict(_ref(column.name), column.type, target)
    if column.text:  # text stored in a numeric column: judged as text
        text = _ref(f"{column.name}__text")
        text_value, text_reason = casts.strict(text, "VARCHAR", target)
        value = exp.Case().when(_not_null(text.copy()), text_value).else_(value)
        reason = exp.Case().when(_not_null(text.copy()), text_reason).else_(reason)
    return _Cast(value, _not_utf8(reason, [name], source), _shown(name, source))


def _over_source(mapped: exp.Expr, source: Source) -> exp.Expr:
    tree = mapped.copy()
    for column in list(tree.find_all(exp.Column)):
        column.replace(_ref(source.column(column.name).name))
    return tree


def _expression(mapped: exp.Expr, source: Source, target: str, source_type: str) -> _Cast:
    """A mapping expression over the register's columns, cast strictly; NULL from present input is bad."""
    names = list(dict.fromkeys(c.name for c in mapped.find_all(exp.Column)))
    tree = _over_source(mapped, source)
    value, reason = casts.strict(tree, source_type, target)
    if names:
        no_value = _NO_VALUE.get(target, "is not a whole number" if target in casts.INTEGERS else "is not a number")
        missing = exp.and_(exp.Is(this=tree.copy(), expression=exp.Null()),
                           exp.or_(*[_present(n, source) for n in names]))
        reason = exp.Case().when(missing, exp.Literal.string(no_value)).else_(reason)
    parts = [fill("__n__ || '=' || coalesce(__v__, 'NULL')", n=exp.Literal.string(n), v=_shown(n, source))
             for n in names]
    shown = exp.Anonymous(this="concat_ws", expressions=[exp.Literal.string(", "), *parts]) if parts \
        else exp.Literal.string("")
    return _Cast(value, _not_utf8(reason, names, source), shown)


def _expression_types(con: duckdb.DuckDBPyConnection, table_map: TableMapping, source: Source) -> dict[str, str]:
    """The DuckDB type each expression column gives, asked of DuckDB without reading a row."""
    projections = [exp.alias_(_over_source(e, source), c, quoted=True) for c, e in table_map.columns.items()
                   if e is not None and not isinstance(e, exp.Column)]
    if not projections:
        return {}
    query = exp.select(*projections).from_(exp.to_table(source.relation).as_(SRC))
    try:
        described = con.execute(f"DESCRIBE {query.sql('duckdb')}").fetchall()
    except duckdb.Error as err:
        raise PosyncError(Said("a mapping expression on %(table)s does not run on this register (%(why)s).",
                               table=table_map.source, why=first_line(err))) from None
    return {row[0]: row[1] for row in described}


def canonical_select(con: duckdb.DuckDBPyConnection, table_map: TableMapping, source: Source,
                     keep: Sequence[str] = ()) -> exp.Select:
    """Every canonical column of one table, strictly cast, plus `_bad`; `keep` source columns pass through.

    Two levels: the inner query computes each value and the reason it is bad; the outer keeps the
    value only where there is no reason, and lists the reasons with the register's own text.
    """
    expression_types = _expression_types(con, table_map, source)
    inner: list[exp.Expr] = [exp.Star()]
    outer: list[exp.Expr] = []
    bad: list[exp.Expr] = []
    whys: list[str] = []
    for column, target in TABLES[table_map.canonical].columns:
        mapped = table_map.columns[column]
        if mapped is None:
            outer.append(exp.alias_(exp.cast(exp.Null(), target), column, quoted=True))
            continue
        cast = (_plain(mapped.name, source, target) if isinstance(mapped, exp.Column)
                else _expression(mapped, source, target, expression_types[column]))
        inner += [exp.alias_(cast.value, f"__value_{column}", quoted=True),
                  exp.alias_(cast.reason, f"__why_{column}", quoted=True)]
        value: exp.Expr = _ref(f"__value_{column}", "i")
        reason = _ref(f"__why_{column}", "i")
        whys.append(column)
        if (table_map.canonical, column) in CODE_COLUMNS:
            value = fill("nullif(upper(trim(__v__)), '')", v=value)
        outer.append(exp.alias_(exp.Case().when(exp.Is(this=reason, expression=exp.Null()), value), column,
                                quoted=True))
        shown = cast.shown.transform(lambda n: _ref(n.name, "i") if isinstance(n, exp.Column) and n.table == SRC
                                     else n)
        bad.append(fill("CASE WHEN __r__ IS NOT NULL THEN {'column': __c__, 'value': __s__, 'reason': __r__} END",
                        r=reason.copy(), c=exp.Literal.string(column), s=shown))
    # The list is built only for a row with a reason: building one for every row just to count it was about
    # a fifth of staging a register's lines (measured on the bench's 7-day registers).
    any_bad = exp.or_(*[exp.not_(exp.Is(this=_ref(f"__why_{c}", "i"), expression=exp.Null())) for c in whys]) \
        if whys else exp.false()
    outer.append(exp.alias_(exp.Case().when(any_bad, fill("list_filter(__l__, x -> x IS NOT NULL)",
                                                          l=exp.Array(expressions=bad))), "_bad"))
    outer += [exp.alias_(_ref(k, "i"), f"__keep_{k}", quoted=True) for k in keep]
    inner_select = exp.select(*inner).from_(exp.to_table(source.relation).as_(SRC))
    return exp.select(*outer).from_(inner_select.subquery("i"))


_SOURCE = "posync_source_rows"  # stands for a read's relation in cached SQL
_CANONICAL: dict[tuple[Any, ...], str] = {}


def canonical_sql(con: duckdb.DuckDBPyConnection, table_map: TableMapping, source: Source,
                  keep: Sequence[str] = ()) -> str:
    """canonical_select as DuckDB SQL text, built once per mapping, table and shape of the rows read.

    Building the projection with sqlglot costs more than running it on a day's rows; every register
    read through one mapping, and every date of a range, has the same shape, so the text is reused with
    only the relation's name swapped.
    """
    key = (table_map.canonical, table_map.source,
           tuple((c, e.sql() if e is not None else None) for c, e in table_map.columns.items()),
           tuple(sorted((k, c.name, c.type, c.text, c.hex) for k, c in source.columns.items())), tuple(keep))
    text = _CANONICAL.get(key)  # one lookup: a sync cycle's copying thread builds its own shapes meanwhile
    if text is None:
        if len(_CANONICAL) > 512:  # a long-lived process (watch, console) meeting many shapes: start afresh
            _CANONICAL.clear()
        shape = Source(_SOURCE, source.columns)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {_SOURCE} AS SELECT * FROM {source.relation} LIMIT 0")
        try:
            text = _CANONICAL[key] = canonical_select(con, table_map, shape, keep).sql("duckdb")
        finally:
            con.execute(f"DROP VIEW IF EXISTS {_SOURCE}")
    return text.replace(_SOURCE, source.relation)


# --- reading a table: whole, or the day -------------------------------------------------------------------


def _numbers(table_map: TableMapping) -> dict[str, str]:
    """How source columns must arrive: 'integer' or 'real' for plain columns of integer or decimal canonical
    columns; 'date' (registers.DATED) for plain columns of date or time canonical columns that no mapping
    expression reads, which posync casts from their text whatever the register stored."""
    out: dict[str, str] = {}
    for canonical, target in TABLES[table_map.canonical].columns:
        plain = table_map.plain_column(canonical)
        if plain is not None and target in casts.INTEGERS:
            out.setdefault(plain.lower(), "integer")
        elif plain is not None and casts.decimal_of(target):
            out.setdefault(plain.lower(), "real")
    in_expressions = {c.name.lower() for e in table_map.columns.values() if e is not None
                      and not isinstance(e, exp.Column) for c in e.find_all(exp.Column)}
    for canonical, target in TABLES[table_map.canonical].columns:
        plain = table_map.plain_column(canonical)
        if plain is not None and target in ("DATE", "TIMESTAMP") and plain.lower() not in in_expressions:
            out.setdefault(plain.lower(), DATED)
    return out


def _source_table(register: Register, source_table: str) -> exp.Table:
    return register.table(register.reader.tables().get(source_table.lower(), source_table))


def _source_columns(register: Register, table_map: TableMapping, columns: Sequence[str] | None = None,
                    alias: str = SRC) -> list[exp.Expr]:
    """The register columns a mapping reads (or `columns`), spelled as the register declares them."""
    declared = register.reader.tables().get(table_map.source.lower(), table_map.source)
    present = register.reader.describe(declared).columns
    wanted = columns if columns is not None else list(table_map.source_columns())
    return [exp.column(quoted(present[c][0]), table=exp.to_identifier(alias))
            for c in dict.fromkeys(c.lower() for c in wanted)]


def _source_select(register: Register, table_map: TableMapping, columns: Sequence[str] | None = None) -> exp.Select:
    table = exp.alias_(_source_table(register, table_map.source), SRC, table=True)
    return exp.select(*_source_columns(register, table_map, columns)).from_(table)


def _insert(con: duckdb.DuckDBPyConnection, register: str, table: str, query: exp.Expr | str,
            where: str = "", params: Sequence[Any] = ()) -> int:
    """INSERT the canonical rows of a query into the staging table (where: over its alias `c`)."""
    names = [quote(c) for c in (*TABLES[table].column_names, "_bad")]
    text = query if isinstance(query, str) else query.sql("duckdb")
    sql = (f"INSERT INTO {stage_table(table)} (register, {', '.join(names)}) "
           f"SELECT ?, {', '.join(f'c.{n}' for n in names)} FROM ({text}) c {where}")
    try:
        row = con.execute(sql, [register, *params]).fetchone()
    except duckdb.Error as err:
        raise _reading_failed(register, table, err) from None
    return int(row[0]) if row else 0


def _reading_failed(register: str, table: str, err: duckdb.Error) -> PosyncError:
    return PosyncError(Said("register %(register)s: reading %(source)s failed (%(why)s).", register=register,
                            source=table, why=first_line(err)))


def read_whole(con: duckdb.DuckDBPyConnection, register: Register, table: str) -> exp.Select:
    """A canonical table as a SELECT over what the register holds (a catalog, for the push's diff)."""
    table_map = register.mapping.tables[table]
    source = register.read(con, _source_select(register, table_map), table_map.source, _numbers(table_map))
    return canonical_select(con, table_map, source)


def stage_whole(con: duckdb.DuckDBPyConnection, register: Register, table: str) -> int:
    """Stage a whole canonical table (voucher types, loyalty movements, rules)."""
    table_map = register.mapping.tables[table]
    source = register.read(con, _source_select(register, table_map), table_map.source, _numbers(table_map))
    return _insert(con, register.name, table, canonical_sql(con, table_map, source))


# --- the day -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayFilter:
    """What SQLite is told to keep of the header table: `<date column> IN (values)` [OR it is NULL]."""

    column: str
    values: tuple[Any, ...]
    nulls: bool

    def condition(self, alias: str) -> exp.Expr:
        column = exp.column(quoted(self.column), table=exp.to_identifier(alias))
        parts: list[exp.Expr] = []
        if self.values:
            parts.append(exp.In(this=column, expressions=[exp.Placeholder() for _ in self.values]))
        if self.nulls:
            parts.append(exp.Is(this=column.copy(), expression=exp.Null()))
        return exp.or_(*parts) if parts else exp.false()


def day_filter(con: duckdb.DuckDBPyConnection, register: Register, day: dt.date) -> DayFilter | None:
    """The register's own date values that posync puts on the day (or can't read), for SQLite to filter by.

    None when the filter can't be pushed: not SQLite, a date from several columns, too many distinct
    values, or bytes that are not UTF-8 (a text parameter could not match them). The distinct values are
    read once per open register and serve every date of a range.
    """
    found = _memo_day_values(con, register)
    if found is None:
        return None
    name, rows = found
    values: list[Any] = []
    nulls = False
    for value, text, date, _ in rows:
        if date is not None and date != day:
            continue
        if _is_null(value, text):
            nulls = True
        else:
            values.append(_param(value, text))
    return DayFilter(name, tuple(values), nulls)


# (date column, [(raw value, its text when stored as text in a numeric column, posync's date, header rows)])
DayValues = tuple[str, list[tuple[Any, Any, "dt.date | None", int]]]
_ROWS = "__posync_rows"


def _memo_day_values(con: duckdb.DuckDBPyConnection, register: Register) -> DayValues | None:
    if "day_values" not in register.memo:
        register.memo["day_values"] = _day_values(con, register)
    found: DayValues | None = register.memo["day_values"]
    return found


def _is_null(value: Any, text: Any) -> bool:
    return text is None and value is None


def _param(value: Any, text: Any) -> Any:
    """What SQLite is given to match a raw date value: its text when a numeric column stored text."""
    return text if text is not None else value


def _day_values(con: duckdb.DuckDBPyConnection, register: Register) -> DayValues | None:
    """The register's distinct date values: (column, [(value, its text, the date posync reads in it, rows)])."""
    headers = register.mapping.tables["vouchers"]
    mapped = headers.columns["date"]
    assert mapped is not None  # required by the mapping loader
    names = {c.name.lower() for c in mapped.find_all(exp.Column)}
    if len(names) != 1 or not isinstance(register.reader, SqliteReader):
        return None
    grouped = _source_select(register, headers, list(names))
    grouped = grouped.select(exp.alias_(exp.Count(this=exp.Star()), _ROWS, quoted=True)) \
        .group_by(grouped.selects[0].copy()).limit(DISTINCT_LIMIT + 1)
    (name,) = names
    source = register.read(con, grouped, headers.source, {k: v for k, v in _numbers(headers).items() if k == name})
    column = source.column(name)
    count = con.execute(f"SELECT count(*) FROM {source.relation}").fetchone()
    if not count or count[0] > DISTINCT_LIMIT:
        return None
    only_date = TableMapping("vouchers", headers.source,
                             {c: (mapped if c == "date" else None) for c in TABLES["vouchers"].column_names})
    select = canonical_sql(con, only_date, source, keep=[column.name, *[
        f"{column.name}__{w}" for w, on in (("text", column.text), ("hex", column.hex)) if on], _ROWS])
    rows = con.execute(f"SELECT * FROM ({select})").to_arrow_table()
    if column.hex and rows.column(f"__keep_{column.name}__hex").null_count < rows.num_rows:
        return None
    if len(register.memo.get("dates", ())) > 1 and isinstance(register.reader, SqliteReader):
        # a range: index the copy once; each date then reads only its rows
        register.reader.index(register.reader.tables()[headers.source.lower()], column.name)
    texts = rows.column(f"__keep_{column.name}__text").to_pylist() if column.text else [None] * rows.num_rows
    return column.name, list(zip(rows.column(f"__keep_{column.name}").to_pylist(), texts,
                                 rows.column("date").to_pylist(), rows.column(f"__keep_{_ROWS}").to_pylist(),
                                 strict=True))


def _stage_headers(con: duckdb.DuckDBPyConnection, register: Register, day: dt.date,
                   pushed: DayFilter | None) -> int:
    headers = register.mapping.tables["vouchers"]
    key = ("headers", len(pushed.values), pushed.nulls) if pushed is not None else ("headers",)
    if key not in register.memo:  # the same query serves every date of a range
        select = _source_select(register, headers)
        register.memo[key] = select.where(pushed.condition(SRC)) if pushed is not None else select
    query: exp.Select = register.memo[key]
    params = pushed.values if pushed is not None else ()
    source = register.read(con, query, headers.source, _numbers(headers), params)
    return _insert(con, register.name, "vouchers", canonical_sql(con, headers, source),
                   "WHERE c.date = ? OR c.date IS NULL", [day])


# The orphan window as index ranges on the child's (code, number): one branch per kind of window, since
# `(a IS NULL OR number > a)` would make SQLite scan the code's whole history (measured 17x slower on a
# year-long register). -1e999 is -Inf: below every number, text and blob, as an absent bound is.
_PUSHED_CHILDREN = """
WITH day AS MATERIALIZED (SELECT h.__hk__ AS c, h.__hn__ AS n FROM __header__ AS h WHERE __day__),
w AS MATERIALIZED (
  SELECT d.c, (SELECT max(x.__hn__) FROM __header__ AS x WHERE x.__hk__ = d.c AND x.__hn__ < d.lo) AS a,
              (SELECT min(x.__hn__) FROM __header__ AS x WHERE x.__hk__ = d.c AND x.__hn__ > d.hi) AS b
  FROM (SELECT c, min(n) AS lo, max(n) AS hi FROM day GROUP BY c) AS d)
SELECT __cols__, 0 AS __orphan FROM __child__ AS src WHERE (src.__ck__, src.__cn__) IN (SELECT c, n FROM day)
UNION ALL
SELECT __cols__, 1 AS __orphan FROM w CROSS JOIN __child__ AS src
WHERE src.__ck__ = w.c AND src.__cn__ > coalesce(w.a, -1e999) AND src.__cn__ < w.b AND w.b IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM __header__ AS v WHERE v.__hk__ = src.__ck__ AND v.__hn__ = src.__cn__)
UNION ALL
SELECT __cols__, 1 AS __orphan FROM w CROSS JOIN __child__ AS src
WHERE src.__ck__ = w.c AND src.__cn__ > coalesce(w.a, -1e999) AND w.b IS NULL
  AND NOT EXISTS (SELECT 1 FROM __header__ AS v WHERE v.__hk__ = src.__ck__ AND v.__hn__ = src.__cn__)
UNION ALL
SELECT __cols__, 1 AS __orphan FROM w CROSS JOIN __child__ AS src
WHERE src.__ck__ = w.c AND src.__cn__ IS NULL AND w.a IS NULL AND w.b IS NULL
"""
# CROSS JOIN: SQLite keeps `w` (a few rows per code) as the outer loop. With a plain JOIN, SQLite 3.53 (the
# ADBC driver's) scans the whole child table for the last branch, 10x the cost of the day's own rows.

# The same rows decided in DuckDB over canonical keys: `headers` holds every header key the register has.
_CHILDREN_IN_DUCKDB = """
SELECT c.* FROM __child__ AS c
WHERE (c.voucher_code, c.number) IN (SELECT voucher_code, number FROM __day__ AS s WHERE s.register = __register__)
   OR (NOT EXISTS (SELECT 1 FROM __headers__ AS h WHERE h.voucher_code = c.voucher_code AND h.number = c.number)
       AND EXISTS (SELECT 1 FROM (
             SELECT d.voucher_code AS code,
                    (SELECT max(x.number) FROM __headers__ AS x WHERE x.voucher_code = d.voucher_code
                       AND x.number < d.lo) AS a,
                    (SELECT min(x.number) FROM __headers__ AS x WHERE x.voucher_code = d.voucher_code
                       AND x.number > d.hi) AS b
             FROM (SELECT voucher_code, min(number) AS lo, max(number) AS hi FROM __day__ AS s
                   WHERE s.register = __register__ GROUP BY voucher_code) AS d) AS w
           WHERE w.code = c.voucher_code AND (w.a IS NULL OR c.number > w.a) AND (w.b IS NULL OR c.number < w.b)))
"""


def _plain_keys(table_map: TableMapping) -> tuple[str, str] | None:
    code, number = table_map.plain_column("voucher_code"), table_map.plain_column("number")
    return (code, number) if code and number else None


def _pushed_children(register: Register, table: str,
                     pushed: DayFilter) -> tuple[exp.Query, tuple[Any, ...]] | None:
    """Lines or payments of the day's headers, plus orphans in the day's window: one SQLite query."""
    child, headers = register.mapping.tables[table], register.mapping.tables["vouchers"]
    child_keys, header_keys = _plain_keys(child), _plain_keys(headers)
    if child_keys is None or header_keys is None:
        return None
    key = ("children", table, len(pushed.values), pushed.nulls)  # the same query serves every date of a range
    if key not in register.memo:
        register.memo[key] = fill(
            _PUSHED_CHILDREN, dialect="sqlite", cols=_source_columns(register, child),
            child=_source_table(register, child.source), header=_source_table(register, headers.source),
            ck=quoted(child_keys[0]), cn=quoted(child_keys[1]), hk=quoted(header_keys[0]), hn=quoted(header_keys[1]),
            day=pushed.condition("h"))
    return register.memo[key], pushed.values


def _header_keys(con: duckdb.DuckDBPyConnection, register: Register) -> exp.Select:
    """Every header key the register has, canonical (for deciding orphans in DuckDB)."""
    headers = register.mapping.tables["vouchers"]
    keys_only = TableMapping("vouchers", headers.source, {
        c: (headers.columns[c] if c in ("voucher_code", "number") else None) for c in TABLES["vouchers"].column_names})
    source = register.read(con, _source_select(register, keys_only), headers.source, _numbers(keys_only))
    return canonical_select(con, keys_only, source)


def _stage_children(con: duckdb.DuckDBPyConnection, register: Register, table: str,
                    pushed: DayFilter | None) -> int:
    child = register.mapping.tables[table]
    numbers = _numbers(child)
    query = _pushed_children(register, table, pushed) if pushed is not None else None
    if query is not None:
        source = register.read(con, query[0], child.source, numbers, query[1])
        return _insert(con, register.name, table, canonical_sql(con, child, source))
    source = register.read(con, _source_select(register, child), child.source, numbers)
    decided = fill(_CHILDREN_IN_DUCKDB, child=canonical_select(con, child, source).subquery(),
                   headers=_header_keys(con, register).subquery(), day=exp.to_table("stage.vouchers"),
                   register=exp.Literal.string(register.name))
    return _insert(con, register.name, table, decided)


# --- a range: a register's next dates read in one query ----------------------------------------------------

# A range reads a register's next dates together while their headers stay under this. It also bounds the date
# values bound to the chunk's query (each has at least one header) far below SQLite's 32,766 parameters.
CHUNK_HEADERS = 5_000
_D = "__posync_d"  # which date of the chunk a row is read for (an index into its dates)

# The single-date queries run for every date of the chunk inside one SQLite statement: each date `e.d`
# keeps its own filter (`IN` the values of that date, as the single-date query binds them), its own
# header keys and its own orphan window, so a row read for two dates (an undated header) comes twice.
_CHUNK_DATES = """
WITH dmap AS MATERIALIZED (SELECT column1 AS v, column2 AS d FROM __pairs__ AS x),
every AS MATERIALIZED (SELECT column1 AS d FROM __every__ AS y)
SELECT __cols__, e.d AS __posync_d FROM every AS e CROSS JOIN __header__ AS src
WHERE src.__hd__ IN (SELECT k.v FROM dmap AS k WHERE k.d = e.d) OR (__nulls__ AND src.__hd__ IS NULL)
"""
_CHUNK_CHILDREN = """
WITH dmap AS MATERIALIZED (SELECT column1 AS v, column2 AS d FROM __pairs__ AS x),
every AS MATERIALIZED (SELECT column1 AS d FROM __every__ AS y),
day AS MATERIALIZED (
  SELECT e.d AS d, h.__hk__ AS c, h.__hn__ AS n FROM every AS e CROSS JOIN __header__ AS h
  WHERE h.__hd__ IN (SELECT k.v FROM dmap AS k WHERE k.d = e.d) OR (__nulls__ AND h.__hd__ IS NULL)),
w AS MATERIALIZED (
  SELECT g.d, g.c, (SELECT max(x.__hn__) FROM __header__ AS x WHERE x.__hk__ = g.c AND x.__hn__ < g.lo) AS a,
                   (SELECT min(x.__hn__) FROM __header__ AS x WHERE x.__hk__ = g.c AND x.__hn__ > g.hi) AS b
  FROM (SELECT d, c, min(n) AS lo, max(n) AS hi FROM day GROUP BY d, c) AS g)
SELECT __cols__, 0 AS __orphan, e.d AS __posync_d FROM every AS e CROSS JOIN __child__ AS src
WHERE (src.__ck__, src.__cn__) IN (SELECT y.c, y.n FROM day AS y WHERE y.d = e.d)
UNION ALL
SELECT __cols__, 1 AS __orphan, w.d AS __posync_d FROM w CROSS JOIN __child__ AS src
WHERE src.__ck__ = w.c AND src.__cn__ > coalesce(w.a, -1e999) AND src.__cn__ < w.b AND w.b IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM __header__ AS v WHERE v.__hk__ = src.__ck__ AND v.__hn__ = src.__cn__)
UNION ALL
SELECT __cols__, 1 AS __orphan, w.d AS __posync_d FROM w CROSS JOIN __child__ AS src
WHERE src.__ck__ = w.c AND src.__cn__ > coalesce(w.a, -1e999) AND w.b IS NULL
  AND NOT EXISTS (SELECT 1 FROM __header__ AS v WHERE v.__hk__ = src.__ck__ AND v.__hn__ = src.__cn__)
UNION ALL
SELECT __cols__, 1 AS __orphan, w.d AS __posync_d FROM w CROSS JOIN __child__ AS src
WHERE src.__ck__ = w.c AND src.__cn__ IS NULL AND w.a IS NULL AND w.b IS NULL
"""


@dataclass(frozen=True)
class _Chunk:
    """A register's next dates, read together: each canonical table's rows in a DuckDB table, by date."""

    dates: tuple[dt.date, ...]
    tables: dict[str, str]


def _chunk_dates(register: Register, found: DayValues, day: dt.date) -> tuple[dt.date, ...]:
    """The register's dates from `day` on whose headers add up to at most CHUNK_HEADERS (at least `day`)."""
    rows_on: dict[dt.date | None, int] = {}
    for _, _, date, rows in found[1]:
        rows_on[date] = rows_on.get(date, 0) + rows
    chosen: list[dt.date] = []
    total = 0
    for date in (d for d in register.memo.get("dates", ()) if d >= day):
        total += rows_on.get(date, 0) + rows_on.get(None, 0)  # undated headers are read for every date
        if chosen and total > CHUNK_HEADERS:
            break
        chosen.append(date)
    return tuple(chosen) or (day,)


def _chunk_query(register: Register, template: str, dates: tuple[dt.date, ...], found: DayValues,
                 child: TableMapping | None = None) -> tuple[exp.Query, list[Any]]:
    """A chunk template filled for these dates: (query, parameters), the values bound as the single date's are."""
    headers = register.mapping.tables["vouchers"]
    name, rows = found
    pairs: list[exp.Expr] = [exp.Tuple(expressions=[exp.Null(), exp.Literal.number(-1)])]  # VALUES is never empty
    params: list[Any] = []
    nulls = False
    for value, text, date, _ in rows:
        if _is_null(value, text):
            nulls = nulls or date is None or date in dates
            continue
        for i, wanted in enumerate(dates):
            if date is None or date == wanted:
                pairs.append(exp.Tuple(expressions=[exp.Placeholder(), exp.Literal.number(i)]))
                params.append(_param(value, text))
    every = exp.Values(expressions=[exp.Tuple(expressions=[exp.Literal.number(i)]) for i in range(len(dates))])
    keys = _plain_keys(headers)
    assert keys is not None  # _chunk reads in chunks only when every table's keys are plain columns
    values: dict[str, Any] = {
        "pairs": exp.Values(expressions=pairs), "every": every, "nulls": exp.true() if nulls else exp.false(),
        "header": _source_table(register, headers.source), "hd": quoted(register.reader.describe(
            register.reader.tables()[headers.source.lower()]).columns[name.lower()][0]),
        "hk": quoted(keys[0]), "hn": quoted(keys[1]),
        "cols": _source_columns(register, child or headers)}
    if child is not None:
        child_keys = _plain_keys(child)
        assert child_keys is not None
        values |= {"child": _source_table(register, child.source), "ck": quoted(child_keys[0]),
                   "cn": quoted(child_keys[1])}
    return fill(template, dialect="sqlite", **values), params  # type: ignore[return-value]


def _read_chunk(con: duckdb.DuckDBPyConnection, register: Register, dates: tuple[dt.date, ...],
                found: DayValues) -> _Chunk:
    """Read the chunk's headers, lines and payments from SQLite once, canonical, into DuckDB tables."""
    tables: dict[str, str] = {}
    for table in VOUCHER_TABLES:
        table_map = register.mapping.tables[table]
        template, child = (_CHUNK_DATES, None) if table == "vouchers" else (_CHUNK_CHILDREN, table_map)
        query, params = _chunk_query(register, template, dates, found, child)
        source = register.read(con, query, table_map.source, _numbers(table_map), params)
        kept = f"{STAGE}.{quote(f'chunk_{next(_chunks)}_{table}')}"
        register.kept.append(kept)
        try:
            con.execute(f"CREATE TABLE {kept} AS {canonical_sql(con, table_map, source, keep=[_D])}")
        except duckdb.Error as err:
            raise _reading_failed(register.name, table, err) from None
        tables[table] = kept
    register.release(con)  # the rows are in the chunk's tables: drop what was read
    return _Chunk(dates, tables)


def _chunk(con: duckdb.DuckDBPyConnection, register: Register, day: dt.date) -> _Chunk | None:
    """The chunk holding `day`, read now if need be; None when the day is read alone.

    A range reads its dates in chunks when SQLite filters the dates and the lines and payments come
    with their headers (the pushed queries): one query per table for several dates, instead of one
    per date, which is most of what a small day costs.
    """
    held: _Chunk | None = register.memo.get("chunk")
    if held is not None and day in held.dates:
        return held
    if held is not None:  # its dates are staged: drop its rows
        register.drop_kept(con, held.tables.values())
        register.memo.pop("chunk")
    found = _memo_day_values(con, register)
    tables = register.mapping.tables
    if (found is None or len(register.memo.get("dates", ())) < 2
            or any(_plain_keys(tables[t]) is None for t in VOUCHER_TABLES)):
        return None
    dates = _chunk_dates(register, found, day)
    if len(dates) < 2:
        return None
    register.memo["chunk"] = chunk = _read_chunk(con, register, dates, found)
    return chunk


def _stage_from_chunk(con: duckdb.DuckDBPyConnection, register: Register, chunk: _Chunk,
                      day: dt.date) -> dict[str, int]:
    """Stage one date's rows out of its chunk, as the single-date read would have staged them."""
    index = chunk.dates.index(day)
    counts = {}
    for table in VOUCHER_TABLES:
        where = "WHERE c.date = ? OR c.date IS NULL" if table == "vouchers" else ""
        query = f"SELECT * FROM {chunk.tables[table]} WHERE {quote('__keep_' + _D)} = {index}"
        counts[table] = _insert(con, register.name, table, query, where, [day] if where else [])
    return counts


def _stage_types(con: duckdb.DuckDBPyConnection, register: Register) -> int:
    """Stage the voucher types; a range reads them once and stages that copy for its later dates."""
    kept = register.memo.get("voucher_types")
    if kept is not None:
        return _insert(con, register.name, "voucher_types", f"SELECT * FROM {kept}")
    count = stage_whole(con, register, "voucher_types")
    if len(register.memo.get("dates", ())) > 1 and isinstance(register.reader, SqliteReader):
        kept = f"{STAGE}.{quote(f'chunk_{next(_chunks)}_voucher_types')}"
        con.execute(f"CREATE TABLE {kept} AS SELECT * EXCLUDE (register) FROM {stage_table('voucher_types')} "
                    "WHERE register = ?", [register.name])
        register.kept.append(kept)
        register.memo["voucher_types"] = kept
    return count


_chunks = itertools.count(1)


def extract_day(con: duckdb.DuckDBPyConnection, register: Register, day: dt.date) -> Extracted:
    """Check the register's schema, then stage its voucher types and that date's vouchers, lines, payments."""
    mapping = register.mapping
    tables = STAGED_TABLES if "voucher_types" in mapping.tables else VOUCHER_TABLES
    if ("unmapped", tables) not in register.memo:  # a snapshot's schema does not change between dates
        register.memo[("unmapped", tables)] = check_columns(register, tables)
    unmapped: dict[str, tuple[str, ...]] = register.memo[("unmapped", tables)]
    checkpoint("extract")
    counts: dict[str, int] = {}
    if "voucher_types" in mapping.tables:
        counts["voucher_types"] = _stage_types(con, register)
    pushed = day_filter(con, register, day)
    chunk = _chunk(con, register, day) if pushed is not None else None
    if chunk is not None:
        return Extracted(register.name, counts | _stage_from_chunk(con, register, chunk, day), unmapped)
    counts["vouchers"] = _stage_headers(con, register, day, pushed)
    for table in ("voucher_lines", "payments"):
        counts[table] = _stage_children(con, register, table, pushed)
    return Extracted(register.name, counts, unmapped)
