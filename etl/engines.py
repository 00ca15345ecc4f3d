"""Per-engine settings as data (sqlite, duckdb, postgres) and the read-only ATTACH of a register.

Engine differences live in the ENGINES table, not in `if engine ==` chains.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from etl.errors import ConfigError, PosyncError
from etl.i18n import Said

SQLITE_MAGIC = b"SQLite format 3\x00"
DUCKDB_MAGIC = b"DUCK"  # at offset 8, followed by the storage version (uint64, little endian)
DUCKDB_STORAGE_VERSIONS = range(64, 80)  # what duckdb 1.5 reads; newer files need a newer posync


@dataclass(frozen=True)
class Engine:
    """How posync talks to one kind of register database."""

    name: str
    dialect: str  # sqlglot dialect of the SQL we hand to the register's own client
    extension: str | None  # DuckDB extension (from its PyPI wheel) needed to attach it
    attach_type: str | None  # ATTACH … (TYPE x); None for native DuckDB files
    file_based: bool
    sidecars: tuple[str, ...]  # files that belong to the database and must be copied with it


ENGINES: dict[str, Engine] = {
    "sqlite": Engine("sqlite", "sqlite", "sqlite_scanner", "sqlite", True, ("-wal", "-journal")),
    "duckdb": Engine("duckdb", "duckdb", None, None, True, (".wal",)),
    "postgres": Engine("postgres", "postgres", "postgres_scanner", "postgres", False, ()),
}


def is_postgres_uri(target: str) -> bool:
    """True for postgresql:// and postgres:// URIs.

    >>> is_postgres_uri("postgresql://pos@10.0.0.5:5432/caja7"), is_postgres_uri("C:/caja.db")
    (True, False)
    """
    return target.startswith(("postgresql://", "postgres://"))


def sniff(path: Path) -> Engine:
    """Tell a register's engine from the file's magic bytes; refuse anything else."""
    try:
        with path.open("rb") as fh:
            head = fh.read(24)
    except OSError as err:
        raise PosyncError(Said("%(path)s: cannot read the file (%(why)s).", path=str(path), why=str(err.strerror))) \
            from err
    if not head:
        raise PosyncError(Said("%(path)s: the file is empty; expected a SQLite or DuckDB database.", path=str(path)))
    if head.startswith(SQLITE_MAGIC):
        return ENGINES["sqlite"]
    if head[8:12] == DUCKDB_MAGIC:
        version = int.from_bytes(head[12:20], "little")
        if version not in DUCKDB_STORAGE_VERSIONS:
            raise PosyncError(Said(
                "%(path)s: DuckDB storage version %(version)s is not supported; posync reads versions %(first)s-"
                "%(last)s (DuckDB %(duckdb)s).", path=str(path), version=str(version),
                first=str(DUCKDB_STORAGE_VERSIONS.start), last=str(DUCKDB_STORAGE_VERSIONS.stop - 1),
                duckdb=duckdb.__version__))
        return ENGINES["duckdb"]
    raise PosyncError(Said(
        "%(path)s: not a database posync can read; expected a SQLite 3 file ('SQLite format 3') or a DuckDB file "
        "(storage v%(first)s+).", path=str(path), first=str(DUCKDB_STORAGE_VERSIONS.start)))


def extension_path(extension: str) -> Path:
    """The extension binary shipped in its duckdb-extension-* wheel (never downloaded)."""
    package = f"duckdb_extension_{extension}"
    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise ConfigError(Said("DuckDB extension %(extension)s is not installed; run: pip install %(package)s",
                               extension=extension,
                               package=f"duckdb-extension-{extension.replace('_', '-')}=={duckdb.__version__}")
                          ) from err
    base = Path(os.path.dirname(module.__file__ or ""))
    return base / "extensions" / f"v{duckdb.__version__}" / f"{extension}.duckdb_extension"


def load_extension(con: duckdb.DuckDBPyConnection, extension: str | None) -> None:
    """LOAD an extension from its wheel's file; a no-op for None or when already loaded."""
    if extension is None:
        return
    loaded = con.execute(
        "SELECT loaded FROM duckdb_extensions() WHERE extension_name = ?", [extension]
    ).fetchone()
    if loaded and loaded[0]:
        return
    con.execute(f"LOAD {exp.Literal.string(str(extension_path(extension))).sql('duckdb')}")


def attach_sql(target: str, alias: str, engine: Engine, read_only: bool = True) -> str:
    """ATTACH statement for a register; sqlglot quotes the path and the alias.

    >>> print(attach_sql("/tmp/caja 'x'.db", "reg", ENGINES["sqlite"]))
    ATTACH '/tmp/caja ''x''.db' AS reg (TYPE sqlite, READ_ONLY)
    """
    options = [f"TYPE {engine.attach_type}"] if engine.attach_type else []
    if read_only:
        options.append("READ_ONLY")
    suffix = f" ({', '.join(options)})" if options else ""
    tree = sqlglot.parse_one(f"ATTACH 'placeholder' AS placeholder{suffix}", read="duckdb")
    path, name = tree.find(exp.Literal), tree.find(exp.Identifier)
    assert path is not None and name is not None  # both are in the template above
    path.replace(exp.Literal.string(target))
    name.replace(exp.to_identifier(alias))
    return tree.sql("duckdb")


def attach(con: duckdb.DuckDBPyConnection, target: str, alias: str, engine: Engine, read_only: bool = True) -> None:
    """Attach a register (a staged copy, or a PostgreSQL URI) under alias."""
    load_extension(con, engine.extension)
    con.execute(attach_sql(target, alias, engine, read_only))


def detach(con: duckdb.DuckDBPyConnection, alias: str) -> None:
    con.execute(f"DETACH DATABASE IF EXISTS {exp.to_identifier(alias).sql('duckdb')}")
