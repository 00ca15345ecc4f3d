"""Loyalty points ("fidelización"): movements keyed by (register, movement_id), balances as a SUM.

A register's whole loyalty_movements table is staged on every sync (it is small) in
`stage.loyalty_movements`; `plan()` sorts each staged row, set-based, into:

- ``new``        not in main yet, and its voucher (if any) is in main for that register → inserted;
- ``unchanged``  in main with the same content hash → skipped (a rerun never counts points twice);
- ``conflict``   in main with a different content: edited at the register after import → reported,
                 main keeps its version (FAULTS 37);
- ``held_back``  tied to a voucher that is not in main (held back by validation, or not imported yet)
                 → waits, and comes in on a later sync once its voucher lands;
- ``rejected``   values that do not cast, a missing key/customer/points, half a voucher reference, or
                 the same movement_id twice at one register → reported with samples.

A customer's balance is always `sum(points)` over main's movements, never a stored counter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from etl import ledger
from etl.errors import HELD_BACK
from etl.extract import bad_text
from etl.i18n import Said
from etl.ledger import Counts
from etl.store import Store

ACTION = "loyalty sync"
SAMPLES = 3

_COLUMNS = ("movement_id", "customer_id", "date", "points", "voucher_code", "number")


@dataclass(frozen=True)
class LoyaltyOutcome:
    """What one loyalty sync did for one register.

    counts: read; inserted; skipped = unchanged + held back; rejected = bad rows + conflicts.
    details: one sentence per conflict / rejection / hold, for the report (samples only).
    """

    register: str
    counts: Counts
    unchanged: int = 0
    held_back: int = 0
    conflicts: int = 0
    bad_rows: int = 0
    details: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        if self.bad_rows:
            return "rejected"
        if self.conflicts:
            return "conflict"
        return "warning" if self.held_back else "ok"

    @property
    def exit_code(self) -> int:
        """3 when something the register sent was not applied (bad rows, conflicts); a hold is normal."""
        return HELD_BACK if self.bad_rows or self.conflicts else 0

    @property
    def message(self) -> str:
        """The log row's text: counts, then each conflict, rejection and hold in words."""
        head = Said("new %(new)s, unchanged %(unchanged)s", new=str(self.counts.inserted),
                    unchanged=str(self.unchanged))
        return Said("%(parts)s", sep="; ", parts=(head, *self.details))


PLAN_SQL = f"""
CREATE OR REPLACE TABLE stage.loyalty_plan AS
WITH s AS (
    SELECT *,
           md5(CAST(ROW(customer_id, date, points, voucher_code, number) AS VARCHAR)) AS content_hash,
           count(*) OVER (PARTITION BY register, movement_id) AS copies
    FROM stage.loyalty_movements
), checked AS (
    SELECT s.*,
           CASE WHEN s._bad IS NOT NULL THEN {bad_text("s._bad")}
                WHEN s.movement_id IS NULL THEN 'no movement_id'
                WHEN s.customer_id IS NULL THEN 'no customer_id'
                WHEN s.points IS NULL THEN 'no points'
                WHEN (s.voucher_code IS NULL) <> (s.number IS NULL) THEN 'half a voucher reference'
                WHEN s.copies > 1 THEN 'movement_id twice at this register'
           END AS problem
    FROM s
)
SELECT c.register, c.movement_id, c.customer_id, c.date, c.points, c.voucher_code, c.number,
       c.content_hash, c.problem,
       m.customer_id AS main_customer_id, m.date AS main_date, m.points AS main_points,
       m.voucher_code AS main_voucher_code, m.number AS main_number,
       CASE WHEN c.problem IS NOT NULL THEN 'rejected'
            WHEN m.movement_id IS NOT NULL AND m.content_hash = c.content_hash THEN 'unchanged'
            WHEN m.movement_id IS NOT NULL THEN 'conflict'
            WHEN c.voucher_code IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM vouchers v WHERE v.register = c.register
                   AND v.voucher_code = c.voucher_code AND v.number = c.number) THEN 'held_back'
            ELSE 'new'
       END AS action
FROM checked c
LEFT JOIN loyalty_movements m ON m.register = c.register AND m.movement_id = c.movement_id
"""


def plan(con: duckdb.DuckDBPyConnection) -> None:
    """stage.loyalty_plan: one action per staged movement, against main (see the module doc)."""
    con.execute(PLAN_SQL)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = con.execute(sql, params).to_arrow_table().to_pylist()
    return rows


def _describe(points: Any, customer: Any, date: Any, code: Any, number: Any) -> str:
    """One movement in words.

    >>> _describe(218, "C0007", "2026-11-26", "FV1", 1003)
    '218 points for C0007 on 2026-11-26 (FV1 1003)'
    """
    voucher = f" ({code} {number})" if code is not None else ""
    return Said("%(points)s points for %(customer)s on %(date)s%(voucher)s", points=str(points), customer=str(customer),
                date=str(date), voucher=voucher)


