"""PushPlan → the statements a register runs, in its dialect: one script, one transaction.

sqlglot builds every statement *shape* once per table (names quoted for the dialect); the rows
are rendered into it set-based by DuckDB, with literals escaped by the dialect's rules below
(the tests check them against sqlglot's own literals). Rendering 12,000 rows one sqlglot
expression at a time was ~60x slower (figures in the report of issue 4).

Script layout: deletes first, in reverse dependency order (products before taxes), then inserts
and updates in dependency order (taxes before products). Large pushes are batched into
multi-row statements (at most ROWS_PER_STATEMENT rows or about BYTES_PER_STATEMENT bytes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import duckdb
from sqlglot import exp

from etl.catalogs.plan import PushPlan, TablePlan, Target, lit
from etl.errors import ConfigError, PosyncError
from etl.i18n import Nn_, Said
from etl.schema import CATALOG_TABLES
from etl.store import quote

ROWS_PER_STATEMENT = 500
BYTES_PER_STATEMENT = 256 * 1024
_ROWS = "POSYNC_ROWS"  # where a template takes its rows


@dataclass(frozen=True)
class Dialect:
    """How one register engine spells what a push writes."""

    name: str  # sqlglot dialect
    begin: str  # the script's first statement
    true: str
    false: str
    typed_temp: bool  # whether a temp table's columns need types
    client: str  # the register's own command-line client
    # Added for PostgreSQL registers (issue 6); the defaults keep SQLite and DuckDB scripts as they were.
    stop_on_error: str = ".bail on"  # the client's "stop at the first error" line of a --dry-run file
    temp_schema: str = "temp"  # where a TEMPORARY table lives (PostgreSQL: pg_temp)
    typed_literals: bool = False  # DATE '…', TIMESTAMP '…', CAST(NULL AS t): PostgreSQL types VALUES as text
    target: str = "REGISTER_FILE"  # what the client is pointed at, in the script's header
    # Added for FAULTS 42. Run right after BEGIN, by the push and by the --dry-run file alike.
    prelude: tuple[str, ...] = ()
    file_settings: tuple[str, ...] = ()  # --dry-run file only, before BEGIN: what the client must agree on
    text_holds_nul: bool = True  # PostgreSQL text can't hold a NUL character


DIALECTS: dict[str, Dialect] = {
    # SQLite stores booleans as 0/1; BEGIN IMMEDIATE takes the write lock up front.
    "sqlite": Dialect("sqlite", "BEGIN IMMEDIATE", "1", "0", False, "sqlite3"),
    "duckdb": Dialect("duckdb", "BEGIN TRANSACTION", "TRUE", "FALSE", True, "duckdb"),
    # psql: ON_ERROR_STOP ends the script at the first error, and the open transaction dies with the session.
    # Literals double their quotes only, which is exact only with standard_conforming_strings on: with it
    # off a backslash escapes the closing quote (`a\` + a crafted next value injects SQL), so every push
    # sets it for its own transaction; the connection forces it too (postgres.SAFE_OPTIONS). psql reads
    # the file in the client encoding: the file is UTF-8.
    "postgres": Dialect("postgres", "BEGIN", "TRUE", "FALSE", True, "psql", stop_on_error="\\set ON_ERROR_STOP on",
                        temp_schema="pg_temp", typed_literals=True, target="REGISTER_URI",
                        prelude=("SET LOCAL standard_conforming_strings = on",),
                        file_settings=("SET client_encoding = 'UTF8'",), text_holds_nul=False),
}


def dialect_for(engine: str, register: str) -> Dialect:
    if engine not in DIALECTS:
        raise ConfigError(Said("register %(register)s: catalog push to a %(engine)s register is not supported yet "
                               "(supported: %(supported)s).", register=register, engine=engine,
                               supported=", ".join(DIALECTS)))
    return DIALECTS[engine]


@dataclass(frozen=True)
class Statement:
    sql: str
    note: str = ""  # written as a comment line before the statement


@dataclass(frozen=True)
class Script:
    """Everything one register runs for a push, BEGIN to COMMIT."""

    register: str
    dialect: Dialect
    header: tuple[str, ...]
    statements: tuple[Statement, ...] = field(default=())

    @property
    def sql(self) -> list[str]:
        """The statements, exactly as the push runs them."""
        return [s.sql for s in self.statements]

    @property
    def sha256(self) -> str:
        """The plan hash: the statements, without comments."""
        digest = hashlib.sha256()
        for statement in self.statements:
            digest.update(statement.sql.encode("utf-8") + b";\n")
        return digest.hexdigest()

    def text(self) -> str:
        """The SQL file: the same statements, with comments, stopping at the first error in the client."""
        lines = [f"-- {h}" for h in self.header]
        lines.append(self.dialect.stop_on_error)
        lines += [f"{setting};" for setting in self.dialect.file_settings]
        for statement in self.statements:
            if statement.note:
                lines.append(f"-- {statement.note}")
            lines.append(statement.sql + ";")
        return "\n".join(lines) + "\n"


def literal_sql(column: str, duck_type: str, dialect: Dialect) -> str:
    """DuckDB expression that renders a typed value as a literal of the dialect (NULL included).

    >>> literal_sql("x", "BOOLEAN", DIALECTS["sqlite"])
    "coalesce(CASE WHEN x THEN '1' WHEN NOT x THEN '0' END, 'NULL')"
    >>> literal_sql("x", "DATE", DIALECTS["postgres"])
    "coalesce('DATE ' || '''' || CAST(x AS VARCHAR) || '''', 'CAST(NULL AS DATE)')"
    """
    if duck_type == "VARCHAR":
        text = f"'''' || replace({column}, '''', '''''') || ''''"
    elif duck_type == "BOOLEAN":
        text = f"CASE WHEN {column} THEN {lit(dialect.true)} WHEN NOT {column} THEN {lit(dialect.false)} END"
    elif duck_type in ("DATE", "TIMESTAMP"):
        text = f"'''' || CAST({column} AS VARCHAR) || ''''"
        if dialect.typed_literals:  # PostgreSQL: a quoted value in VALUES would be text, not a date
            text = f"{lit(duck_type + ' ')} || {text}"
    else:  # DECIMAL, integers: the exact digits, unquoted
        text = f"CAST({column} AS VARCHAR)"
    null = f"CAST(NULL AS {exp.DataType.build(duck_type).sql(dialect.name)})" if dialect.typed_literals else "NULL"
    return f"coalesce({text}, {lit(null)})"


def _tuple_sql(target: Target, columns: Iterable[str], dialect: Dialect, alias: str = "r") -> str:
    parts = [literal_sql(f"{alias}.{quote(c)}", target.type_of(c), dialect) for c in columns]
    return "'(' || " + " || ', ' || ".join(parts) + " || ')'"


def _batches(con: duckdb.DuckDBPyConnection, relation: str, row_sql: str, order: str, separator: str) -> list[str]:
    """Render every row of a relation and join them into batches of text, in key order."""
    rows = con.execute(
        f"""
        WITH t AS (SELECT {row_sql} AS _t, {order} AS _o FROM {relation} r),
             n AS (SELECT _t, _o, row_number() OVER (ORDER BY _o) - 1 AS _i,
                          sum(strlen(_t) + 2) OVER (ORDER BY _o ROWS UNBOUNDED PRECEDING) AS _b FROM t)
        SELECT string_agg(_t, ? ORDER BY _o) FROM n
        GROUP BY _i // {ROWS_PER_STATEMENT}, _b // {BYTES_PER_STATEMENT} ORDER BY min(_i)
        """,
        [separator],
    ).fetchall()
    return [r[0] for r in rows]


def _template(tree: exp.Expr, dialect: Dialect) -> tuple[str, str]:
    """A statement shape rendered by sqlglot, split where its rows go."""
    text = tree.sql(dialect.name, identify=True)
    prefix, found, suffix = text.partition(f"{_ROWS}()")
    assert found, "a template without a place for its rows"
    return prefix, suffix


def _rows() -> exp.Expr:
    return exp.Anonymous(this=_ROWS)


def _table(name: str, schema: str | None = None) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name), db=exp.to_identifier(schema) if schema else None)


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(_ident(name), table=_ident(table) if table else None)


def insert_shape(target: Target, table: exp.Table | None = None) -> exp.Insert:
    """INSERT INTO t (cols) VALUES <rows>."""
    columns = [_ident(target.source_of(c)) for c in target.names]
    return exp.Insert(this=exp.Schema(this=table or _table(target.source), expressions=columns),
                      expression=exp.Values(expressions=[_rows()]))


def delete_shape(target: Target) -> exp.Delete:
    """DELETE FROM t WHERE key IN (<keys>)."""
    key = _col(target.source_of(target.key))
    return exp.delete(_table(target.source), where=exp.In(this=key, expressions=[_rows()]))


def update_shape(target: Target, columns: tuple[str, ...]) -> exp.Update:
    """WITH v(key, cols) AS (VALUES <rows>) UPDATE t SET col = v.col … FROM v WHERE t.key = v.key."""
    names = [target.source_of(c) for c in (target.key, *columns)]
    cte = exp.CTE(this=exp.Values(expressions=[_rows()]),
                  alias=exp.TableAlias(this=_ident("v"), columns=[_ident(n) for n in names]))
    key = names[0]
    update = exp.Update(
        this=_table(target.source),
        expressions=[exp.EQ(this=_col(n), expression=_col(n, "v")) for n in names[1:]],
        from_=exp.From(this=_table("v")),
        where=exp.Where(this=exp.EQ(this=_col(key, target.source), expression=_col(key, "v"))),
    )
    update.set("with_", exp.With(expressions=[cte]))
    return update


def _upsert_statements(target: Target, dialect: Dialect, staging: exp.Table) -> list[Statement]:
    """UPDATE every register row from the staged rows, then INSERT the ones it lacks."""
    names = [target.source_of(c) for c in target.names]
    key = names[0]
    out: list[Statement] = []
    if len(names) > 1:
        update = exp.Update(
            this=_table(target.source),
            expressions=[exp.EQ(this=_col(n), expression=_col(n, "s")) for n in names[1:]],
            from_=exp.From(this=exp.alias_(staging.copy(), "s", table=True)),
            where=exp.Where(this=exp.EQ(this=_col(key, target.source), expression=_col(key, "s"))),
        )
        out.append(Statement(update.sql(dialect.name, identify=True),
                             f"{target.table}: update every row main has"))
    missing = exp.select("1").from_(exp.alias_(_table(target.source), "t", table=True)).where(
        exp.EQ(this=_col(key, "t"), expression=_col(key, "s")))
    select = exp.select(*[_col(n, "s") for n in names]).from_(
        exp.alias_(staging.copy(), "s", table=True)).where(exp.Not(this=exp.Exists(this=missing)))
    insert = exp.Insert(this=exp.Schema(this=_table(target.source), expressions=[_ident(n) for n in names]),
                        expression=select)
    out.append(Statement(insert.sql(dialect.name, identify=True), f"{target.table}: insert the rows it lacks"))
    return out


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _fill(prefix_suffix: tuple[str, str], batches: list[str], note: str) -> list[Statement]:
    prefix, suffix = prefix_suffix
    many = len(batches) > 1
    return [Statement(prefix + body + suffix, f"{note} ({i}/{len(batches)})" if many else note)
            for i, body in enumerate(batches, start=1)]


def _order(target: Target) -> str:
    return f"CAST(r.{quote(target.key)} AS VARCHAR)"


def deletes(con: duckdb.DuckDBPyConnection, plan: TablePlan, mode: str, dialect: Dialect) -> list[Statement]:
    """The deletes of one table: all rows (replace) or the keys main no longer has."""
    target = plan.target
    if mode == "total":
        return []
    if mode == "replace":
        tree = exp.delete(_table(target.source))
        return [Statement(tree.sql(dialect.name, identify=True),
                          f"{target.table}: replace: delete the register's {_plural(plan.register_rows, 'row')}")]
    if not plan.deleted:
        return []
    key_lit = literal_sql("r._key", "VARCHAR", dialect)
    batches = _batches(con, f"(SELECT _key FROM {plan.ops} WHERE _op = 'delete')", key_lit, "r._key", ", ")
    return _fill(_template(delete_shape(target), dialect), batches,
                 f"{target.table}: delete {_plural(plan.deleted, 'row')} main no longer has")


def writes(con: duckdb.DuckDBPyConnection, plan: TablePlan, mode: str, dialect: Dialect) -> list[Statement]:
    """Inserts and updates of one table, per mode."""
    target = plan.target
    out: list[Statement] = []
    if mode in ("replace", "total"):
        rows = _tuple_sql(target, target.names, dialect)
        batches = _batches(con, f"(SELECT * FROM {plan.source} WHERE {quote(target.key)} IS NOT NULL)", rows,
                           _order(target), ",\n")
        if mode == "replace":
            return out + _fill(_template(insert_shape(target), dialect), batches,
                               f"{target.table}: insert main's {_plural(plan.main_rows, 'row')}")
        staging = _table(f"posync_{target.source}", dialect.temp_schema)
        kind = (lambda c: exp.DataType.build(target.type_of(c))) if dialect.typed_temp else (lambda c: None)
        create = exp.Create(
            this=exp.Schema(this=staging.copy(), expressions=[
                exp.ColumnDef(this=_ident(target.source_of(c)), kind=kind(c)) for c in target.names]),
            kind="TABLE", properties=exp.Properties(expressions=[exp.TemporaryProperty()]))
        out.append(Statement(create.sql(dialect.name, identify=True),
                             f"{target.table}: total: upsert main's {_plural(plan.main_rows, 'row')}"))
        out += _fill(_template(insert_shape(target, staging.copy()), dialect), batches,
                     f"{target.table}: stage main's rows")
        out += _upsert_statements(target, dialect, staging)
        out.append(Statement(exp.Drop(tables=[staging.copy()], kind="TABLE").sql(dialect.name, identify=True)))
        return out
    masks = [m[0] for m in con.execute(
        f"SELECT _mask FROM {plan.ops} WHERE _op = 'update' GROUP BY _mask ORDER BY min(_key)").fetchall()]
    for mask in masks:
        columns = tuple(mask.split(","))
        count = con.execute(f"SELECT count(*) FROM {plan.ops} WHERE _op = 'update' AND _mask = ?",
                            [mask]).fetchall()[0][0]
        rows = _tuple_sql(target, (target.key, *columns), dialect)
        batches = _batches(con, f"(SELECT * FROM {plan.ops} WHERE _op = 'update' AND _mask = {lit(mask)})",
                           rows, "r._key", ",\n")
        what = "every column" if columns == target.values else ", ".join(columns)
        out += _fill(_template(update_shape(target, columns), dialect), batches,
                     f"{target.table}: update {what} on {_plural(count, 'row')}")
    if plan.inserted:
        rows = _tuple_sql(target, target.names, dialect)
        batches = _batches(con, f"(SELECT * FROM {plan.ops} WHERE _op = 'insert')", rows, "r._key", ",\n")
        out += _fill(_template(insert_shape(target), dialect), batches,
                     f"{target.table}: insert {_plural(plan.inserted, 'new row')}")
    return out


def _ordered(plan: PushPlan) -> list[TablePlan]:
    rank = {t: i for i, t in enumerate(CATALOG_TABLES)}
    return sorted(plan.tables, key=lambda t: rank.get(t.target.table, len(rank)))


def render(con: duckdb.DuckDBPyConnection, plan: PushPlan, dialect: Dialect, header: tuple[str, ...] = ()) -> Script:
    """The whole script of a push: BEGIN, deletes (reverse order), writes (dependency order), COMMIT.

    A plan without changes renders to BEGIN (and the dialect's prelude) and COMMIT only.
    """
    refuse_nul(con, plan, dialect)
    statements = [Statement(dialect.begin), *(Statement(sql) for sql in dialect.prelude)]
    if plan.changes:
        ordered = [t for t in _ordered(plan) if t.changes]  # a table without changes needs no statement
        for table in reversed(ordered):
            statements += deletes(con, table, plan.mode, dialect)
        for table in ordered:
            statements += writes(con, table, plan.mode, dialect)
    else:
        statements[0] = Statement(dialect.begin, "nothing to change: the register already has main's catalogs")
    statements.append(Statement("COMMIT"))
    return Script(plan.register, dialect, header, tuple(statements))


def _written(table: TablePlan, mode: str) -> str:
    """The relation of the rows a push writes to one table (see writes())."""
    if mode in ("replace", "total"):
        return table.source
    return f"(SELECT * FROM {table.ops} WHERE _op IN ('insert', 'update'))"


def refuse_nul(con: duckdb.DuckDBPyConnection, plan: PushPlan, dialect: Dialect) -> None:
    """PosyncError naming register, table, key and column when a value to write holds a NUL the dialect can't store.

    Checked before anything is saved, marked pending or sent: the push is refused as a whole.
    """
    if dialect.text_holds_nul:
        return
    for table in _ordered(plan):
        target = table.target
        texts = [c for c in target.names if target.type_of(c) == "VARCHAR"]
        if not table.changes or not texts:
            continue
        has_nul = [f"contains(r.{quote(c)}, chr(0))" for c in texts]
        which = ", ".join(f"CASE WHEN {test} THEN {lit(c)} END" for test, c in zip(has_nul, texts, strict=True))
        row = con.execute(  # a total, not a window: see catalogs.load.SAMPLES
            f"WITH n AS MATERIALIZED (SELECT CAST(r.{quote(target.key)} AS VARCHAR) AS k, concat_ws(', ', {which}) "
            f"AS c FROM {_written(table, plan.mode)} r WHERE {' OR '.join(has_nul)}) "
            "SELECT (SELECT count(*) FROM n), k, c FROM n ORDER BY k LIMIT 1").fetchone()
        if row:
            count, key, columns = row
            more = Said(Nn_(" (and %(num)s more row)", " (and %(num)s more rows)"), num=count - 1) if count > 1 \
                else ""
            raise PosyncError(Said(
                "register %(register)s: %(table)s %(key)s %(value)s%(more)s: a NUL character in %(columns)s, which a "
                "%(engine)s register can't store in text; remove it from main's catalog, then push again (nothing "
                "was changed).", register=plan.register, table=target.table, key=target.key, value=repr(key),
                more=more, columns=columns, engine=dialect.name))
