"""Helpers for the catalog push tests: real register files (canonical and legacy_es, SQLite and DuckDB).

Registers are built from the mapping files themselves, so a test register has exactly the tables and
columns its mapping names, in the types the SPEC gives (legacy_es: booleans as INTEGER, timestamps as
TEXT). Rows are read back the way posync reads them: through the mapping, cast to canonical types.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import exp

from etl import registers
from etl.engines import ENGINES
from etl.extract import read_whole
from etl.mapping import load_mapping
from etl.schema import CATALOG_TABLES, TABLES
from etl.staging import Snapshot
from etl.store import Store, open_store

Row = tuple[Any, ...]
LEGACY_TYPES = {"VARCHAR": "TEXT", "BOOLEAN": "INTEGER", "TIMESTAMP": "TEXT"}
CANONICAL_SQLITE_TYPES = {"VARCHAR": "TEXT"}


def register_ddl(mapping: str, engine: str = "sqlite", keyed: bool = True, extra: bool = True) -> list[str]:
    """CREATE TABLE statements of a register with this mapping: its catalogs, and its other tables empty.

    extra adds a column no mapping knows (`stock`) to the catalogs, which a push must leave alone.
    """
    m = load_mapping(mapping)
    out = []
    for table in (t for t in m.tables if t not in CATALOG_TABLES):  # vouchers, loyalty…: posync checks them
        names = sorted({c for e in m.tables[table].columns.values() if e is not None
                        for c in (x.name for x in e.find_all(exp.Column))})
        columns = ", ".join(f'"{n}" VARCHAR' for n in names)
        out.append(f'CREATE TABLE "{m.tables[table].source}" ({columns})')
    for table in CATALOG_TABLES:
        tm = m.tables[table]
        cols = []
        for canonical, type_ in TABLES[table].columns:
            source = tm.plain_column(canonical)
            if source is None:
                continue
            if mapping == "legacy_es":
                type_ = LEGACY_TYPES.get(type_, type_)
            elif engine == "sqlite":
                type_ = CANONICAL_SQLITE_TYPES.get(type_, type_)
            cols.append(f'"{source}" {type_}')
        if extra:
            cols.append('"stock" INTEGER DEFAULT 7')
        if keyed:
            cols.append(f'PRIMARY KEY ("{tm.plain_column(TABLES[table].key[0])}")')
        out.append(f'CREATE TABLE "{tm.source}" ({", ".join(cols)})')
    return out


def make_register(path: Path, mapping: str = "canonical", engine: str = "sqlite",
                  rows: dict[str, Sequence[Row]] | None = None, keyed: bool = True) -> Path:
    """A register file with the catalog tables (and, given rows, canonical rows written through the mapping)."""
    ddl = register_ddl(mapping, engine, keyed)
    if engine == "sqlite":
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.executescript(";\n".join(ddl))
    else:
        with contextlib.closing(duckdb.connect(str(path))) as db:
            for statement in ddl:
                db.execute(statement)
    for table, table_rows in (rows or {}).items():
        write_rows(path, mapping, engine, table, table_rows)
    return path


def _to_register(value: Any, mapping: str, engine: str) -> Any:
    if isinstance(value, bool):
        return int(value) if engine == "sqlite" or mapping == "legacy_es" else value
    if isinstance(value, Decimal):
        return str(value) if engine == "sqlite" else value
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return value


def write_rows(path: Path, mapping: str, engine: str, table: str, rows: Sequence[Row]) -> None:
    """Insert canonical rows (all canonical columns, in order) into a register table."""
    tm = load_mapping(mapping).tables[table]
    names = [tm.plain_column(c) for c in TABLES[table].column_names]
    cols = ", ".join(f'"{n}"' for n in names)
    marks = ", ".join("?" for _ in names)
    values = [tuple(_to_register(v, mapping, engine) for v in r) for r in rows]
    sql = f'INSERT INTO "{tm.source}" ({cols}) VALUES ({marks})'
    if engine == "sqlite":
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.executemany(sql, values)
            db.commit()
    else:
        with contextlib.closing(duckdb.connect(str(path))) as db:
            db.executemany(sql, values)


def read_register(path: Path, mapping: str, table: str, engine: str = "sqlite") -> list[Row]:
    """A register's rows of one catalog as posync reads them: canonical types, ordered by key."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        snapshot = Snapshot("reg", str(path), ENGINES[engine], "")
        with registers.opened(con, snapshot, load_mapping(mapping)) as register:
            select = read_whole(con, register, table).sql("duckdb")
            key = TABLES[table].key[0]
            cols = ", ".join(f'"{c}"' for c in TABLES[table].column_names)
            return [tuple(r) for r in con.execute(f'SELECT {cols} FROM ({select}) ORDER BY "{key}"').fetchall()]
    finally:
        con.close()


def main_rows(store: Store, table: str) -> list[Row]:
    key = TABLES[table].key[0]
    return [tuple(r) for r in store.con.execute(f'SELECT * FROM "{table}" ORDER BY "{key}"').fetchall()]


def set_main(store: Store, table: str, rows: Sequence[Row]) -> None:
    """Replace main's catalog with these canonical rows (bypassing `catalogs load`, but recorded as loaded)."""
    with store.transaction() as con:
        con.execute(f'DELETE FROM "{table}"')
        if rows:
            marks = ", ".join("?" for _ in TABLES[table].column_names)
            con.executemany(f'INSERT INTO "{table}" VALUES ({marks})', [list(r) for r in rows])
        con.execute("INSERT INTO catalog_loads VALUES (?, now()::TIMESTAMP, 'set by a test', ?)", [table, len(rows)])


def dump(path: Path) -> list[str]:
    """Every statement of a SQLite file's dump: the whole register, byte for byte in SQL."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return list(db.iterdump())


@contextlib.contextmanager
def main_store(folder: Path) -> Iterator[Store]:
    store = open_store(str(folder / "main.duckdb"))
    try:
        yield store
    finally:
        store.close()


def product(key: str, name: str | None = "x", price: str | None = "1.00", active: bool | None = True,
            updated: dt.datetime | None = None, tax: str | None = "IVA19") -> Row:
    """A canonical products row."""
    return (key, name, None, None, "un", Decimal(price) if price is not None else None, tax, active, updated)


TAX_ROWS = [("IVA19", "IVA 19%", Decimal("0.1900")), ("IVA5", "IVA 5%", Decimal("0.0500"))]
