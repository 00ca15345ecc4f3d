"""Main's catalog vs what a register holds → a PushPlan (rows to insert, update, delete), set-based in DuckDB.

The baseline a table is compared with is either the register's current rows (read from a staged
copy) or, for a partial push, the state main recorded when it last pushed there: per register,
table and key, a hash of the row it pushed (`push_state`). A sentinel row (key NULL) holds the
hash's tag; a missing or stale sentinel means "no usable state" and the register is read instead.

Rows are compared by a 64-bit DuckDB `hash()` of the canonical, typed values (key first). On a
1,000,000-row catalog md5 over the canonical text alone took longer than SQLite's `sqldiff` takes
for the whole diff; `hash()` over typed values takes about a tenth of it (see the report of
issue 4). The tag carries the DuckDB version: a new DuckDB may hash differently, so its first
push reads the register once and records new state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
from sqlglot import exp

from etl.errors import ConfigError
from etl.i18n import Said
from etl.mapping import Mapping
from etl.schema import TABLES
from etl.store import quote

HASH_TAG = f"duckdb {duckdb.__version__} hash v2"  # v2: amounts DECIMAL(18,4)
SAMPLES = 5


def lit(value: str) -> str:
    """A DuckDB string literal, quoted by sqlglot.

    >>> lit("caja'1")
    "'caja''1'"
    """
    return exp.Literal.string(value).sql("duckdb")


@dataclass(frozen=True)
class Target:
    """Where one canonical catalog lives at one register: its table and the columns a push writes."""

    table: str  # canonical table
    source: str  # the register's table
    columns: tuple[tuple[str, str], ...]  # (canonical, register column) pairs, key first

    @property
    def key(self) -> str:
        return self.columns[0][0]

    @property
    def names(self) -> tuple[str, ...]:
        """Canonical names of the pushed columns, key first."""
        return tuple(c for c, _ in self.columns)

    @property
    def values(self) -> tuple[str, ...]:
        """Canonical names of the pushed non-key columns."""
        return self.names[1:]

    def source_of(self, canonical: str) -> str:
        return dict(self.columns)[canonical]

    def type_of(self, canonical: str) -> str:
        return TABLES[self.table].type_of(canonical)


def target_for(mapping: Mapping, table: str, register: str) -> Target:
    """The register table and plain columns a catalog is pushed to; expressions can't be written back.

    Columns the mapping leaves out (null) are not pushed. The key must be a plain column.
    """
    if table not in mapping.tables:
        raise ConfigError(Said(
            "register %(register)s: mapping %(mapping)s has no %(table)s table (%(where)s); map it, or leave "
            "%(table)s out of the push with --table.", register=register, mapping=mapping.file, table=table,
            where=mapping.json_path(table)))
    table_map = mapping.tables[table]
    pairs: list[tuple[str, str]] = []
    for canonical in TABLES[table].column_names:
        expression = table_map.columns.get(canonical)
        if expression is None:
            if canonical in TABLES[table].key:
                raise ConfigError(Said(
                    "register %(register)s: %(column)s is the key but is not mapped (mapping %(mapping)s, "
                    "%(where)s); a push needs it.", register=register, column=f"{table}.{canonical}",
                    mapping=mapping.file, where=mapping.json_path(table, canonical)))
            continue
        plain = table_map.plain_column(canonical)
        if plain is None:
            raise ConfigError(Said(
                "register %(register)s: %(column)s is mapped by an expression (mapping %(mapping)s, %(where)s), "
                "which a push can't write back; map it to a plain column, or leave %(table)s out with --table.",
                register=register, column=f"{table}.{canonical}", mapping=mapping.file,
                where=mapping.json_path(table, canonical), table=table))
        pairs.append((canonical, plain))
    key = TABLES[table].key[0]
    pairs.sort(key=lambda p: p[0] != key)  # key first, the rest in canonical order
    return Target(table, table_map.source, tuple(pairs))


def typed(target: Target, alias: str | None = None) -> list[str]:
    """Each pushed column cast to its canonical type (a no-op on canonical tables)."""
    prefix = f"{quote(alias)}." if alias else ""
    return [f"CAST({prefix}{quote(c)} AS {target.type_of(c)})" for c in target.names]


def hash_sql(target: Target, alias: str | None = None) -> str:
    """The row hash: DuckDB's hash() over the typed canonical values, key first (positional, not symmetric).

    >>> hash_sql(Target("taxes", "impuestos", (("tax_id", "codigo"), ("rate", "tarifa"))))
    'hash(CAST(tax_id AS VARCHAR), CAST(rate AS DECIMAL(6,4)))'
    """
    return f"hash({', '.join(typed(target, alias))})"


@dataclass(frozen=True)
class Baseline:
    """What a table is compared with: a relation of (_key, _hash[, canonical values])."""

    kind: str  # "state" | "register"
    relation: str  # SQL relation (a temp table name or a subquery)


@dataclass(frozen=True)
class TablePlan:
    """One table's share of a push: counts, and the temp table `ops` holding the rows to write."""

    target: Target
    baseline: str  # "state" | "register"
    source: str  # relation with main's rows (canonical columns)
    ops: str  # temp table: _op (insert|update|delete), _key, canonical columns, _mask
    main_rows: int
    register_rows: int
    inserted: int
    updated: int
    deleted: int

    @property
    def unchanged(self) -> int:
        return self.main_rows - self.inserted - self.updated

    @property
    def changes(self) -> int:
        return self.inserted + self.updated + self.deleted

    def summary(self) -> str:
        """products: +12 ~3 -1"""
        return f"{self.target.table}: +{self.inserted:,} ~{self.updated:,} -{self.deleted:,}"


