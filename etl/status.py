"""`posync status`: what needs a person, read from main only — each item with its register, a count, an
example and the command that resolves it.

Items (one query each over main; none reads a register):
- `unreadable`: a register whose last import attempt failed (file missing, share down, corrupt…);
- `rejected`: data held back for a (register, date) and not imported since;
- `source_changes`: vouchers changed, voided or gone at a register after their import, not applied;
- `no_sales`: a register whose last imported date had no vouchers although the one before had;
- `quiet`: a register with no sales in main for more than N days (`--quiet-days`, default 2);
- `loyalty` / `rules`: the last loyalty or rules sync of a register left conflicts or rejections;
- `suspect_rule`: a rule in main whose updated_at is in the future (a register's clock ran ahead);
- `pending_push`: a catalog push that did not reach its register;
- `numbering_gap`: consecutive numbers of a code missing in main (a sale that may not have arrived).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from etl import changes
from etl.rules import SKEW
from etl.store import Store
from validators.findings import plural
from validators.numbering import format_gaps

DEFAULT_QUIET_DAYS = 2
KINDS = ("unreadable", "rejected", "source_changes", "no_sales", "quiet", "loyalty", "rules", "suspect_rule",
         "pending_push", "numbering_gap")


@dataclass(frozen=True)
class Item:
    """One thing that needs a person."""

    kind: str
    register: str | None
    count: int
    message: str
    example: str = ""
    command: str = ""


@dataclass(frozen=True)
class Health:
    checked_at: dt.datetime
    quiet_days: int
    registers: tuple[dict[str, Any], ...]
    items: tuple[Item, ...]
    run: dict[str, Any] | None = None  # the run holding the store right now, if any
    as_of: str | None = None  # while it runs: when the last finished run ended (the health is as of then)

    @property
    def exit_code(self) -> int:
        """0 when all is well, 1 when something needs a person."""
        return 1 if self.items else 0

    def as_dict(self) -> dict[str, Any]:
        return {"ok": not self.items, "checked_at": self.checked_at, "quiet_days": self.quiet_days,
                "run": self.run, "as_of": self.as_of, "registers": list(self.registers),
                "items": [asdict(i) for i in self.items], "exit_code": self.exit_code}


def _rows(store: Store, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = store.con.execute(sql, params or []).to_arrow_table().to_pylist()
    return rows


REGISTERS_SQL = """
SELECT r.name AS register, r.added_at,
       (SELECT s.last_sales FROM register_sales s WHERE s.register = r.name) AS last_sales,
       (SELECT max(b.imported_at) FROM import_batches b WHERE b.register = r.name AND b.status IN ('ok', 'partial')
          AND b.inserted + b.updated + b.skipped > 0) AS last_import
FROM remotes r ORDER BY r.name
"""

# The latest row of an action per register still in the registry.
_LATEST = """
SELECT l.register, l.process_date, l.status, l.message, l.logged_at
FROM sync_log l JOIN remotes r ON r.name = l.register
WHERE l.action = ? QUALIFY row_number() OVER (PARTITION BY l.register ORDER BY l.logged_at DESC) = 1
"""


def _unreadable(store: Store) -> list[Item]:
    out = []
    for r in _rows(store, f"SELECT * FROM ({_LATEST}) WHERE status = 'error' ORDER BY register", ["import"]):
        day = f" --date {r['process_date']}" if r["process_date"] else ""
        out.append(Item("unreadable", r["register"], 1, f"{r['register']} could not be read in its last import "
                        f"({r['logged_at']:%Y-%m-%d %H:%M})", r["message"],
                        f"posync remote list   # then: posync import{day} --remote {r['register']}"))
    return out


REJECTED_SQL = """
SELECT b.register, b.process_date, max(b.imported_at) AS rejected_at, max(b.rejected) AS vouchers
FROM import_batches b JOIN remotes r ON r.name = b.register
WHERE b.status = 'rejected'
  AND NOT EXISTS (SELECT 1 FROM import_batches g
                  WHERE g.register = b.register AND g.process_date = b.process_date
                    AND g.status IN ('ok', 'partial') AND g.imported_at > b.imported_at)
GROUP BY b.register, b.process_date ORDER BY b.process_date, b.register
"""


def _rejected(store: Store) -> list[Item]:
    return [Item("rejected", r["register"], int(r["vouchers"] or 0),
                 f"{r['register']} {r['process_date']}: {plural(int(r['vouchers'] or 0), 'voucher')} held back, "
                 "not imported since",
                 f"rejected at {r['rejected_at']:%Y-%m-%d %H:%M}",
                 f"posync validate --date {r['process_date']} --remote {r['register']}   # fix the register, then: "
                 f"posync import --date {r['process_date']} --remote {r['register']}")
            for r in _rows(store, REJECTED_SQL)]


def _source_changes(store: Store) -> list[Item]:
    return [Item("source_changes", c.register, c.total,
                 f"{c.register} {c.process_date}: {plural(c.total, 'voucher')} changed at the register since "
                 "their import, not applied", c.words(), "   or   ".join(c.commands()))
            for c in changes.summaries(store.con)]


NO_SALES_SQL = """
WITH latest AS (SELECT register, process_date, read FROM import_batches b JOIN remotes r ON r.name = b.register
                QUALIFY row_number() OVER (PARTITION BY register ORDER BY process_date DESC, imported_at DESC) = 1),
     sold AS (SELECT register, last_sales AS day FROM register_sales)
