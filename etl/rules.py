"""Commercial rules ("reglas comerciales"): upsert by rule_id, the newer `updated_at` wins.

Every register's whole commercial_rules table is staged (`stage.commercial_rules`) and
`plan()` decides, set-based, across all registers of the sync at once:

- rows that do not cast, lack rule_id/updated_at, carry `params` that is not valid JSON, or
  repeat a rule_id at one register are ``rejected`` (named: register and rule_id);
- per rule_id, only the newest `updated_at` sent counts. If two registers sent *different*
  content with that same newest `updated_at`, it is a ``conflict``: neither is applied and
  every register involved is named (FAULTS 38);
- otherwise the newest version is compared with main: ``new`` (main has none), ``update``
  (newer than main's), ``unchanged``, ``older`` (main's is newer: an older `updated_at` never
  overwrites a newer one), or ``conflict_main`` (same `updated_at` as main's, different content).
  When several registers sent the same newest version, the first by name is its source and the
  others count it as ``duplicate``;
- an `updated_at` in the future (beyond SKEW) is ``suspect`` (register clock skew, FAULTS 20):
  still applied if it wins, but named in the report, and in a conflict.

Content = name, kind, params (as minified JSON, so spacing does not count), validity and active.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb

from etl import ledger
from etl.errors import HELD_BACK
from etl.extract import bad_text
from etl.ledger import Counts
from etl.store import Store
from validators.findings import plural

ACTION = "rules sync"
SKEW = dt.timedelta(hours=2)  # an updated_at further ahead than this is from a skewed clock
SAMPLES = 5

_COLUMNS = ("rule_id", "name", "kind", "params", "valid_from", "valid_to", "active", "updated_at")
_CONTENT = ("CAST(ROW(name, kind, CASE WHEN json_valid(params) THEN json(params)::VARCHAR ELSE params END, "
            "valid_from, valid_to, active) AS VARCHAR)")


@dataclass(frozen=True)
class RuleOutcome:
    """What one rules sync did with one register's rules.

    counts: read; inserted; updated; skipped = unchanged, older or duplicate; rejected = bad rows + conflicts.
    """

    register: str
    counts: Counts
    conflicts: int = 0
    bad_rows: int = 0
    suspect: int = 0
    details: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        if self.bad_rows:
            return "rejected"
        if self.conflicts:
            return "conflict"
        return "warning" if self.suspect else "ok"

    @property
    def exit_code(self) -> int:
        return HELD_BACK if self.bad_rows or self.conflicts else 0

    @property
    def message(self) -> str:
        c = self.counts
        parts = [f"new {c.inserted}", f"updated {c.updated}", f"unchanged or older {c.skipped}"]
        if self.conflicts:
            parts.append(f"{plural(self.conflicts, 'conflict')}, not applied")
        if self.bad_rows:
            parts.append(f"{self.bad_rows} rejected")
        if self.suspect:
            parts.append(f"{self.suspect} with updated_at in the future (suspect)")
        return ", ".join(parts) + ("; " + "; ".join(self.details) if self.details else "")


PLAN_SQL = f"""
CREATE OR REPLACE TABLE stage.rules_plan AS
WITH s AS (
    SELECT *, md5({_CONTENT}) AS content_hash,
           count(*) OVER (PARTITION BY register, rule_id) AS copies,
           updated_at > $now::TIMESTAMP + $skew::INTERVAL AS suspect
    FROM stage.commercial_rules
), checked AS (
    SELECT *,
           CASE WHEN _bad IS NOT NULL THEN {bad_text()}
                WHEN rule_id IS NULL THEN 'no rule_id'
                WHEN updated_at IS NULL THEN 'no updated_at'
                WHEN params IS NOT NULL AND NOT json_valid(params) THEN 'params is not valid JSON'
                WHEN copies > 1 THEN 'rule_id twice at this register'
           END AS problem
    FROM s
), ok AS (
    SELECT * FROM checked WHERE problem IS NULL
), newest AS (
    SELECT rule_id, max(updated_at) AS updated_at FROM ok GROUP BY rule_id
), verdict AS (
    SELECT ok.rule_id, count(DISTINCT ok.content_hash) AS versions, min(ok.register) AS source,
           list(DISTINCT ok.register ORDER BY ok.register) AS registers
    FROM ok JOIN newest USING (rule_id, updated_at) GROUP BY ok.rule_id
)
SELECT c.register, c.rule_id, c.name, c.kind, c.params, c.valid_from, c.valid_to, c.active, c.updated_at,
       c.content_hash, c.problem, c.suspect, v.registers AS rivals, n.updated_at AS newest,
       m.updated_at AS main_updated_at, m.source_register AS main_source,
       m.updated_at > $now::TIMESTAMP + $skew::INTERVAL AS main_suspect,
       CASE WHEN c.problem IS NOT NULL THEN 'rejected'
            WHEN c.updated_at < n.updated_at THEN 'older'
            WHEN v.versions > 1 THEN 'conflict'
            WHEN m.rule_id IS NOT NULL AND c.updated_at < m.updated_at THEN 'older'
            WHEN m.rule_id IS NOT NULL AND c.updated_at = m.updated_at AND c.content_hash = m.content_hash
                THEN 'unchanged'
            WHEN m.rule_id IS NOT NULL AND c.updated_at = m.updated_at THEN 'conflict_main'
            WHEN c.register <> v.source THEN 'duplicate'
            WHEN m.rule_id IS NULL THEN 'new'
            ELSE 'update'
       END AS action
