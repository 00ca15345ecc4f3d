"""Catalog push main → registers ("Actualizar catálogos"): load, diff, push, restore.

plan.py diffs set-based in DuckDB into a PushPlan, sql.py renders it in the register's dialect,
push.py runs it (backup → pending → one register transaction → applied), backup.py keeps the
Parquet backups, load.py fills main's catalogs from CSV or Parquet.
"""

from __future__ import annotations

from etl.catalogs.backup import Manifest, list_backups
from etl.catalogs.load import LoadResult, load_catalog
from etl.catalogs.plan import Edits, PushPlan
from etl.catalogs.push import (
    MODES,
    Diff,
    PushRequest,
    PushResult,
    RegisterPush,
    TableCounts,
    diff_sql,
    push_catalogs,
    pushes,
    restore_backup,
)

__all__ = [
    "MODES",
    "Diff",
    "Edits",
    "LoadResult",
    "Manifest",
    "PushPlan",
    "PushRequest",
    "PushResult",
    "RegisterPush",
    "TableCounts",
    "diff_sql",
    "list_backups",
    "load_catalog",
    "push_catalogs",
    "pushes",
    "restore_backup",
]
