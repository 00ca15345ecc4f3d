"""Where posync keeps its own files: staging copies, backups, SQL dumps."""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
from pathlib import Path


def sql_string(value: str) -> str:
    """Quote a value as a SQL string literal (standard SQL: double the quotes).

    Used only for file paths in ATTACH/LOAD, whose argument sqlglot has no builder for.

    >>> sql_string("C:/tienda/caja 'uno'.db")
    "'C:/tienda/caja ''uno''.db'"
    """
    return "'" + value.replace("'", "''") + "'"


def store_key(store_target: str) -> str:
    """A main store's own name among working folders: its file's stem (or database) and a digest of where it is.

    >>> store_key("/srv/tienda/posync.duckdb")
    'posync-542c9ef6'
    >>> store_key("postgresql://pos@10.0.0.5:5432/main")
    'main-6e25d15f'
    """
    if "://" in store_target:
        from etl.postgres import redact

        where = redact(store_target)
        stem = urllib.parse.urlsplit(where).path.strip("/") or "postgres"
    else:
        where = str(Path(store_target).expanduser().absolute())
        stem = Path(where).stem
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", stem)[:40] or "main"
    return f"{safe}-{hashlib.sha256(where.encode()).hexdigest()[:8]}"


def data_dir(store_target: str) -> Path:
    """The working folder of one main store: staging copies, push backups, SQL files, crash files.

    $POSYNC_HOME/<store key>, else posync-data/<store key> beside a DuckDB main store (or in the current
    folder for a PostgreSQL one). Each store has its own, so two stores never touch each other's
    files (FAULTS 46).
    """
    if home := os.environ.get("POSYNC_HOME"):
        base = Path(home).expanduser().absolute()
    elif "://" in store_target:
        base = Path("posync-data").absolute()
    else:
        base = Path(store_target).expanduser().absolute().parent / "posync-data"
    return base / store_key(store_target)


def usable(folder: Path, store_target: str) -> Path:
    """The working folder, created and writable; else one sentence naming what chose it and the fix (exit 2)."""
    from etl.errors import ConfigError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".posync-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        what = f"POSYNC_HOME={os.environ['POSYNC_HOME']}" if os.environ.get("POSYNC_HOME") else \
            "the working folder beside the main store"
        fix = ("point POSYNC_HOME at a folder posync can write, or unset it to work beside the main store"
               if os.environ.get("POSYNC_HOME") else "set POSYNC_HOME to a folder posync can write")
        raise ConfigError(f"{what} is not usable ({err.strerror or err}: {err.filename or folder}); {fix}.") \
            from None
    return folder


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
