"""posync: keep a shop's point-of-sale registers and its head office in step.

The facade: the CLI and the tests import from here.
"""

from __future__ import annotations

from etl.errors import ConfigError, PosyncError, StoreLocked, TransientError, ValidationRejected
from etl.mapping import load_mapping
from etl.pipeline import ImportRequest, ImportResult, import_day
from etl.store import Store, open_store

__all__ = [
    "ConfigError",
    "ImportRequest",
    "ImportResult",
    "PosyncError",
    "Store",
    "StoreLocked",
    "TransientError",
    "ValidationRejected",
    "import_day",
    "load_mapping",
    "open_store",
]
