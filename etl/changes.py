"""Changes at the source: vouchers voided, edited or gone at a register after their import (never silent).

An import without --overwrite leaves main's version of a voucher that changed at the register, and
nothing ever deletes a voucher that is gone from it. Each such difference is recorded in main's
`source_changes` table by the import that found it (in the register's own transaction), shown on
that import's output, in its JSON and log row, and by `posync status` (exit 1), until it is
applied (`import --overwrite`, which updates the voucher) or an operator accepts it as deliberate
(`posync changes accept`, with a reason, logged). An accepted difference is not raised again
while the register keeps that same content; if the voucher changes again, it is raised again.

Kinds: `void` (issued in main, void at the register: the case users care most about),
`changed` (any other content), `gone` (in main for that date, no longer at the register).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb

from etl import ledger
from etl.errors import ConfigError
from etl.i18n import NP_, Said
from etl.store import Store
from validators.findings import plural

KINDS = (NP_("change", "void"), NP_("change", "changed"), NP_("change", "gone"))  # said with word("change", …)
EXAMPLES = 3

# Every difference between what main holds for the day and what the registers now hold, per register.
STAGE_SQL = """
CREATE OR REPLACE TABLE stage.changes AS
SELECT p.register, p.voucher_code, p.number, m.content_hash AS main_hash, p.content_hash AS source_hash,
       CASE WHEN m.status = 'issued' AND s.status = 'void' THEN 'void' ELSE 'changed' END AS kind
FROM stage.plan p
JOIN vouchers m ON m.voucher_code = p.voucher_code AND m.number = p.number
JOIN (SELECT DISTINCT ON (register, voucher_code, number) * FROM stage.vouchers) s
  ON s.register = p.register AND s.voucher_code = p.voucher_code AND s.number = p.number
WHERE p.action = 'changed'
UNION ALL
SELECT v.register, v.voucher_code, v.number, v.content_hash, NULL, 'gone' FROM vouchers v
WHERE v.date = ? AND v.register IN (SELECT DISTINCT register FROM temp.hashes)
  AND NOT EXISTS (SELECT 1 FROM temp.hashes h WHERE h.register = v.register
                  AND h.voucher_code = v.voucher_code AND h.number = v.number)
"""

_ACCEPTED = """NOT EXISTS (SELECT 1 FROM source_changes a WHERE a.status = 'accepted' AND a.register = c.register
                   AND a.voucher_code = c.voucher_code AND a.number = c.number AND a.kind = c.kind
                   AND a.source_hash IS NOT DISTINCT FROM c.source_hash)"""


@dataclass(frozen=True)
class Changes:
    """The differences one register shows for one date that main has not taken: counts and a few examples."""

    register: str
    process_date: dt.date
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def applicable(self) -> int:
        """Those an import with --overwrite applies (a gone voucher is never deleted)."""
        return self.counts.get("void", 0) + self.counts.get("changed", 0)

    def words(self) -> str:
        """'2 voided (FV1 1003, FV1 1007), 1 gone (FV1 1005)'."""
        parts = []
        for kind in KINDS:
            if n := self.counts.get(kind, 0):
                more = " …" if n > len(self.examples.get(kind, ())) else ""
                examples = tuple(self.examples.get(kind, ()))
                said = {"void": Said("%(n)s voided (%(examples)s%(more)s)", n=n, examples=examples, more=more),
                        "changed": Said("%(n)s changed (%(examples)s%(more)s)", n=n,
                                        examples=examples, more=more),
                        "gone": Said("%(n)s gone from the register (%(examples)s%(more)s)", n=n,
                                     examples=examples, more=more)}
                parts.append(said[kind])
        return Said("%(parts)s", parts=tuple(parts))

    def commands(self) -> tuple[str, ...]:
        """The exact commands that resolve them."""
        day, out = self.process_date.isoformat(), []
        if self.applicable:
            out.append(f"posync import --date {day} --remote {self.register} --overwrite")
        out.append(f'posync changes accept --date {day} --remote {self.register} --reason "…"')
        return tuple(out)

    def sentence(self) -> str:
        """One line for the import's output, the log and the sync cycle."""
        if self.applicable:
            return Said("changed at the register since their import, not applied: %(what)s; apply with "
                        "`%(apply)s`, or accept with `%(accept)s`", what=self.words(), apply=self.commands()[0],
                        accept=self.commands()[-1])
        return Said("changed at the register since their import, not applied: %(what)s; a voucher gone from the "
                    "register is never deleted; once checked, accept with `%(accept)s`", what=self.words(),
                    accept=self.commands()[-1])

    def as_dict(self) -> dict[str, Any]:
        return {"register": self.register, "process_date": self.process_date, "counts": self.counts,
                "examples": {k: list(v) for k, v in self.examples.items()}, "commands": list(self.commands())}


def stage(con: duckdb.DuckDBPyConnection, process_date: dt.date) -> None:
    """stage.changes, after the plan: what differs between main and the staged registers."""
    con.execute(STAGE_SQL, [process_date])


