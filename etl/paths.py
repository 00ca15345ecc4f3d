"""Where posync keeps its own files: staging copies, backups, SQL dumps."""

from __future__ import annotations

import hashlib
import os
import re
import sys
import urllib.parse
from pathlib import Path, PurePath, PureWindowsPath
from types import ModuleType

import platformdirs


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


def platform_data_dir(platform: str = sys.platform) -> Path:
    r"""Where this platform keeps an application's data, for every user that runs it.

    Windows: C:\ProgramData\posync (machine-wide: the SYSTEM account of a scheduled task and the
    administrator at the keyboard see the same files); macOS: ~/Library/Application Support/posync;
    Linux and the rest: $XDG_DATA_HOME/posync, by default ~/.local/share/posync.
    """
    if platform == "win32":
        return Path(platformdirs.site_data_dir("posync", appauthor=False))
    return Path(platformdirs.user_data_dir("posync", appauthor=False))


def data_dir(store_target: str) -> Path:
    """The working folder of one main store: staging copies, push backups, SQL files, crash files.

    $POSYNC_HOME/<store key>; else, for a DuckDB main store, posync-data/<store key> beside it (on every
    platform: the files of a store stay with it, whoever runs posync); for a PostgreSQL one, which has no
    folder of its own, the platform's data folder (platform_data_dir). Each store has its own, so two
    stores never touch each other's files (FAULTS 46).
    """
    if home := os.environ.get("POSYNC_HOME"):
        base = Path(home).expanduser().absolute()
    elif "://" in store_target:
        base = platform_data_dir()
    else:
        base = Path(store_target).expanduser().absolute().parent / "posync-data"
    return base / store_key(store_target)


def is_windows_absolute(path: str) -> bool:
    r"""A drive path (C:\cajas\caja1.db) or a UNC path (\\SERVIDOR\cajas\caja1.db), on any platform.

    >>> [is_windows_absolute(p) for p in (r"\\SERVIDOR\cajas\datos.db", "C:/cajas/x.db", "C:x.db", "cajas/x.db")]
    [True, True, False, False]
    """
    windows = PureWindowsPath(path)
    return bool(windows.drive and windows.root)


def as_given(path: str, cwd: str | None = None, pathmod: ModuleType = os.path) -> str:
    r"""A register path to store: absolute, with `.` and `..` resolved, symlinks not followed (FAULTS 33, 47).

    A relative path is joined to the current folder, to keep naming the same file. A drive or UNC path
    (\\SERVIDOR\cajas\caja1\datos.db) is absolute on every platform: on Windows it is normalised as
    Windows does (which leaves a typed UNC or drive path as typed), elsewhere it is kept exactly as typed,
    so the path of the Windows server is stored and shown as given.

    >>> import ntpath, posixpath
    >>> as_given(r"\\SERVIDOR\cajas\caja1\datos.db", r"C:\posync", ntpath)
    '\\\\SERVIDOR\\cajas\\caja1\\datos.db'
    >>> as_given(r"datos\caja1.db", r"C:\posync", ntpath)
    'C:\\posync\\datos\\caja1.db'
    >>> as_given("ready/caja1.db", "/home/tienda", posixpath), as_given("/srv/x/../cajas//caja1.db", "/", posixpath)
    ('/home/tienda/ready/caja1.db', '/srv/cajas/caja1.db')
    >>> as_given(r"\\SERVIDOR\cajas\caja1\datos.db", "/home/tienda", posixpath)
    '\\\\SERVIDOR\\cajas\\caja1\\datos.db'
    """
    expanded = pathmod.expanduser(path)
    if is_windows_absolute(expanded) and pathmod.__name__ != "ntpath":
        return str(expanded)
    return str(pathmod.normpath(pathmod.join(cwd if cwd is not None else os.getcwd(), expanded)))


def parent_folder(path: str) -> PurePath:
    r"""The folder of a stored register path, in the path's own flavour (a UNC path keeps its share).

    >>> str(parent_folder(r"\\SERVIDOR\cajas\caja1\datos.db"))
    '\\\\SERVIDOR\\cajas\\caja1'
    >>> str(parent_folder("/srv/cajas/caja1.db"))
    '/srv/cajas'
    """
    return PureWindowsPath(path).parent if is_windows_absolute(path) else Path(path).parent


def usable(folder: Path, store_target: str) -> Path:
    """The working folder, created and writable; else one sentence naming what chose it and the fix (exit 2)."""
    from etl.errors import ConfigError
    from etl.i18n import Said

    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".posync-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        what = f"POSYNC_HOME={os.environ['POSYNC_HOME']}" if os.environ.get("POSYNC_HOME") else \
            Said("the working folder beside the main store")
        fix = (Said("point POSYNC_HOME at a folder posync can write, or unset it to work beside the main store")
               if os.environ.get("POSYNC_HOME") else Said("set POSYNC_HOME to a folder posync can write"))
        raise ConfigError(Said("%(what)s is not usable (%(why)s: %(path)s); %(fix)s.", what=what, fix=fix,
                               why=str(err.strerror or err), path=str(err.filename or folder))) from None
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
    if not path.is_relative_to(base.resolve()):  # a guard: callers check ids and file names before
        raise ValueError(f"path {'/'.join(parts)} escapes {base}")
    return path
