"""One room reads registers: open a staged snapshot of one register and read its tables from it.

The import, the loyalty and rules sync and the catalog push all read a register through here.
What a read hands back is a `Source`: a relation in the run's DuckDB connection holding the
register's own columns, as exact as the register stores them, for etl.extract to cast strictly.

- SQLite (the staged copy) is read through Apache Arrow's ADBC driver, so SQLite itself runs the
  date filter and the header join and only the day's rows cross over. SQLite's types are
  advisory: a column declared DECIMAL may hold integers, floats and text side by side. The
  driver turns such a column into text, writing floats with six digits (silent loss, see
  NOTES-readers), so a column that should hold numbers but comes back as text is read again,
  value by value: numbers as numbers, text as its bytes. Text arrives as bytes and is decoded
  in DuckDB; bytes that are not UTF-8 are kept as hex for the report.
- DuckDB files (the staged copy) and PostgreSQL registers (read in place; DuckDB pushes the
  filters into PostgreSQL) are attached to the run's connection: their types are strict.

A source column `c` is delivered as `c` (its value, typed; NULL where the stored value can't be
that type), plus, for SQLite only when needed, `c__text` (text stored in a numeric column) and
`c__hex` (bytes that are not UTF-8).
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from etl.engines import attach, detach, load_extension
from etl.errors import PosyncError
from etl.faults import checkpoint
from etl.i18n import N_, Said
from etl.mapping import Mapping
from etl.staging import Snapshot

BATCH_ROWS = 2**30  # one Arrow batch per read: ADBC infers a column's type from the whole result
DISTINCT_LIMIT = 2000  # more distinct date values than this and the date filter is not pushed into SQLite
DATED = "date"  # a `numbers` kind: a column posync casts to a date from its text, whatever the register stored
CANNOT_OPEN = N_("register %(register)s: cannot open the database (%(why)s).")
READ_FAILED = N_("register %(register)s: reading it failed (%(why)s).")
_names = itertools.count(1)


@dataclass(frozen=True)
class SourceColumn:
    """One register column as a read delivers it."""

    name: str  # as the relation spells it
    type: str  # DuckDB type of the delivered value
    text: bool = False  # a companion `<name>__text` column holds text stored in a numeric column
    hex: bool = False  # a companion `<name>__hex` column holds bytes that are not UTF-8


@dataclass(frozen=True)
class Source:
    """A relation of one register table's rows in the run's connection, and how each column arrives."""

    relation: str
    columns: dict[str, SourceColumn]  # lower-case register column name -> delivery

    def column(self, name: str) -> SourceColumn:
        return self.columns[name.lower()]


@dataclass(frozen=True)
class Describe:
    """A register table's columns: lower-case name -> (name as declared, declared type)."""

    columns: dict[str, tuple[str, str]]