@dataclass(frozen=True)
class Edits:
    """Rows edited at the register since the last push (--verify), per table."""

    table: str
    edited: int
    added: int
    deleted: int
    samples: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.edited + self.added + self.deleted

    def describe(self, register: str) -> str:
        if not self.total:
            return f"{register} {self.table}: no rows edited at the register since the last push"
        parts = [f"{n:,} {what}" for n, what in ((self.edited, "edited"), (self.added, "added"),
                                                   (self.deleted, "deleted")) if n]
        keys = f" (e.g. {', '.join(self.samples)})" if self.samples else ""
        return f"{register} {self.table}: {', '.join(parts)} at the register since the last push{keys}"


@dataclass(frozen=True)
class PushPlan:
    """A push to one register as data: rendering it (sql.py) and running it (push.py) are separate steps."""

    register: str
    mode: str
    tables: tuple[TablePlan, ...]
    edits: tuple[Edits, ...] = field(default=())

    @property
    def changes(self) -> int:
        return sum(t.changes for t in self.tables)

    def summary(self) -> str:
        """The tables that change, e.g. "products: +12 ~3 -1", or that nothing does."""
        return "; ".join(t.summary() for t in self.tables if t.changes) or "no changes"


def temp_name(register: str, table: str, what: str) -> str:
    """A plan's temp table, as queries name it.

    >>> temp_name("caja-1", "products", "ops")
    'temp."push_caja-1_products_ops"'
    """
    return f"temp.{quote(f'push_{register}_{table}_{what}')}"


def create_temp(con: duckdb.DuckDBPyConnection, name: str, select_sql: str) -> str:
    """CREATE OR REPLACE TEMP TABLE from a temp_name(); returns the name."""
    assert name.startswith("temp.")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name.removeprefix('temp.')} AS {select_sql}")
    return name


def state_relation(register: str, table: str) -> str:
    """push_state of one register and table as (_key, _hash)."""
    return (
        f"(SELECT key AS _key, TRY_CAST(row_hash AS UBIGINT) AS _hash FROM push_state "
        f"WHERE register = {lit(register)} AND table_name = {lit(table)} AND key IS NOT NULL)"
    )


def has_state(con: duckdb.DuckDBPyConnection, register: str, table: str) -> bool:
    """Whether main holds usable push state for this register and table (sentinel present, same tag)."""
    row = con.execute(
        "SELECT count(*) FROM push_state WHERE register = ? AND table_name = ? AND key IS NULL AND row_hash = ?",
        [register, table, HASH_TAG],
    ).fetchone()
    return bool(row and row[0])


def _keyed(target: Target, relation: str) -> str:
    """(_key, _hash) of a relation with canonical columns; rows without a key can't be addressed."""
    key = quote(target.key)
    return (f"(SELECT CAST({key} AS VARCHAR) AS _key, {hash_sql(target)} AS _hash "
            f"FROM {relation} WHERE {key} IS NOT NULL)")


def _differences(target: Target, source: str, baseline: str) -> str:
    """Keys whose row differs between source and baseline, with what to do: a full outer join by key."""
    return (
        f"SELECT coalesce(m._key, b._key) AS _key, "
        f"CASE WHEN b._key IS NULL THEN 'insert' WHEN m._key IS NULL THEN 'delete' ELSE 'update' END AS _op "
        f"FROM {_keyed(target, source)} m FULL JOIN {baseline} b ON m._key = b._key "
        f"WHERE m._hash IS DISTINCT FROM b._hash"
    )


