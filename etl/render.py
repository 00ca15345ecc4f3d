"""Text tables and --json documents for listings and results. No logic."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Sequence
from typing import Any


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A plain text table.

    >>> print(table([{"name": "caja1", "n": 1200}], [("name", "register"), ("n", "vouchers")]))
    register  vouchers
    --------  --------
    caja1        1,200
    """
    cells = [[_cell(r.get(key)) for key, _ in columns] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_, h) in enumerate(columns)]
    numeric = [all(isinstance(r.get(key), int | float | decimal.Decimal) and not isinstance(r.get(key), bool)
                   for r in rows) and bool(rows) for key, _ in columns]

    def line(values: Sequence[str]) -> str:
        out = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(out).rstrip()

    header = line([h for _, h in columns])
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([header, rule, *(line(c) for c in cells)])


def _default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(document: Any) -> str:
    """One JSON document (dates ISO, decimals as exact strings)."""
    return json.dumps(document, indent=2, ensure_ascii=False, default=_default)