def quoted(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


# --- SQLite through ADBC -------------------------------------------------------------------------------


def affinity(declared: str) -> str:
    """SQLite's column affinity from a declared type (sqlite.org/datatype3.html, 3.1).

    >>> [affinity(t) for t in ("INTEGER", "DECIMAL(18,2)", "TEXT", "VARCHAR(20)", "", "REAL", "DATE")]
    ['integer', 'numeric', 'text', 'text', 'blob', 'real', 'numeric']
    """
    upper = declared.upper()
    if "INT" in upper:
        return "integer"
    if any(t in upper for t in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if "BLOB" in upper or not upper:
        return "blob"
    if any(t in upper for t in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


def _typeof(column: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this="typeof", expressions=[column.copy()])


def _in(value: exp.Expr, *words: str) -> exp.Expr:
    return exp.In(this=value, expressions=[exp.Literal.string(w) for w in words])


def _exact_text(column: exp.Expr) -> exp.Expr:
    """A value as bytes: floats in their shortest exact form (printf %!.17g), the rest as stored."""
    printed = exp.Anonymous(this="printf", expressions=[exp.Literal.string("%!.17g"), column.copy()])
    return exp.Case().when(exp.EQ(this=_typeof(column), expression=exp.Literal.string("real")), printed) \
        .else_(exp.cast(column.copy(), "BLOB"))


def _safe(column: exp.Expr, name: str, numbers: str) -> list[exp.Expr]:
    """A mixed column read value by value: numbers (as `numbers`: integer or real) and the rest as bytes."""
    if numbers == "integer":
        number = exp.Case().when(exp.EQ(this=_typeof(column), expression=exp.Literal.string("integer")),
                                 column.copy())
        other = exp.Case().when(_in(_typeof(column), "real", "text", "blob"), _exact_text(column))
    else:
        number = exp.Case().when(_in(_typeof(column), "integer", "real"), exp.cast(column.copy(), "REAL"))
        other = exp.Case().when(_in(_typeof(column), "text", "blob"), exp.cast(column.copy(), "BLOB"))
    return [exp.alias_(number, name, quoted=True), exp.alias_(other, f"{name}__bytes", quoted=True)]


class SqliteReader:
    """A staged SQLite copy, opened read-only through ADBC."""

    dialect = "sqlite"

    def __init__(self, register: str, path: str) -> None:
        import adbc_driver_sqlite.dbapi as adbc

        self.register, self._path = register, path
        try:
            self._con = adbc.connect(f"file:{path}?mode=ro")
        except Exception as err:  # noqa: BLE001 - the driver raises its own error types
            raise PosyncError(Said(CANNOT_OPEN, register=register, why=first_line(err))) from None
        self._tables: dict[str, Describe] = {}
        self._names: dict[str, str] | None = None
        self._mixed: dict[str, set[str]] = {}
        self._rendered: dict[int, tuple[exp.Expr, str]] = {}
        self._safe: dict[tuple[int, frozenset[str]], tuple[exp.Query, exp.Query]] = {}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._con.close()

    def _text(self, query: exp.Expr) -> str:
        """The query's SQLite text; a query object used again (every date of a range) is rendered once."""
        held = self._rendered.get(id(query))
        if held is None or held[0] is not query:
            held = self._rendered[id(query)] = (query, query.sql(self.dialect))
        return held[1]

    def _fetch(self, query: exp.Expr, params: Sequence[Any] = ()) -> pa.Table:
        cursor = self._con.cursor()
        try:
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
            cursor.execute(self._text(query), list(params))
            return cursor.fetch_arrow_table()
        except PosyncError:
            raise
        except Exception as err:  # noqa: BLE001 - a malformed file can fail any statement
            raise PosyncError(Said(READ_FAILED, register=self.register, why=first_line(err))) from None
        finally:
            cursor.close()

    def index(self, table: str, column: str) -> None:
        """Index `column` of posync's own copy (never the register), for a run that reads many dates of it.

        Without one, each date's read scans the whole table; with it, a range's later dates cost their rows.
        Skipped when an index already starts with that column; a failure only costs the speed-up.
        """
        lists = self._fetch(exp.select("name").from_(
            exp.Anonymous(this="pragma_index_list", expressions=[exp.Literal.string(table)]))).column(0).to_pylist()
        for name in lists:
            first = self._fetch(exp.select("name").from_(exp.Anonymous(
                this="pragma_index_info", expressions=[exp.Literal.string(name)])).where("seqno = 0")).to_pylist()
            if first and str(first[0]["name"]).lower() == column.lower():
                return
        statement = exp.Create(kind="INDEX", exists=True, this=exp.Index(
            this=exp.to_identifier("posync_run_date", quoted=True),
            table=exp.Table(this=exp.to_identifier(table, quoted=True)),
            params=exp.IndexParameters(columns=[exp.column(column, quoted=True)])))
        with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(self._path)) as writer:
            writer.execute(statement.sql("sqlite"))
            writer.commit()
        # DB-API connections read inside one transaction: end it, or the reads go on planning with the
        # schema they started with and never use the index (measured: a full scan per date)
        with contextlib.suppress(Exception):
            self._con.rollback()

    def tables(self) -> dict[str, str]:
        """Lower-case table name -> name as declared (read once: a staged snapshot does not change)."""
        if self._names is None:
            query = exp.select("name").from_("sqlite_master").where("type IN ('table', 'view')")
            self._names = {n.lower(): n for n in self._fetch(query).column(0).to_pylist()}
        return dict(self._names)

    def describe(self, table: str) -> Describe:
        if table not in self._tables:
            query = exp.select("name", "type").from_(
                exp.Anonymous(this="pragma_table_info", expressions=[exp.Literal.string(table)]))
            rows = self._fetch(query).to_pylist()
            self._tables[table] = Describe({r["name"].lower(): (r["name"], r["type"] or "") for r in rows})
        return self._tables[table]

    def read(self, con: duckdb.DuckDBPyConnection, query: exp.Query, table: str, numbers: dict[str, str],
             params: Sequence[Any] = ()) -> Source:
        """Run a SELECT of plain columns of `table` (aliased `src`) and register its rows in con.

        numbers: lower-case column -> 'integer' | 'real' for columns that must come back as numbers; a
        column that comes back as text holds text too, and is read again value by value. DATED marks a
        column cast from its text whatever it holds: read value by value from the first read.
        """
        described = self.describe(table).columns
        known = self._mixed.setdefault(table, set())  # columns an earlier read of this snapshot found mixed
        # A date column read from its text either way (a DATE column holding ISO text, the usual case) is read
        # value by value at once: a typed first read would only come back as text and be read again.
        known |= {described[c][0] for c, kind in numbers.items()
                  if kind == DATED and c in described and affinity(described[c][1]) != "text"}
        rows = _typed_as_declared(self._fetch(self._safe_select(query, known, numbers) if known else query, params),
                                  described, known)
        # Only the table's own columns: a mixed column's `__bytes` beside it is text by design (counting it
        # read every such query twice).
        mixed = {name for name, field_, column in zip(rows.column_names, rows.schema, rows.columns, strict=True)
                 if name not in known and name.lower() in described and _is_text(field_.type)
                 and column.null_count < len(column) and _needs_care(described[name.lower()][1],
                                                                     _number(numbers, name))}
        if mixed:
            known |= mixed
            rows = _typed_as_declared(self._fetch(self._safe_select(query, known, numbers), params), described, known)
        return _register_arrow(con, rows, {n for n in known if f"{n}__bytes" in rows.column_names})


    def _safe_select(self, query: exp.Query, mixed: set[str], numbers: dict[str, str]) -> exp.Query:
        key = (id(query), frozenset(mixed))
        held = self._safe.get(key)
        if held is None or held[0] is not query:
            held = self._safe[key] = (query, _safe_select(query, mixed, numbers))
        return held[1]


_EMPTY_AS = {"text": pa.string(), "blob": pa.binary(), "real": pa.float64()}


def _typed_as_declared(rows: pa.Table, described: dict[str, tuple[str, str]], mixed: set[str]) -> pa.Table:
    """A column with no value (no rows, or all NULL) typed by its declared type, not the driver's int64.

    The driver has nothing to infer from; a mapping expression over a TEXT column (`try_strptime(fecha, …)`)
    must bind on a date without sales as it does on a date with them. A mixed column read value by value
    is left alone: there the column is the numbers (NULL where the value is text) and its bytes come apart.
    """
    for i, field_ in enumerate(rows.schema):
        column = rows.column(i)
        declared = described.get(field_.name.lower())
        if (declared is None or field_.name in mixed or column.null_count != len(column)
                or not pa.types.is_integer(field_.type)):
            continue
        wanted = _EMPTY_AS.get(affinity(declared[1]))
        if wanted is not None:
            rows = rows.set_column(i, field_.name, pa.nulls(len(column), wanted))
    return rows


def _is_text(type_: pa.DataType) -> bool:
    return bool(pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_binary(type_)
                or pa.types.is_large_binary(type_))


def _needs_care(declared: str, wanted: str | None) -> bool:
    """Whether a column that came back as text may hide numbers the driver wrote lossily."""
    return wanted is not None or affinity(declared) != "text"


def _number(numbers: dict[str, str], name: str) -> str | None:
    """What a column must come back as: 'integer', 'real', or None for text (a DATED column is read as text)."""
    kind = numbers.get(name.lower())
    return None if kind == DATED else kind


def _safe_select(query: exp.Query, mixed: set[str], numbers: dict[str, str]) -> exp.Query:
    """The same query with each mixed column read value by value (in every branch of a UNION)."""
    safe = query.copy()
    branches = [safe]
    while any(isinstance(b, exp.SetOperation) for b in branches):
        branches = [part for b in branches
                    for part in ((b.left, b.right) if isinstance(b, exp.SetOperation) else (b,))]
    for select in branches:
        projections: list[exp.Expr] = []
        for projection in select.expressions:
            name = projection.alias_or_name
            column = projection.this if isinstance(projection, exp.Alias) else projection
            wanted = _number(numbers, name)
            if name not in mixed:
                projections.append(projection)
            elif wanted is None:  # text only: the bytes alone (the driver types a NULL column int64)
                projections.append(exp.alias_(_exact_text(column), f"{name}__bytes", quoted=True))
            else:
                projections += _safe(column, name, wanted)
        select.set("expressions", projections)
    return safe


def _register_arrow(con: duckdb.DuckDBPyConnection, rows: pa.Table, mixed: set[str]) -> Source:
    """Hand the rows to DuckDB: text as bytes decoded there, so that bytes that are not UTF-8 are caught."""
    for i, field_ in enumerate(rows.schema):
        if _is_text(field_.type):
            rows = rows.set_column(i, field_.name, rows.column(i).cast(pa.binary()))
        elif field_.name.endswith("__bytes"):  # no rows, or all NULL: the driver typed it int64
            rows = rows.set_column(i, field_.name, pa.nulls(rows.num_rows, pa.binary()))
    name = f"register_rows_{next(_names)}"
    con.register(f"{name}_arrow", rows)
    projections: list[str] = []
    columns: dict[str, SourceColumn] = {}
    types = dict(zip(rows.column_names, rows.schema.types, strict=True))
    for column in rows.column_names:
        text_only = column.endswith("__bytes") and column.removesuffix("__bytes") not in types
        if column.endswith("__bytes") and not text_only:
            continue
        column = column.removesuffix("__bytes") if text_only else column
        q = exp.to_identifier(column, quoted=True).sql("duckdb")
        if column in mixed:  # read value by value: numbers in `column`, everything else as bytes
            raw = exp.to_identifier(f"{column}__bytes", quoted=True).sql("duckdb")
            text, hexed = f"try(decode({raw}))", f"CASE WHEN try(decode({raw})) IS NULL THEN hex({raw}) END"
            if text_only:  # nothing wanted as a number: the text is the value
                projections += [f"{text} AS {q}", f"{hexed} AS {_companion(column, 'hex')}"]
                columns[column.lower()] = SourceColumn(column, "VARCHAR", hex=True)
            else:
                projections += [q, f"{text} AS {_companion(column, 'text')}",
                                f"{hexed} AS {_companion(column, 'hex')}"]
                columns[column.lower()] = SourceColumn(column, _duck_type(types[column]), text=True, hex=True)
        elif _is_text(types[column]):
            projections += [f"try(decode({q})) AS {q}",
                            f"CASE WHEN try(decode({q})) IS NULL THEN hex({q}) END AS {_companion(column, 'hex')}"]
            columns[column.lower()] = SourceColumn(column, "VARCHAR", hex=True)
        else:
            projections.append(q)
            columns[column.lower()] = SourceColumn(column, _duck_type(types[column]))
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {', '.join(projections)} FROM {name}_arrow")
    return Source(name, columns)


def _companion(column: str, what: str) -> str:
    return exp.to_identifier(f"{column}__{what}", quoted=True).sql("duckdb")


def _duck_type(type_: pa.DataType) -> str:
    """The DuckDB type of a column ADBC handed over as a number (text is handled apart)."""
    if pa.types.is_integer(type_):
        return "BIGINT"
    if pa.types.is_floating(type_):
        return "DOUBLE"
    return "VARCHAR"  # all NULL


def release(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Drop what a read registered (its Arrow rows and the view over them)."""
    with contextlib.suppress(duckdb.Error):
        con.execute(f"DROP VIEW IF EXISTS {source.relation}")
    with contextlib.suppress(duckdb.Error, KeyError):
        con.unregister(f"{source.relation}_arrow")


# --- DuckDB files and PostgreSQL, attached to the run's connection -----------------------------------------


class AttachedReader:
    """A staged DuckDB copy or a PostgreSQL register, attached read-only under an alias."""

    dialect = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection, snapshot: Snapshot) -> None:
        self.register = snapshot.register
        self.con = con
        self.alias = f"reg_{next(_names)}"
        try:
            load_extension(con, snapshot.engine.extension)
            attach(con, snapshot.target, self.alias, snapshot.engine, read_only=True)
        except duckdb.Error as err:
            raise PosyncError(Said(CANNOT_OPEN, register=snapshot.register, why=first_line(err))) from None
        self._columns: dict[str, dict[str, tuple[str, str]]] | None = None
        self._tables: dict[str, str] = {}

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            detach(self.con, self.alias)

    def _load(self) -> dict[str, dict[str, tuple[str, str]]]:
        if self._columns is None:
            rows = self.con.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
                "AND schema_name = (SELECT coalesce(max(schema_name) FILTER (schema_name = 'public'), 'main') "
                "FROM duckdb_schemas() WHERE database_name = ?)", [self.alias, self.alias]).fetchall()
            self._columns = {}
            for table, column, type_ in rows:
                self._tables[table.lower()] = table
                self._columns.setdefault(table.lower(), {})[column.lower()] = (column, type_)
        return self._columns

    def tables(self) -> dict[str, str]:
        self._load()
        return dict(self._tables)

    def describe(self, table: str) -> Describe:
        return Describe(self._load().get(table.lower(), {}))

    def table(self, table: str) -> exp.Table:
        return exp.Table(this=quoted(self._tables.get(table.lower(), table)), db=quoted(self.alias))

    def read(self, con: duckdb.DuckDBPyConnection, query: exp.Query, table: str, numbers: dict[str, str],
             params: Sequence[Any] = ()) -> Source:
        """The query as a view: DuckDB reads (and pushes filters into PostgreSQL) when the view is used."""
        described = self.describe(table).columns
        name = f"register_rows_{next(_names)}"
        try:
            con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {query.sql('duckdb')}", list(params))
            types = dict(con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                                     "WHERE table_name = ? AND database_name = 'temp'", [name]).fetchall())
        except duckdb.Error as err:
            raise PosyncError(Said(READ_FAILED, register=self.register, why=first_line(err))) from None
        columns = {c.lower(): SourceColumn(c, types.get(c) or described.get(c.lower(), (c, "VARCHAR"))[1])
                   for c in types}
        return Source(name, columns)


Reader = SqliteReader | AttachedReader


def same_file(a: str, b: str) -> bool:
    """Whether two register paths name the same database file today (symlinks followed, bounded in time)."""
    import os

    from etl import share

    if "://" in a or "://" in b:
        return False
    try:
        return bool(share.bounded("path", N_("comparing files"), os.path.samefile, a, b))
    except (OSError, PosyncError):
        return False


@dataclass
class Register:
    """An open snapshot of one register: its reader and mapping, for one step or a whole run of dates.

    memo: what reading it found that holds for the whole snapshot (e.g. the register's own date values),
    kept while it is open. kept: DuckDB tables holding rows read ahead for later dates, dropped on close.
    """

    snapshot: Snapshot
    mapping: Mapping
    reader: Reader
    sources: list[Source] = field(default_factory=list)
    memo: dict[Any, Any] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.snapshot.register

    def table(self, source_table: str) -> exp.Table:
        """The register table as the reader's SQL names it (aliased `src` by callers)."""
        if isinstance(self.reader, AttachedReader):
            return self.reader.table(source_table)
        return exp.Table(this=quoted(source_table))

    def read(self, con: duckdb.DuckDBPyConnection, query: exp.Query, table: str, numbers: dict[str, str],
             params: Sequence[Any] = ()) -> Source:
        source = self.reader.read(con, query, table, numbers, params)
        self.sources.append(source)
        return source

    def release(self, con: duckdb.DuckDBPyConnection) -> None:
        """Drop the rows read so far (the register stays open)."""
        for source in self.sources:
            release(con, source)
        self.sources.clear()

    def drop_kept(self, con: duckdb.DuckDBPyConnection, tables: Iterable[str] | None = None) -> None:
        """Drop rows kept for later dates (these tables, or all of them)."""
        for table in list(self.kept if tables is None else tables):
            with contextlib.suppress(duckdb.Error):
                con.execute(f"DROP TABLE IF EXISTS {table}")
            if table in self.kept:
                self.kept.remove(table)

    def close(self, con: duckdb.DuckDBPyConnection) -> None:
        self.release(con)
        self.drop_kept(con)
        self.reader.close()


def open_register(con: duckdb.DuckDBPyConnection, snapshot: Snapshot, mapping: Mapping) -> Register:
    """Open a staged snapshot for reading; close() drops everything it registered in con."""
    checkpoint("attach")
    reader: Reader = (SqliteReader(snapshot.register, snapshot.target) if snapshot.engine.name == "sqlite"
                      else AttachedReader(con, snapshot))
    return Register(snapshot, mapping, reader)


@contextlib.contextmanager
def opened(con: duckdb.DuckDBPyConnection, snapshot: Snapshot, mapping: Mapping) -> Iterator[Register]:
    """Open a staged snapshot for the length of a block."""
    register = open_register(con, snapshot, mapping)
    try:
        yield register
    finally:
        register.close(con)
