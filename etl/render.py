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

from etl.i18n import N_, NP_, _, format_amount, format_number, word

# The column headers and status words of posync's tables: translated where a table is drawn (render.table).
HEADERS = (
    N_("register"), N_("ip"), N_("engine"), N_("mapping"), N_("reachable"), N_("last sales"), N_("last import"),
    N_("codes"), N_("path"), N_("status"), N_("read"), N_("inserted"), N_("updated"), N_("skipped"),
    N_("held back"), N_("changed at source"), N_("batch"), N_("date"), N_("registers"), N_("new"), N_("when"),
    N_("action"), N_("mode"), N_("ins"), N_("upd"), N_("skip"), N_("held"), N_("message"), N_("imported at"),
    N_("undo"), N_("code"), N_("owner"), N_("first date"), N_("last date"), N_("vouchers"), N_("number"),
    N_("kind"), N_("seen"), N_("reason"), N_("table"), N_("deleted"), N_("unchanged"), N_("backup"), N_("taken"),
    N_("rows"), N_("what"), N_("customer"), N_("name"), N_("points"), N_("movements"), N_("last movement"),
    N_("movement"), N_("voucher"), N_("rule"), N_("params"), N_("from"), N_("to"), N_("active"), N_("updated at"),
    N_("from register"), N_("vouchers imported"), N_("loyalty"), N_("rules"), N_("pushed"), N_("imported"),
    N_("rejected"), N_("voucher code"), N_("prefix"), N_("range from"), N_("range to"), N_("valid from"),
    N_("valid to"), N_("enforce"),
)
STATUSES = (  # values, not headers: a context keeps "rejected" (a register's state) apart from a column
    NP_("status", "accepted"), NP_("status", "rejected"), NP_("status", "partial"), NP_("status", "identical"),
    NP_("status", "error"), NP_("status", "ok"), NP_("status", "skipped"), NP_("status", "held"),
    NP_("status", "warning"), NP_("status", "conflict"), NP_("status", "applied"), NP_("status", "pending"),
    NP_("status", "failed"), NP_("status", "reconciled"), NP_("status", "dry-run"), NP_("status", "unchanged"),
    NP_("status", "refused"), NP_("status", "total"), NP_("status", "insert"), NP_("status", "overwrite"),
    NP_("status", "import"), NP_("status", "sync"), NP_("status", "validate"), NP_("status", "codes"),
    NP_("status", "undo"), NP_("status", "rename"), NP_("status", "push"), NP_("status", "restore"),
    NP_("status", "loyalty"), NP_("status", "rules"), NP_("status", "catalogs"), NP_("status", "replace"),
    NP_("status", "busy"),
)
WORDS = frozenset({"status", "mode", "action", "date"})  # columns whose values are words from STATUSES

# Numbers that name something (a voucher number, a line) rather than count it: no thousands separator.
IDENTIFIERS = frozenset({"number", "line_no", "seq", "first_number", "last_number", "range_from", "range_to",
                         "from", "to"})


def _cell(value: Any, key: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, int):
        return str(value) if key in IDENTIFIERS else format_number(value)
    if isinstance(value, decimal.Decimal):
        return format_amount(value)
    if key in WORDS and value in STATUSES:
        return word("status", value)
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
    columns = [(key, _(header) if header else header) for key, header in columns]
    cells = [[_cell(r.get(key), key) for key, _h in columns] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_k, h) in enumerate(columns)]
    numeric = [any(_is_number(r.get(key)) for r in rows) and all(_is_number(r.get(key)) or r.get(key) is None
                                                                 for r in rows) for key, _h in columns]
    if width is not None and columns:  # the last column gets what is left, at least its header
        room = max(len(columns[-1][1]), width - sum(widths[:-1]) - 2 * (len(columns) - 1))
        widths[-1] = min(widths[-1], room)
        cells = [[*c[:-1], c[-1] if len(c[-1]) <= room else c[-1][: room - 1] + "…"] for c in cells]

    def line(values: Sequence[str]) -> str:
        out = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(out).rstrip()

    header = line([h for _k, h in columns])
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
