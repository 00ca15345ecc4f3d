"""Write canonical temp tables into one register file, per engine (SQLite or DuckDB).

Engine differences are data (`Engine`); the writer itself is one code path:
create the tables, ATTACH the file, INSERT … SELECT every table in one
transaction, DETACH.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import duckdb
import duckdb_extension_sqlite_scanner

from sample_data.layouts import Target, quote_ident

ALIAS = "reg"  # catalog name the register file is attached under


def sql_literal(text: str) -> str:
    """Quote a string (a path, a name) as a SQL literal.

    >>> sql_literal("/tmp/caja's ñ.db")
    "'/tmp/caja''s ñ.db'"
    """
    return "'" + text.replace("'", "''") + "'"


def sqlite_extension_path() -> str:
    """Path of the sqlite_scanner binary shipped in the installed wheel (never downloaded)."""
    return os.path.join(
        os.path.dirname(duckdb_extension_sqlite_scanner.__file__),
        "extensions",
        f"v{duckdb.__version__}",
        "sqlite_scanner.duckdb_extension",
    )


def load_sqlite_extension(con: duckdb.DuckDBPyConnection) -> None:
    """LOAD DuckDB's sqlite extension from the wheel into a connection."""
    con.execute(f"LOAD {sql_literal(sqlite_extension_path())}")


def _sqlite_type(duck_type: str) -> str:
    """Declared SQLite type for a DuckDB type: keep the SPEC's names, which give natural affinities.

    >>> [_sqlite_type(t) for t in ("VARCHAR", "BIGINT", "DECIMAL(18,2)", "DATE")]
    ['TEXT', 'INTEGER', 'DECIMAL(18,2)', 'DATE']
    """
    return {"VARCHAR": "TEXT", "BIGINT": "INTEGER"}.get(duck_type, duck_type)


@dataclass(frozen=True)
class Engine:
    """How one register engine is written."""

    name: str
    suffix: str  # file name suffix
    companions: tuple[str, ...]  # side files to remove along with the register file
    ddl_type: Callable[[str], str]  # DuckDB type -> declared column type
    attach_options: str  # appended to ATTACH '<path>' AS reg
    # DuckDB's sqlite writer declares DECIMAL/DATE columns as VARCHAR, so SQLite
    # tables are created with the sqlite3 module (DDL only; rows go through DuckDB).
    ddl_in_duckdb: bool


ENGINES: dict[str, Engine] = {
    "sqlite": Engine("sqlite", ".db", ("-wal", "-journal", "-shm"), _sqlite_type, "(TYPE sqlite)", False),
    "duckdb": Engine("duckdb", ".duckdb", (".wal",), str, "", True),
}


def create_table_sql(target: Target, engine: Engine, schema: str | None, keyed: bool) -> str:
    """CREATE TABLE statement for a register table in the engine's types.

    >>> from sample_data.layouts import LAYOUTS
    >>> create_table_sql(LAYOUTS["canonical"]["taxes"], ENGINES["sqlite"], None, True)
    'CREATE TABLE "taxes" ("tax_id" TEXT, "name" TEXT, "rate" DECIMAL(6,4), PRIMARY KEY ("tax_id"))'
    """
    cols = [f"{quote_ident(c.name)} {engine.ddl_type(c.type)}" for c in target.columns]
    if keyed:
        cols.append(f"PRIMARY KEY ({', '.join(map(quote_ident, target.key))})")
    name = quote_ident(target.name) if schema is None else f"{schema}.{quote_ident(target.name)}"
    return f"CREATE TABLE {name} ({', '.join(cols)})"


def insert_sql(table: str, target: Target, keyed: bool = True) -> str:
    """INSERT … SELECT that renders a canonical temp table into its register table.

    Rows go in key order: appending to the key index is much faster than
    random inserts, and it fixes the file's row order. A table without its
    key may hold duplicate keys, so it is ordered by every column instead.

    >>> from sample_data.layouts import LAYOUTS
    >>> sql = insert_sql("payment_methods", LAYOUTS["legacy_es"]["payment_methods"])
    >>> sql.split(" SELECT ")[1]
    '"method_id", "name" FROM "payment_methods" ORDER BY 1'
    """
    cols = ", ".join(quote_ident(c.name) for c in target.columns)
    exprs = ", ".join(c.expr for c in target.columns)
    names = [c.name for c in target.columns]
    order = ", ".join(str(names.index(k) + 1) for k in target.key) if keyed else "ALL"
    return (
        f"INSERT INTO {ALIAS}.{quote_ident(target.name)} ({cols}) "
        f"SELECT {exprs} FROM {quote_ident(table)} ORDER BY {order}"
    )


def remove_register(path: Path, engine: Engine) -> None:
    """Delete a register file and its side files so a rerun starts clean."""
    for p in (path, *(Path(f"{path}{c}") for c in engine.companions)):
        p.unlink(missing_ok=True)


def write_register(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    engine: Engine,
    layout: Mapping[str, Target],
    keyless: frozenset[str] = frozenset(),
) -> None:
    """Create the register file and fill every table from the canonical temp tables.

    Args:
        con: connection holding one temp table per canonical table.
        path: the register file (overwritten).
        engine: how to create and attach it.
        layout: canonical table -> register table.
        keyless: canonical tables to create without their primary key.
    """
    remove_register(path, engine)
    ddl = {
        t: create_table_sql(target, engine, ALIAS if engine.ddl_in_duckdb else None, t not in keyless)
        for t, target in layout.items()
    }
    if not engine.ddl_in_duckdb:
        with closing(sqlite3.connect(path)) as db:
            db.executescript(";\n".join(ddl.values()))
    con.execute(f"ATTACH {sql_literal(str(path))} AS {ALIAS} {engine.attach_options}")
    try:
        con.begin()  # one transaction: one commit (fsync) per file, not one per table
        try:
            for table, target in layout.items():
                if engine.ddl_in_duckdb:
                    con.execute(ddl[table])
                con.execute(insert_sql(table, target, table not in keyless))
            con.commit()
        except BaseException:
            con.rollback()
            raise
    finally:
        con.execute(f"DETACH {ALIAS}")


def set_sqlite_text(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    target: Target,
    column: str,
    text: str,
    key: Mapping[str, object],
) -> None:
    """Store a raw text value in one SQLite cell, whatever the column's declared type.

    With sqlite_all_varchar DuckDB binds the value as TEXT, and SQLite keeps
    text that does not look like a number as text even in a NUMERIC column.
    """
    con.execute("SET sqlite_all_varchar = true")
    con.execute(f"ATTACH {sql_literal(str(path))} AS patch (TYPE sqlite)")
    try:
        where = " AND ".join(f"{quote_ident(k)} = ${i}" for i, k in enumerate(key, start=2))
        con.execute(
            f"UPDATE patch.{quote_ident(target.name)} SET {quote_ident(column)} = $1 WHERE {where}",
            [text, *(str(v) for v in key.values())],
        )
    finally:
        con.execute("DETACH patch")
        con.execute("RESET sqlite_all_varchar")