def register_rows(con: duckdb.DuckDBPyConnection, target: Target, select_sql: str, name: str) -> str:
    """Materialise a register's canonical rows (one per key) with _key and _hash; returns the temp table."""
    cols = ", ".join(quote(c) for c in target.names)
    key = quote(target.key)
    return create_temp(
        con, name,
        f"SELECT CAST({key} AS VARCHAR) AS _key, {hash_sql(target)} AS _hash, {cols} FROM ({select_sql}) "
        f"WHERE {key} IS NOT NULL QUALIFY row_number() OVER (PARTITION BY {key}) = 1",
    )


def diff_table(con: duckdb.DuckDBPyConnection, register: str, target: Target, source: str,
               baseline: Baseline, deletes: bool = True) -> TablePlan:
    """Compare main's rows (source) with the baseline and keep what must change in a temp `ops` table.

    Updates name their changed columns in `_mask` when the baseline has the register's values;
    against recorded state only the row hash is known, so every pushed column is written.
    With deletes=False (total) rows main lacks are left at the register and not counted.
    """
    ops = temp_name(register, target.table, "ops")
    key = quote(target.key)
    main_cols = ", ".join(f"s.{quote(c)}" for c in target.names)
    if baseline.kind == "register" and target.values:
        changed = ", ".join(
            f"CASE WHEN s.{quote(c)} IS DISTINCT FROM r.{quote(c)} THEN {lit(c)} END" for c in target.values
        )
        mask = f"CASE WHEN d._op = 'update' THEN concat_ws(',', {changed}) END"
        join_register = f"LEFT JOIN {baseline.relation} r ON r._key = d._key"
    else:
        mask = f"CASE WHEN d._op = 'update' THEN {lit(','.join(target.values))} END"
        join_register = ""
    create_temp(
        con, ops,
        f"WITH d AS ({_differences(target, source, baseline.relation)}) "
        f"SELECT d._op, d._key, {main_cols}, {mask} AS _mask FROM d "
        f"LEFT JOIN {source} s ON CAST(s.{key} AS VARCHAR) = d._key {join_register}",  # plain equi-joins: hash joins
    )
    dupes = con.execute(
        f"SELECT _key FROM {ops} GROUP BY _key HAVING count(*) > 1 ORDER BY _key LIMIT {SAMPLES}"
    ).fetchall()
    if dupes:
        keys = ", ".join(str(k[0]) for k in dupes)
        raise ConfigError(Said(
            "main's %(table)s has the same %(key)s on more than one row (%(keys)s); a push needs one row per key: "
            "fix main's catalog (posync catalogs load refuses duplicates).", table=target.table, key=target.key,
            keys=keys))
    con.execute(f"DELETE FROM {ops} WHERE _op = 'update' AND _mask = ''")  # duplicate register rows, same values
    if not deletes:
        con.execute(f"DELETE FROM {ops} WHERE _op = 'delete'")
    counts = dict(con.execute(f"SELECT _op, count(*) FROM {ops} GROUP BY _op").fetchall())
    main_rows = _count(con, f"SELECT count(*) FROM {source} WHERE {key} IS NOT NULL")
    register_count = _count(con, f"SELECT count(*) FROM {baseline.relation}")
    return TablePlan(target, baseline.kind, source, ops, main_rows, register_count, int(counts.get("insert", 0)),
                     int(counts.get("update", 0)), int(counts.get("delete", 0)))


def edits_since_push(con: duckdb.DuckDBPyConnection, register: str, target: Target, current: str) -> Edits:
    """Rows edited, added or deleted at the register since main last pushed there (state vs current rows)."""
    state = state_relation(register, target.table)
    cols = ", ".join(quote(c) for c in target.names)
    rows = con.execute(
        f"WITH d AS ({_differences(target, f'(SELECT {cols} FROM {current})', state)}) "
        f"SELECT count(*) FILTER (_op = 'update'), count(*) FILTER (_op = 'insert'), "
        f"count(*) FILTER (_op = 'delete'), (list(_key ORDER BY _key))[1:{SAMPLES}] FROM d"
    ).fetchone()
    assert rows is not None
    return Edits(target.table, int(rows[0]), int(rows[1]), int(rows[2]), tuple(rows[3] or ()))


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def main_source(table: str) -> str:
    """Main's catalog table, as the relation a push reads."""
    return quote(table)


def refusals(plan: PushPlan) -> list[Said]:
    """Tables a push would empty by more than half: what --force is for.

    >>> t = TablePlan(Target("products", "products", (("product_id", "product_id"),)), "register", "p", "o",
    ...               188, 5000, 0, 0, 4812)
    >>> refusals(PushPlan("caja1", "replace", (t,)))
    ['would delete 4,812 of 5,000 products on caja1']
    """
    return [
        Said("would delete %(n)s of %(total)s %(table)s on %(register)s", n=t.deleted, total=t.register_rows,
             table=t.target.table, register=plan.register)
        for t in plan.tables
        if t.deleted and t.deleted * 2 > t.register_rows
    ]