FROM checked c
LEFT JOIN newest n ON n.rule_id = c.rule_id
LEFT JOIN verdict v ON v.rule_id = c.rule_id
LEFT JOIN commercial_rules m ON m.rule_id = c.rule_id
"""


def plan(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> None:
    """stage.rules_plan: one action per staged rule (see the module doc)."""
    con.execute(PLAN_SQL, {"now": now, "skew": f"{int(SKEW.total_seconds())} seconds"})


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = con.execute(sql, params).to_arrow_table().to_pylist()
    return rows


def _ts(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, dt.datetime) else str(value)


def _details(con: duckdb.DuckDBPyConnection, register: str) -> tuple[str, ...]:
    """Sentences naming each conflict, rejection and suspect timestamp of one register (a few of each)."""
    out: list[str] = []
    for r in _rows(con, "SELECT * FROM stage.rules_plan WHERE register = ? AND action = 'conflict' "
                        "ORDER BY rule_id LIMIT ?", [register, SAMPLES]):
        skew = " (suspect: updated_at in the future, clock skew?)" if r["suspect"] else ""
        rivals = " and ".join(r["rivals"])
        out.append(f"conflict: rule {r['rule_id']} sent by {rivals} with the same updated_at "
                   f"{_ts(r['updated_at'])}{skew} but different content; neither applied")
    for r in _rows(con, "SELECT * FROM stage.rules_plan WHERE register = ? AND action = 'conflict_main' "
                        "ORDER BY rule_id LIMIT ?", [register, SAMPLES]):
        who = "this register earlier" if r["main_source"] == register else str(r["main_source"])
        out.append(f"conflict: rule {r['rule_id']} has the same updated_at {_ts(r['updated_at'])} as main's "
                   f"version (from {who}) but different content; main kept, bump updated_at to apply it")
    for r in _rows(con, "SELECT * FROM stage.rules_plan WHERE register = ? AND action = 'rejected' "
                        "ORDER BY rule_id NULLS FIRST LIMIT ?", [register, SAMPLES]):
        value = f" ({r['params'][:60]!r})" if r["problem"] == "params is not valid JSON" else ""
        out.append(f"rejected: register {register}, rule {r['rule_id'] or '(no id)'}: {r['problem']}{value}")
    for r in _rows(con, "SELECT * FROM stage.rules_plan WHERE register = ? "
                        "AND action NOT IN ('rejected', 'conflict') "
                        "AND (suspect OR (action = 'older' AND main_suspect)) ORDER BY rule_id LIMIT ?",
                   [register, SAMPLES]):
        if r["suspect"]:
            out.append(f"suspect: rule {r['rule_id']} has updated_at {_ts(r['updated_at'])}, in the future "
                       "(register clock skew?)")
        else:
            out.append(f"suspect: rule {r['rule_id']} in main has updated_at {_ts(r['main_updated_at'])} "
                       f"(from {r['main_source']}), in the future; this register's edit can't replace it "
                       "until fixed")
    return tuple(out)


def apply(store: Store, registers: tuple[str, ...], run_id: str,
          now: dt.datetime | None = None) -> list[RuleOutcome]:
    """Decide across every staged register; then one main transaction: the rules, a log row per register."""
    plan(store.con, now or dt.datetime.now())
    outcomes = []
    for register in registers:
        row = store.con.execute(
            """SELECT count(*), count(*) FILTER (action = 'new'), count(*) FILTER (action = 'update'),
                      count(*) FILTER (action IN ('unchanged', 'older', 'duplicate')),
                      count(*) FILTER (action IN ('conflict', 'conflict_main')),
                      count(*) FILTER (action = 'rejected'),
                      count(*) FILTER (suspect OR (action = 'older' AND main_suspect))
               FROM stage.rules_plan WHERE register = ?""",
            [register],
        ).fetchone()
        read, new, updated, skipped, conflicts, bad, suspect = (int(v) for v in row) if row else (0,) * 7
        counts = Counts(read, new, updated, skipped, bad + conflicts)
        outcomes.append(RuleOutcome(register, counts, conflicts, bad, suspect, _details(store.con, register)))
    cols = ", ".join(_COLUMNS)
    with store.transaction() as con:
        con.execute("DELETE FROM commercial_rules WHERE rule_id IN "
                    "(SELECT rule_id FROM stage.rules_plan WHERE action = 'update')")
        con.execute(
            f"""INSERT INTO commercial_rules ({cols}, source_register, content_hash, imported_at)
                SELECT {cols}, register, content_hash, now()::TIMESTAMP FROM stage.rules_plan
                WHERE action IN ('new', 'update')"""
        )
        for o in outcomes:
            ledger.log(con, ACTION, o.status, o.message, register=o.register, counts=o.counts, run_id=run_id)
    return outcomes


def listing(store: Store, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every rule in main, by rule_id; `suspect` when its updated_at is in the future (a register's clock ahead)."""
    cols = ", ".join(_COLUMNS)
    sql = (f"SELECT {cols}, source_register, imported_at, updated_at > ?::TIMESTAMP AS suspect "
           "FROM commercial_rules ORDER BY rule_id")
    return _rows(store.con, sql, [(now or dt.datetime.now()) + SKEW])
