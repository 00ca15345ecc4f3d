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
from etl.i18n import Said
from etl.rules import SKEW
from etl.store import Store
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
        out.append(Item("unreadable", r["register"], 1, Said("%(register)s could not be read in its last import "
                        "(%(at)s)", register=r["register"], at=f"{r['logged_at']:%Y-%m-%d %H:%M}"), r["message"],
                        Said("posync remote list   # then: %(command)s",
                             command=f"posync import{day} --remote {r['register']}")))
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
                 Said("%(register)s %(date)s: %(n)s vouchers held back, not imported since", register=r["register"],
                      date=str(r["process_date"]), n=int(r["vouchers"] or 0)) if int(r["vouchers"] or 0) != 1 else
                 Said("%(register)s %(date)s: %(n)s voucher held back, not imported since", register=r["register"],
                      date=str(r["process_date"]), n=1),
                 Said("rejected at %(at)s", at=f"{r['rejected_at']:%Y-%m-%d %H:%M}"),
                 Said("%(validate)s   # fix the register, then: %(import_)s",
                      validate=f"posync validate --date {r['process_date']} --remote {r['register']}",
                      import_=f"posync import --date {r['process_date']} --remote {r['register']}"))
            for r in _rows(store, REJECTED_SQL)]


def _source_changes(store: Store) -> list[Item]:
    return [Item("source_changes", c.register, c.total,
                 Said("%(register)s %(date)s: %(n)s vouchers changed at the register since their import, not "
                      "applied", register=c.register, date=str(c.process_date), n=c.total) if c.total != 1 else
                 Said("%(register)s %(date)s: %(n)s voucher changed at the register since their import, not "
                      "applied", register=c.register, date=str(c.process_date), n=1),
                 c.words(), "   or   ".join(c.commands()))
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
                 Said("%(register)s: no vouchers on %(date)s; last sales %(last)s", register=r["register"],
                      date=str(r["process_date"]), last=str(r["last_sales"])),
                 command=Said("check that %(register)s is on and recording sales; then %(command)s",
                              register=r["register"],
                              command=f"posync import --date {r['process_date']} --remote {r['register']}"))
            for r in _rows(store, NO_SALES_SQL)]


def _quiet(registers: list[dict[str, Any]], today: dt.date, days: int) -> list[Item]:
    out = []
    for r in registers:
        since = r["last_sales"] or (r["added_at"].date() if r["added_at"] else today)
        idle = (today - since).days
        if idle > days:
            last = Said("last sales %(last)s", last=str(r["last_sales"])) if r["last_sales"] \
                else Said("no sales imported yet")
            out.append(Item("quiet", r["register"], idle,
                            Said("%(register)s: no sales in main for %(idle)s days (%(last)s)", register=r["register"],
                                 idle=str(idle), last=last),
                            command=Said("check that %(register)s is on and recording sales; then %(command)s",
                                         register=r["register"],
                                         command=f"posync import --date yesterday --remote {r['register']}")))
    return out


def _extras(store: Store, action: str, kind: str) -> list[Item]:
    """Registers whose last loyalty or rules sync left conflicts or rejections (the log row says which)."""
    command = f"posync {action.split()[0]} sync --remote"
    return [Item(kind, r["register"], 1, Said("%(register)s: its last %(action)s left %(status)s rows",
                                              register=r["register"], action=action, status=r["status"]),
                 r["message"][:300], Said("%(command)s   # after fixing them at the register",
                                          command=f"{command} {r['register']}"))
            for r in _rows(store, f"SELECT * FROM ({_LATEST}) WHERE status IN ('conflict', 'rejected') "
                                  "ORDER BY register", [action])]


def _suspect_rules(store: Store, now: dt.datetime) -> list[Item]:
    rows = _rows(store, "SELECT rule_id, source_register, updated_at FROM commercial_rules "
                        "WHERE updated_at > ? ORDER BY rule_id", [now + SKEW])
    return [Item("suspect_rule", r["source_register"], 1,
                 Said("rule %(rule)s (from %(register)s) has updated_at %(at)s, in the future: applied, but an edit "
                      "with a true clock can't replace it", rule=r["rule_id"], register=r["source_register"],
                      at=str(r["updated_at"])),
                 command=Said("fix the clock of %(register)s and the rule's updated_at there; then posync rules sync",
                              register=r["source_register"])) for r in rows]


PENDING_SQL = """
SELECT register, mode, tables, created_at, message FROM pushes WHERE status = 'pending'
ORDER BY created_at, register
"""


def _pending(store: Store) -> list[Item]:
    return [Item("pending_push", p["register"], 1,
                 Said("%(register)s: a %(mode)s push of %(tables)s did not reach it (%(at)s)", register=p["register"],
                      mode=p["mode"], tables=str(p["tables"]), at=f"{p['created_at']:%Y-%m-%d %H:%M}"),
                 command=Said("%(command)s   # reconciles it",
                              command=f"posync catalogs push --mode {p['mode']} --remote {p['register']}"))
            for p in _rows(store, PENDING_SQL)]


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
                        command=Said("find the missing sales at the register and import their date again")))
    return out


def health(store: Store, quiet_days: int = DEFAULT_QUIET_DAYS, now: dt.datetime | None = None) -> Health:
    """Everything in main that needs a person right now."""
    now = now or dt.datetime.now()
    registers = _rows(store, REGISTERS_SQL)
    items = [*_unreadable(store), *_rejected(store), *_source_changes(store), *_no_sales(store),
             *_quiet(registers, now.date(), quiet_days), *_extras(store, "loyalty sync", "loyalty"),
             *_extras(store, "rules sync", "rules"), *_suspect_rules(store, now), *_pending(store), *_gaps(store)]
    return Health(now, quiet_days, tuple(registers), tuple(items), store.run, store.as_of)
