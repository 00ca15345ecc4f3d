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
"""

from __future__ import annotations

import datetime as dt
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
from etl.registers import DISTINCT_LIMIT, Register, Source, SqliteReader, first_line, quoted
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
        con.execute(f"ATTACH ':memory:' AS {STAGE}")
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
        if (table_map.canonical, column) in CODE_COLUMNS:
            value = fill("nullif(upper(trim(__v__)), '')", v=value)
        outer.append(exp.alias_(exp.Case().when(exp.Is(this=reason, expression=exp.Null()), value), column,
                                quoted=True))
        shown = cast.shown.transform(lambda n: _ref(n.name, "i") if isinstance(n, exp.Column) and n.table == SRC
                                     else n)
        bad.append(fill("CASE WHEN __r__ IS NOT NULL THEN {'column': __c__, 'value': __s__, 'reason': __r__} END",
                        r=reason.copy(), c=exp.Literal.string(column), s=shown))
    listed = exp.Array(expressions=bad)
    outer.append(exp.alias_(fill("CASE WHEN list_count(__l__) > 0 THEN list_filter(__l__, x -> x IS NOT NULL) END",
                                 l=listed), "_bad"))
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
    if key not in _CANONICAL:
        if len(_CANONICAL) > 512:  # a long-lived process (watch, console) meeting many shapes: start afresh
            _CANONICAL.clear()
        shape = Source(_SOURCE, source.columns)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {_SOURCE} AS SELECT * FROM {source.relation} LIMIT 0")
        try:
            _CANONICAL[key] = canonical_select(con, table_map, shape, keep).sql("duckdb")
        finally:
            con.execute(f"DROP VIEW IF EXISTS {_SOURCE}")
    return _CANONICAL[key].replace(_SOURCE, source.relation)


# --- reading a table: whole, or the day -------------------------------------------------------------------


def _numbers(table_map: TableMapping) -> dict[str, str]:
    """Source columns that must arrive as numbers: plain columns of integer or decimal canonical columns."""
    out: dict[str, str] = {}
    for canonical, target in TABLES[table_map.canonical].columns:
        plain = table_map.plain_column(canonical)
        if plain is not None and target in casts.INTEGERS:
            out.setdefault(plain.lower(), "integer")
        elif plain is not None and casts.decimal_of(target):
            out.setdefault(plain.lower(), "real")
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
        raise PosyncError(Said("register %(register)s: reading %(source)s failed (%(why)s).", register=register,
                               source=table, why=first_line(err))) from None
    return int(row[0]) if row else 0


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
    if "day_values" not in register.memo:
        register.memo["day_values"] = _day_values(con, register)
    found = register.memo["day_values"]
    if found is None:
        return None
    name, rows = found
    values: list[Any] = []
    nulls = False
    for value, text, date in rows:
        if date is not None and date != day:
            continue
        if text is not None:
            values.append(text)
        elif value is None:
            nulls = True
        else:
            values.append(value)
    return DayFilter(name, tuple(values), nulls)


def _day_values(con: duckdb.DuckDBPyConnection,
                register: Register) -> tuple[str, list[tuple[Any, Any, dt.date | None]]] | None:
    """The register's distinct date values: (column, [(value, its text, the date posync reads in it)])."""
    headers = register.mapping.tables["vouchers"]
    mapped = headers.columns["date"]
    assert mapped is not None  # required by the mapping loader
    names = {c.name.lower() for c in mapped.find_all(exp.Column)}
    if len(names) != 1 or not isinstance(register.reader, SqliteReader):
        return None
    distinct = _source_select(register, headers, list(names)).distinct().limit(DISTINCT_LIMIT + 1)
    (name,) = names
    source = register.read(con, distinct, headers.source, {k: v for k, v in _numbers(headers).items() if k == name})
    column = source.column(name)
    count = con.execute(f"SELECT count(*) FROM {source.relation}").fetchone()
    if not count or count[0] > DISTINCT_LIMIT:
        return None
    only_date = TableMapping("vouchers", headers.source,
                             {c: (mapped if c == "date" else None) for c in TABLES["vouchers"].column_names})
    select = canonical_sql(con, only_date, source, keep=[column.name, *[
        f"{column.name}__{w}" for w, on in (("text", column.text), ("hex", column.hex)) if on]])
    rows = con.execute(f"SELECT * FROM ({select})").to_arrow_table()
    if column.hex and rows.column(f"__keep_{column.name}__hex").null_count < rows.num_rows:
        return None
    if register.memo.get("dates", 1) > 1 and isinstance(register.reader, SqliteReader):
        # a range: index the copy once; each date then reads only its rows
        register.reader.index(register.reader.tables()[headers.source.lower()], column.name)
    texts = rows.column(f"__keep_{column.name}__text").to_pylist() if column.text else [None] * rows.num_rows
    return column.name, list(zip(rows.column(f"__keep_{column.name}").to_pylist(), texts,
                                 rows.column("date").to_pylist(), strict=True))


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


def extract_day(con: duckdb.DuckDBPyConnection, register: Register, day: dt.date) -> Extracted:
    """Check the register's schema, then stage its voucher types and that date's vouchers, lines, payments."""
    mapping = register.mapping
    tables = STAGED_TABLES if "voucher_types" in mapping.tables else VOUCHER_TABLES
    unmapped = check_columns(register, tables)
    checkpoint("extract")
    counts: dict[str, int] = {}
    if "voucher_types" in mapping.tables:
        counts["voucher_types"] = stage_whole(con, register, "voucher_types")
    pushed = day_filter(con, register, day)
    counts["vouchers"] = _stage_headers(con, register, day, pushed)
    for table in ("voucher_lines", "payments"):
        counts[table] = _stage_children(con, register, table, pushed)
    return Extracted(register.name, counts, unmapped)
