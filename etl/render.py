"""Text tables and --json documents for listings and results. No logic."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any

from validators.findings import amount_text

# Numbers that name something (a voucher number, a line) rather than count it: no thousands separator.
IDENTIFIERS = frozenset({"number", "line_no", "seq", "first_number", "last_number", "range_from", "range_to",
                         "from", "to"})


def _cell(value: Any, key: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value) if key in IDENTIFIERS else f"{value:,}"
    if isinstance(value, decimal.Decimal):
        return amount_text(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


def terminal_width() -> int | None:
    """The width to fit a table to: the terminal's (or $COLUMNS); None in a pipe or cron mail (keep it all)."""
    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], width: int | None = None) -> str:
    """A plain text table: numbers right-aligned; the last column cut to `width` when one is given.

    >>> print(table([{"name": "caja1", "n": 1200}, {"name": "caja2"}], [("name", "register"), ("n", "vouchers")]))
    register  vouchers
    --------  --------
    caja1        1,200
    caja2
    >>> print(table([{"a": "x", "m": "a long message"}], [("a", "a"), ("m", "message")], width=12))
    a  message
    -  ---------
    x  a long m…
    """
    cells = [[_cell(r.get(key), key) for key, _ in columns] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_, h) in enumerate(columns)]
    numeric = [any(_is_number(r.get(key)) for r in rows) and all(_is_number(r.get(key)) or r.get(key) is None
                                                                 for r in rows) for key, _ in columns]
    if width is not None and columns:  # the last column gets what is left, at least its header
        room = max(len(columns[-1][1]), width - sum(widths[:-1]) - 2 * (len(columns) - 1))
        widths[-1] = min(widths[-1], room)
        cells = [[*c[:-1], c[-1] if len(c[-1]) <= room else c[-1][: room - 1] + "…"] for c in cells]

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