def pending(con: duckdb.DuckDBPyConnection, register: str, process_date: dt.date, overwrite: bool) -> Changes:
    """What this import leaves unapplied for one register (from stage.changes, minus accepted differences)."""
    kinds = "('gone')" if overwrite else "('void', 'changed', 'gone')"
    rows = con.execute(
        f"""SELECT kind, count(*), list(voucher_code || ' ' || number ORDER BY voucher_code, number)[1:{EXAMPLES}]
            FROM stage.changes c WHERE c.register = ? AND c.kind IN {kinds} AND {_ACCEPTED} GROUP BY kind""",
        [register]).fetchall()
    return Changes(register, process_date, {k: int(n) for k, n, _ in rows}, {k: tuple(e) for k, _, e in rows})


def record(con: duckdb.DuckDBPyConnection, register: str, process_date: dt.date, overwrite: bool,
           batch_id: str) -> None:
    """Inside the register's merge transaction: its pending differences for the date become what this import saw.

    Vouchers held back now keep whatever was recorded for them before (this import could not judge them).
    What was recorded before is saved with the batch, for `import undo`.
    """
    con.execute("INSERT INTO batch_saved_source_changes SELECT ?, * FROM source_changes "
                "WHERE register = ? AND process_date = ?", [batch_id, register, process_date])
    con.execute("""DELETE FROM source_changes WHERE register = ? AND process_date = ? AND status = 'pending'
                   AND NOT EXISTS (SELECT 1 FROM stage.plan p WHERE p.register = source_changes.register
                                   AND p.voucher_code = source_changes.voucher_code
                                   AND p.number = source_changes.number AND p.action = 'held_back')""",
                [register, process_date])
    kinds = "('gone')" if overwrite else "('void', 'changed', 'gone')"
    con.execute(
        f"""INSERT INTO source_changes
            SELECT c.register, ?, c.voucher_code, c.number, c.kind, c.main_hash, c.source_hash, now()::TIMESTAMP,
                   'pending', NULL, NULL
            FROM stage.changes c WHERE c.register = ? AND c.kind IN {kinds} AND {_ACCEPTED}""",
        [process_date, register])


def listing(store: Store, everything: bool = False) -> list[dict[str, Any]]:
    """Pending differences (and, with everything, accepted ones), oldest date first."""
    rows: list[dict[str, Any]] = store.con.execute(
        """SELECT register, process_date, voucher_code, number, kind, status, seen_at, reason, accepted_at
           FROM source_changes WHERE ? OR status = 'pending' ORDER BY process_date, register, voucher_code, number""",
        [everything]).to_arrow_table().to_pylist()
    return rows


def summaries(con: duckdb.DuckDBPyConnection, register: str | None = None,
              process_date: dt.date | None = None) -> list[Changes]:
    """Recorded pending differences per (register, date): for `status`, and for a rerun that found nothing new."""
    rows = con.execute(
        f"""SELECT register, process_date, kind, count(*),
                   list(voucher_code || ' ' || number ORDER BY voucher_code, number)[1:{EXAMPLES}]
            FROM source_changes WHERE status = 'pending' AND (?::VARCHAR IS NULL OR register = ?)
              AND (?::DATE IS NULL OR process_date = ?)
            GROUP BY ALL ORDER BY process_date, register, kind""",
        [register, register, process_date, process_date]).fetchall()
    out: dict[tuple[str, dt.date], Changes] = {}
    for register, day, kind, n, examples in rows:
        c = out.setdefault((register, day), Changes(register, day))
        c.counts[kind] = int(n)
        c.examples[kind] = tuple(examples)
    return list(out.values())


def accept(store: Store, process_date: dt.date, register: str, reason: str,
           vouchers: tuple[tuple[str, int], ...] = ()) -> int:
    """Mark a register's pending differences of a date as deliberate (all, or the vouchers given); logged."""
    if not reason.strip():
        raise ConfigError(Said("say why with --reason: the log keeps it beside the differences accepted."))
    with store.transaction() as con:
        con.execute("CREATE OR REPLACE TEMP TABLE accept_keys (voucher_code VARCHAR, number BIGINT)")
        if vouchers:
            con.executemany("INSERT INTO temp.accept_keys VALUES (?, ?)", list(vouchers))
        where = ("register = ? AND process_date = ? AND status = 'pending'"
                 + (" AND (voucher_code, number) IN (SELECT (voucher_code, number) FROM temp.accept_keys)"
                    if vouchers else ""))
        row = con.execute(f"SELECT count(*) FROM source_changes WHERE {where}", [register, process_date]).fetchone()
        count = int(row[0]) if row else 0
        if not count:
            raise ConfigError(Said("register %(register)s has no pending changes at source for %(date)s; "
                                   "`posync changes list` shows them.", register=register, date=str(process_date)))
        con.execute(f"UPDATE source_changes SET status = 'accepted', reason = ?, accepted_at = now()::TIMESTAMP "
                    f"WHERE {where}", [reason, register, process_date])
        ledger.log(con, "changes accept", "ok", f"{plural(count, 'difference')} accepted as deliberate: {reason}",
                   register=register, process_date=process_date)
    return count
