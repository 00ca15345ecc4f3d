"""`posync status`: a health summary for monitoring — what needs a person, read from main only.

Four questions, each one query over main:
- registers with no successful import (ok, partial, or an identical snapshot) for more than H hours
  (a register never imported counts once it has been registered for H hours);
- catalog pushes left `pending` (a push that did not reach its register);
- import batches `rejected` for a (register, date) with no later ok/partial batch for it;
- voucher codes with gaps in their consecutive numbers ("FV1 1040–1042 missing").
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from etl.store import Store
from validators.numbering import format_gaps

DEFAULT_STALE_HOURS = 26.0


@dataclass(frozen=True)
class Health:
    checked_at: dt.datetime
    stale_hours: float
    registers: tuple[dict[str, Any], ...]  # every register with its last successful import
    stale: tuple[dict[str, Any], ...]
    pending_pushes: tuple[dict[str, Any], ...]
    rejected_batches: tuple[dict[str, Any], ...]
    numbering_gaps: tuple[dict[str, Any], ...]

    @property
    def problems(self) -> int:
        return sum(map(len, (self.stale, self.pending_pushes, self.rejected_batches, self.numbering_gaps)))

    @property
    def exit_code(self) -> int:
        """0 when all is well, 1 when something needs a person."""
        return 1 if self.problems else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.exit_code == 0, "checked_at": self.checked_at, "stale_hours": self.stale_hours,
            "registers": list(self.registers), "stale_registers": list(self.stale),
            "pending_pushes": list(self.pending_pushes), "rejected_batches": list(self.rejected_batches),
            "numbering_gaps": list(self.numbering_gaps), "exit_code": self.exit_code,
        }


def _rows(store: Store, sql: str, params: list[Any] | None = None) -> tuple[dict[str, Any], ...]:
    return tuple(store.con.execute(sql, params or []).to_arrow_table().to_pylist())


REGISTERS_SQL = """
SELECT r.name AS register, r.added_at,
       (SELECT max(l.logged_at) FROM sync_log l WHERE l.register = r.name AND l.action = 'import'
          AND l.status IN ('ok', 'partial', 'skipped')) AS last_import
FROM remotes r ORDER BY r.name
"""

PENDING_SQL = """
SELECT register, mode, tables, created_at, message FROM pushes WHERE status = 'pending'
ORDER BY created_at, register
"""

REJECTED_SQL = """
SELECT b.register, b.process_date, max(b.imported_at) AS rejected_at, max(b.rejected) AS vouchers
FROM import_batches b
WHERE b.status = 'rejected'
  AND NOT EXISTS (SELECT 1 FROM import_batches g
                  WHERE g.register = b.register AND g.process_date = b.process_date
                    AND g.status IN ('ok', 'partial') AND g.imported_at > b.imported_at)
GROUP BY b.register, b.process_date ORDER BY b.process_date, b.register
"""

GAPS_SQL = """
WITH n AS (SELECT DISTINCT voucher_code, number FROM vouchers
           WHERE voucher_code IS NOT NULL AND number IS NOT NULL),
     g AS (SELECT voucher_code, number,
                  lag(number) OVER (PARTITION BY voucher_code ORDER BY number) AS prev FROM n)
SELECT voucher_code, list({'lo': prev + 1, 'hi': number - 1} ORDER BY number) AS gaps,
       sum(number - prev - 1)::BIGINT AS missing
FROM g WHERE number - prev > 1 GROUP BY voucher_code ORDER BY voucher_code
"""


def health(store: Store, stale_hours: float = DEFAULT_STALE_HOURS, now: dt.datetime | None = None) -> Health:
    """Everything in main that needs a person right now."""
    now = now or dt.datetime.now()
    limit = now - dt.timedelta(hours=stale_hours)
    registers = _rows(store, REGISTERS_SQL)
    stale = tuple(r for r in registers
                  if (r["last_import"] or r["added_at"] or now) < limit)
    gaps = tuple(
        {"voucher_code": g["voucher_code"], "missing": int(g["missing"]),
         "ranges": [[int(x["lo"]), int(x["hi"])] for x in g["gaps"]],
         "message": format_gaps(g["voucher_code"], [(int(x["lo"]), int(x["hi"])) for x in g["gaps"]])}
        for g in _rows(store, GAPS_SQL)
    )
    pending, rejected = _rows(store, PENDING_SQL), _rows(store, REJECTED_SQL)
    return Health(now, stale_hours, registers, stale, pending, rejected, gaps)