SELECT l.register, l.process_date, s.day AS last_sales FROM latest l JOIN sold s USING (register)
WHERE l.read = 0 AND s.day < l.process_date ORDER BY l.register
"""


def _no_sales(store: Store) -> list[Item]:
    return [Item("no_sales", r["register"], 0,
                 f"{r['register']}: no vouchers on {r['process_date']}; last sales {r['last_sales']}",
                 command=f"check that {r['register']} is on and recording sales; then posync import --date "
                         f"{r['process_date']} --remote {r['register']}")
            for r in _rows(store, NO_SALES_SQL)]


def _quiet(registers: list[dict[str, Any]], today: dt.date, days: int) -> list[Item]:
    out = []
    for r in registers:
        since = r["last_sales"] or (r["added_at"].date() if r["added_at"] else today)
        idle = (today - since).days
        if idle > days:
            last = f"last sales {r['last_sales']}" if r["last_sales"] else "no sales imported yet"
            out.append(Item("quiet", r["register"], idle, f"{r['register']}: no sales in main for {idle} days ({last})",
                            command=f"check that {r['register']} is on and recording sales; then posync import --date "
                                    f"yesterday --remote {r['register']}"))
    return out


def _extras(store: Store, action: str, kind: str) -> list[Item]:
    """Registers whose last loyalty or rules sync left conflicts or rejections (the log row says which)."""
    command = f"posync {action.split()[0]} sync --remote"
    return [Item(kind, r["register"], 1, f"{r['register']}: its last {action} left {r['status']} rows",
                 r["message"][:300], f"{command} {r['register']}   # after fixing them at the register")
            for r in _rows(store, f"SELECT * FROM ({_LATEST}) WHERE status IN ('conflict', 'rejected') "
                                  "ORDER BY register", [action])]


def _suspect_rules(store: Store, now: dt.datetime) -> list[Item]:
    rows = _rows(store, "SELECT rule_id, source_register, updated_at FROM commercial_rules "
                        "WHERE updated_at > ? ORDER BY rule_id", [now + SKEW])
    return [Item("suspect_rule", r["source_register"], 1,
                 f"rule {r['rule_id']} (from {r['source_register']}) has updated_at {r['updated_at']}, in the future: "
                 "applied, but an edit with a true clock can't replace it",
                 command=f"fix the clock of {r['source_register']} and the rule's updated_at there; then "
                         "posync rules sync") for r in rows]


PENDING_SQL = """
SELECT register, mode, tables, created_at, message FROM pushes WHERE status = 'pending'
ORDER BY created_at, register
"""


def _pending(store: Store) -> list[Item]:
    return [Item("pending_push", p["register"], 1,
                 f"{p['register']}: a {p['mode']} push of {p['tables']} did not reach it "
                 f"({p['created_at']:%Y-%m-%d %H:%M})", command=f"posync catalogs push --mode {p['mode']} "
                 f"--remote {p['register']}   # reconciles it") for p in _rows(store, PENDING_SQL)]


GAPS_SQL = """
SELECT g.voucher_code, any_value(o.register) AS register, any_value(g.gaps) AS gaps, any_value(g.missing) AS missing
FROM numbering_gaps g LEFT JOIN voucher_code_owners o USING (voucher_code)
GROUP BY g.voucher_code ORDER BY g.voucher_code
"""


def _gaps(store: Store) -> list[Item]:
    out = []
    for g in _rows(store, GAPS_SQL):
        spans = [(int(x["lo"]), int(x["hi"])) for x in g["gaps"]]
        out.append(Item("numbering_gap", g["register"], int(g["missing"]), format_gaps(g["voucher_code"], spans),
                        command="find the missing sales at the register and import their date again"))
    return out


def health(store: Store, quiet_days: int = DEFAULT_QUIET_DAYS, now: dt.datetime | None = None) -> Health:
    """Everything in main that needs a person right now."""
    now = now or dt.datetime.now()
    registers = _rows(store, REGISTERS_SQL)
    items = [*_unreadable(store), *_rejected(store), *_source_changes(store), *_no_sales(store),
             *_quiet(registers, now.date(), quiet_days), *_extras(store, "loyalty sync", "loyalty"),
             *_extras(store, "rules sync", "rules"), *_suspect_rules(store, now), *_pending(store), *_gaps(store)]
    return Health(now, quiet_days, tuple(registers), tuple(items), store.run, store.as_of)
