"""Parquet backups of the register rows a push changes or deletes, with a manifest, and their listing.

A backup lives in `<data_dir>/backups/<backup_id>/`: per table `<table>.parquet` (the register's
rows, canonical columns, as they were before the push) and `<table>.inserted.parquet` (the keys
the push adds), plus `manifest.json`. It is written to a hidden folder and renamed into place,
so a backup folder is always whole.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from etl import paths
from etl.catalogs.plan import Target, lit
from etl.errors import ConfigError
from etl.i18n import Said
from etl.store import quote

ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BackupTable:
    table: str  # canonical table
    source: str  # the register's table
    columns: tuple[str, ...]  # canonical columns saved, key first
    saved: int  # rows saved (changed or deleted by the push)
    inserted: int  # keys the push inserts

    @property
    def file(self) -> str:
        return f"{self.table}.parquet"

    @property
    def inserted_file(self) -> str:
        return f"{self.table}.inserted.parquet"


@dataclass(frozen=True)
class Manifest:
    backup_id: str
    register: str
    mode: str
    created_at: str  # ISO time
    engine: str
    mapping: str
    push_id: str | None
    tables: tuple[BackupTable, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(doc: dict[str, Any]) -> Manifest:
        tables = tuple(BackupTable(t["table"], t["source"], tuple(t["columns"]), int(t["saved"]), int(t["inserted"]))
                       for t in doc["tables"])
        return Manifest(doc["backup_id"], doc["register"], doc["mode"], doc["created_at"], doc["engine"],
                        doc["mapping"], doc.get("push_id"), tables)


def new_id(prefix: str) -> str:
    """A sortable, unique id: prefix-YYYYmmddTHHMMSS-xxxxxx."""
    return f"{prefix}-{dt.datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def backups_root(data_dir: Path) -> Path:
    return paths.confined(data_dir, "backups")


def backup_dir(data_dir: Path, backup_id: str) -> Path:
    """The folder of one backup; ids are checked so a path can't be smuggled in.

    >>> backup_dir(Path("/d"), "../etc")
    Traceback (most recent call last):
    ...
    etl.errors.ConfigError: backup id '../etc' is not valid; use an id from `posync catalogs backups`.
    """
    if not ID_RE.fullmatch(backup_id):
        raise ConfigError(Said("backup id %(backup)s is not valid; use an id from `posync catalogs backups`.",
                               backup=repr(backup_id)))
    return paths.confined(data_dir, "backups", backup_id)


@dataclass(frozen=True)
class BackupItem:
    """What to save for one table: the register's rows the push touches, and the keys it adds."""

    target: Target
    saved_sql: str  # SELECT of canonical columns (key first)
    inserted_sql: str  # SELECT _key


def write_backup(con: duckdb.DuckDBPyConnection, data_dir: Path, backup_id: str, register: str, mode: str,
                 engine: str, mapping: str, push_id: str | None, items: list[BackupItem]) -> Manifest:
    """Save the rows as Parquet and the manifest, then rename the folder into place (all or nothing)."""
    final = backup_dir(data_dir, backup_id)
    work = paths.confined(data_dir, "backups", f".{backup_id}.partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tables: list[BackupTable] = []
    try:
        for item in items:
            target = item.target
            entry = BackupTable(target.table, target.source, target.names, 0, 0)
            saved = _copy(con, item.saved_sql, work / entry.file)
            inserted = _copy(con, f"SELECT _key FROM ({item.inserted_sql})", work / entry.inserted_file)
            tables.append(BackupTable(target.table, target.source, target.names, saved, inserted))
        manifest = Manifest(backup_id, register, mode, dt.datetime.now().isoformat(timespec="seconds"), engine,
                            mapping, push_id, tuple(tables))
        with (work / MANIFEST).open("w", encoding="utf-8") as fh:
            json.dump(manifest.to_json(), fh, indent=2, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def _copy(con: duckdb.DuckDBPyConnection, select_sql: str, path: Path) -> int:
    con.execute(f"COPY ({select_sql}) TO {lit(str(path))} (FORMAT parquet)")
    row = con.execute(f"SELECT count(*) FROM read_parquet({lit(str(path))})").fetchone()
    return int(row[0]) if row else 0


def read_manifest(data_dir: Path, backup_id: str) -> Manifest:
    folder = backup_dir(data_dir, backup_id)
    path = folder / MANIFEST
    if not path.is_file():
        raise ConfigError(Said("no backup %(backup)s in %(folder)s; list them with `posync catalogs backups`.",
                               backup=backup_id, folder=str(folder.parent)))
    try:
        return Manifest.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as err:
        raise ConfigError(Said("backup %(backup)s: %(file)s is damaged (%(why)s); it can't be restored.",
                               backup=backup_id, file=MANIFEST, why=str(err))) from None


def saved_rows(data_dir: Path, manifest: Manifest, entry: BackupTable) -> str:
    """SELECT of a backup's saved rows (canonical columns)."""
    path = backup_dir(data_dir, manifest.backup_id) / entry.file
    cols = ", ".join(quote(c) for c in entry.columns)
    return f"SELECT {cols} FROM read_parquet({lit(str(path))})"


def inserted_keys(data_dir: Path, manifest: Manifest, entry: BackupTable) -> str:
    path = backup_dir(data_dir, manifest.backup_id) / entry.inserted_file
    return f"SELECT _key FROM read_parquet({lit(str(path))})"


def list_backups(data_dir: Path, register: str | None = None) -> list[Manifest]:
    """Every whole backup, newest first."""
    root = backups_root(data_dir)
    if not root.is_dir():
        return []
    out = []
    for folder in root.iterdir():
        if folder.name.startswith(".") or not (folder / MANIFEST).is_file():
            continue
        try:
            manifest = read_manifest(data_dir, folder.name)
        except ConfigError:
            continue
        if register is None or manifest.register == register:
            out.append(manifest)
    return sorted(out, key=lambda m: (m.created_at, m.backup_id), reverse=True)


def rename_register(data_dir: Path, old: str, new: str) -> list[str]:
    """Rewrite the manifests of a renamed register's backups; the ids of those that could not be rewritten."""
    failed = []
    for manifest in list_backups(data_dir, old):
        path = backup_dir(data_dir, manifest.backup_id) / MANIFEST
        partial = path.with_name(MANIFEST + ".partial")
        try:
            doc = manifest.to_json() | {"register": new}
            partial.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
            os.replace(partial, path)
        except OSError:
            failed.append(manifest.backup_id)
    return failed
