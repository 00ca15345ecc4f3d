"""Where posync keeps its own files: staging copies, backups, SQL dumps."""

from __future__ import annotations

import os
from pathlib import Path


def sql_string(value: str) -> str:
    """Quote a value as a SQL string literal (standard SQL: double the quotes).

    Used only for file paths in ATTACH/LOAD, whose argument sqlglot has no builder for.

    >>> sql_string("C:/tienda/caja 'uno'.db")
    "'C:/tienda/caja ''uno''.db'"
    """
    return "'" + value.replace("'", "''") + "'"


def data_dir(store_target: str) -> Path:
    """posync's data folder: $POSYNC_HOME, else beside a DuckDB main store, else ./posync-data."""
    if home := os.environ.get("POSYNC_HOME"):
        return Path(home).resolve()
    if "://" in store_target:
        return Path("posync-data").resolve()
    return Path(store_target).resolve().parent / "posync-data"


def confined(base: Path, *parts: str) -> Path:
    """A path under base; refuse anything that would escape it (FAULTS 33).

    >>> confined(Path('/data'), 'backups', 'caja1').as_posix()
    '/data/backups/caja1'
    >>> confined(Path('/data'), '..', 'etc')
    Traceback (most recent call last):
    ...
    ValueError: path ../etc escapes /data
    """
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base.resolve()):
        raise ValueError(f"path {'/'.join(parts)} escapes {base}")
    return path