def _details(con: duckdb.DuckDBPyConnection, register: str) -> tuple[str, ...]:
    """Sample sentences: conflicts, rejections, holds (a few of each)."""
    out: list[str] = []
    # a total, not a window: see catalogs.load.SAMPLES
    conflicts = _rows(con, "WITH c AS MATERIALIZED (SELECT * FROM stage.loyalty_plan WHERE register = ? "
                           "AND action = 'conflict') SELECT *, (SELECT count(*) FROM c) AS n FROM c "
                           "ORDER BY movement_id LIMIT ?", [register, SAMPLES])
    if conflicts:
        n = int(conflicts[0]["n"])
        out.append(Said("%(n)s conflict: edited at the register after import, main kept", n=n) if n == 1 else
                   Said("%(n)s conflicts: edited at the register after import, main kept", n=n))
    for r in conflicts:
        was = _describe(r["main_points"], r["main_customer_id"], r["main_date"], r["main_voucher_code"],
                        r["main_number"])
        now = _describe(r["points"], r["customer_id"], r["date"], r["voucher_code"], r["number"])
        out.append(Said("conflict: movement %(movement)s was imported as %(was)s, the register now says %(now)s",
                        movement=str(r["movement_id"]), was=was, now=now))
    for r in _rows(con, "SELECT problem, count(*) AS n, "
                        "list(coalesce(movement_id, '(none)') ORDER BY movement_id) AS ids "
                        "FROM stage.loyalty_plan WHERE register = ? AND action = 'rejected' "
                        "GROUP BY problem ORDER BY problem", [register]):
        ids = ", ".join(r["ids"][:SAMPLES]) + (" …" if r["n"] > SAMPLES else "")
        n = int(r["n"])
        out.append(Said("rejected %(n)s movement: %(problem)s (e.g. %(ids)s)", n=n, problem=r["problem"], ids=ids)
                   if n == 1 else
                   Said("rejected %(n)s movements: %(problem)s (e.g. %(ids)s)", n=n, problem=r["problem"], ids=ids))
    held = _rows(con, "SELECT count(*) AS n, list(DISTINCT voucher_code || ' ' || number) AS v "
                      "FROM stage.loyalty_plan WHERE register = ? AND action = 'held_back'", [register])[0]
    if held["n"]:
        vouchers = sorted(held["v"])
        more = " …" if len(vouchers) > SAMPLES else ""
        sample = ", ".join(vouchers[:SAMPLES])
        out.append(Said("held back %(n)s: voucher not in main yet (e.g. %(sample)s%(more)s)", n=str(held["n"]),
                        sample=sample, more=more))
    return tuple(out)


def apply(store: Store, registers: tuple[str, ...], run_id: str) -> list[LoyaltyOutcome]:
    """Plan the staged movements, then one main transaction per register: its new movements + its log row."""
    plan(store.con)
    outcomes = []
    for register in registers:
        row = store.con.execute(
            """SELECT count(*), count(*) FILTER (action = 'new'), count(*) FILTER (action = 'unchanged'),
                      count(*) FILTER (action = 'held_back'), count(*) FILTER (action = 'conflict'),
                      count(*) FILTER (action = 'rejected')
               FROM stage.loyalty_plan WHERE register = ?""",
            [register],
        ).fetchone()
        read, new, unchanged, held, conflicts, bad = (int(v) for v in row) if row else (0,) * 6
        details = _details(store.con, register)
        counts = Counts(read=read, inserted=new, skipped=unchanged + held, rejected=bad + conflicts)
        outcome = LoyaltyOutcome(register, counts, unchanged, held, conflicts, bad, details)
        cols = ", ".join(_COLUMNS)
        with store.transaction() as con:
            con.execute(
                f"""INSERT INTO loyalty_movements (register, {cols}, content_hash, imported_at)
                    SELECT register, {cols}, content_hash, now()::TIMESTAMP FROM stage.loyalty_plan
                    WHERE register = ? AND action = 'new'""",
                [register],
            )
            ledger.log(con, ACTION, outcome.status, outcome.message, register=register, counts=counts,
                       run_id=run_id)
        outcomes.append(outcome)
    return outcomes


def balances(store: Store, customer: str | None = None) -> list[dict[str, Any]]:
    """Points per customer in main ("examinar puntos"): a SUM over the movements, never a counter."""
    return _rows(
        store.con,
        """SELECT m.customer_id, any_value(c.name) AS name, sum(m.points)::BIGINT AS points,
                  count(*) AS movements, count(DISTINCT m.register) AS registers, max(m.date) AS last_movement
           FROM loyalty_movements m LEFT JOIN customers c ON c.customer_id = m.customer_id
           WHERE ?::VARCHAR IS NULL OR m.customer_id = ?
           GROUP BY m.customer_id ORDER BY m.customer_id""",
        [customer, customer],
    )


def movements(store: Store, customer: str) -> list[dict[str, Any]]:
    """One customer's movements in main, oldest first."""
    return _rows(
        store.con,
        """SELECT date, register, movement_id, points, voucher_code || ' ' || number AS voucher, imported_at
           FROM loyalty_movements WHERE customer_id = ? ORDER BY date, register, movement_id""",
        [customer],
    )
