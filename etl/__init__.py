"""posync: keep a shop's point-of-sale registers and its head office in step.

The facade: the CLI and the tests import from here. Names load lazily (PEP 562) so that
`validators`, which reads `etl.schema`, can be imported on its own without a cycle.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ConfigError": "etl.errors",
    "PosyncError": "etl.errors",
    "StoreLocked": "etl.errors",
    "TransientError": "etl.errors",
    "ValidationRejected": "etl.errors",
    "load_mapping": "etl.mapping",
    "ImportRequest": "etl.pipeline",
    "ImportResult": "etl.pipeline",
    "import_day": "etl.pipeline",
    "Store": "etl.store",
    "open_store": "etl.store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'etl' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
