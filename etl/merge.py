"""Staged batches → main: content hashes, the per-voucher plan, and the per-register merge.

Main's tables carry no key constraints; every write is keyed by anti-joins and joins on the
natural key (voucher_code, number), which the validators keep unique per batch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import duckdb
import pyarrow as pa

from etl.faults import checkpoint
from etl.results import Plan
from etl.schema import TABLES
from etl.store import quote
from validators import Decision

KEY = ("voucher_code", "number")


def _values(table: str, alias: str) -> str:
    """The row's non-key values, as arguments to hash()."""
    cols = [c for c in TABLES[table].column_names if c not in KEY]
    return ", ".join(f"{alias}.{quote(c)}" for c in cols)


def voucher_hashes(vouchers: str, lines: str, payments: str, by_register: bool = True) -> str:
    """SQL: one content_hash per voucher over its header, lines and payments (staged, or main's own).

    DuckDB's 64-bit hash() per row, summed per voucher (order-free, and unlike XOR two equal
    lines don't cancel), then hashed with the header: 20x cheaper than md5 over ordered text,
    which took half the import's time. hash() is stable for the pinned DuckDB version.
    """
    key = "register, voucher_code, number" if by_register else "voucher_code, number"
    return f"""
        WITH l AS (SELECT {key}, sum(hash({_values('voucher_lines', 'x')})) AS h FROM {lines} x GROUP BY ALL),
             p AS (SELECT {key}, sum(hash({_values('payments', 'x')})) AS h FROM {payments} x GROUP BY ALL)
        SELECT {', '.join(f'v.{k.strip()}' for k in key.split(','))},
               printf('%016x', hash({_values('vouchers', 'v')}, l.h, p.h)) AS content_hash
        FROM {vouchers} v LEFT JOIN l USING ({key}) LEFT JOIN p USING ({key})
        WHERE v.voucher_code IS NOT NULL AND v.number IS NOT NULL"""


def create_hashes(con: duckdb.DuckDBPyConnection) -> None:
    """temp.hashes, empty: one content_hash per staged voucher (see voucher_hashes), added register by register.

    In `temp`, not in the compressed stage: each register's insert there compressed the table again
    (0.07-0.2 s a register against 0.03 s). Only the run's own connection reads it.
    """
    con.execute("CREATE OR REPLACE TEMP TABLE hashes AS "
                + voucher_hashes("stage.vouchers", "stage.voucher_lines", "stage.payments") + " LIMIT 0")


def drop_hashes(con: duckdb.DuckDBPyConnection, register: str) -> None:
    """Forget one register's hashes (its staging failed after they were taken)."""
    con.execute("DELETE FROM temp.hashes WHERE register = ?", [register])


def add_hashes(con: duckdb.DuckDBPyConnection, register: str) -> None:
    """Hash one register's staged vouchers, once it is staged.

    Register by register, so that the aggregation's memory follows one register's day: over the
    whole stage at once it was the run's largest spike (60 MB more for ten registers).
    """
    own = "(SELECT * FROM stage.{} WHERE register = $register)".format
    con.execute("INSERT INTO temp.hashes " + voucher_hashes(own("vouchers"), own("voucher_lines"), own("payments")),
                {"register": register})


def record_decision(con: duckdb.DuckDBPyConnection, decision: Decision) -> None:
    """stage.rejected: every voucher held back, by key; whole codes (--hold code) as rows with a NULL number,
    whole registers as rows with NULL keys.

    A voucher held back for having no voucher_code is left out: it has no plan row to hold back
    (hashes skip NULL keys), and a row with a NULL code here would read as its whole register.
    """
    keys: list[tuple[str, str | None, int | None]] = sorted(
        (k for k in decision.rejected_keys if k[1] is not None and k[2] is not None),
        key=lambda k: (k[0], k[1], k[2]))
    keys += sorted((r, c, None) for r, c in decision.held_codes)
    keys += [(r, None, None) for r in sorted(decision.rejected_registers)]
    rows = pa.table({
        "register": pa.array([k[0] for k in keys], pa.string()),
        "voucher_code": pa.array([k[1] for k in keys], pa.string()),
        "number": pa.array([k[2] for k in keys], pa.int64()),
    })
    con.register("rejected_rows", rows)
    try:
        con.execute("CREATE OR REPLACE TABLE stage.rejected AS SELECT * FROM rejected_rows")
    finally:
        con.unregister("rejected_rows")


def build_plan(con: duckdb.DuckDBPyConnection) -> None:
    """stage.plan: per staged voucher, new | unchanged | changed | held_back, against main."""
    con.execute(
        """
        CREATE OR REPLACE TABLE stage.plan AS
        WITH whole AS (SELECT register FROM stage.rejected WHERE voucher_code IS NULL),
             codes AS (SELECT DISTINCT register, voucher_code FROM stage.rejected
                       WHERE voucher_code IS NOT NULL AND number IS NULL),
             keyed AS (SELECT DISTINCT register, voucher_code, number FROM stage.rejected
                       WHERE voucher_code IS NOT NULL AND number IS NOT NULL),
             dupes AS (SELECT register, voucher_code, number FROM temp.hashes GROUP BY ALL HAVING count(*) > 1)
        SELECT DISTINCT ON (h.register, h.voucher_code, h.number)
               h.register, h.voucher_code, h.number, h.content_hash,
               CASE WHEN w.register IS NOT NULL OR c.register IS NOT NULL OR k.number IS NOT NULL
                         OR d.number IS NOT NULL THEN 'held_back'
                    WHEN m.number IS NULL THEN 'new'
                    WHEN m.content_hash IS NOT DISTINCT FROM h.content_hash THEN 'unchanged'
                    ELSE 'changed' END AS action
        FROM temp.hashes h
        LEFT JOIN whole w ON w.register = h.register
        LEFT JOIN codes c ON c.register = h.register AND c.voucher_code = h.voucher_code
        LEFT JOIN keyed k ON k.register = h.register AND k.voucher_code = h.voucher_code AND k.number = h.number
        LEFT JOIN dupes d ON d.register = h.register AND d.voucher_code = h.voucher_code AND d.number = h.number
        LEFT JOIN vouchers m ON m.voucher_code = h.voucher_code AND m.number = h.number
        """
    )


def missing_at_register(con: duckdb.DuckDBPyConnection, process_date: dt.date) -> dict[str, int]:
    """Vouchers main holds for this date that their register no longer has (reported, never deleted)."""
    rows = con.execute(
        """
        SELECT v.register, count(*) FROM vouchers v
        WHERE v.date = ? AND v.register IN (SELECT DISTINCT register FROM temp.hashes)
          AND NOT EXISTS (SELECT 1 FROM temp.hashes h WHERE h.register = v.register
                          AND h.voucher_code = v.voucher_code AND h.number = v.number)
        GROUP BY v.register
        """,
        [process_date],
    ).fetchall()
    return {r: int(n) for r, n in rows}


def plans(con: duckdb.DuckDBPyConnection, process_date: dt.date) -> dict[str, Plan]:
    """Plan counts per register, counted over the staged rows (FAULTS 53).

    A row staged twice under one key is two rows held back, never one held back and one skipped;
    a row without a key (check 5 held it back) has no plan row and is counted held back too.
    """
    missing = missing_at_register(con, process_date)
    rows = con.execute(
        """SELECT s.register, count(*) FILTER (p.action = 'new'), count(*) FILTER (p.action = 'unchanged'),
                  count(*) FILTER (p.action = 'changed'), count(*) FILTER (p.action IS NULL OR p.action = 'held_back')
           FROM stage.vouchers s LEFT JOIN stage.plan p USING (register, voucher_code, number)
           GROUP BY s.register"""
    ).fetchall()
    out = {r: Plan(int(n), int(u), int(c), missing.get(r, 0), int(h)) for r, n, u, c, h in rows}
    for register, count in missing.items():
        out[register] = replace(out.get(register, Plan()), missing_at_register=count)
    return out


def _insert_children(con: duckdb.DuckDBPyConnection, table: str, register: str, actions: str) -> int:
    cols = ", ".join(f"s.{quote(c)}" for c in TABLES[table].column_names)
    result = con.execute(
        f"""INSERT INTO {table} SELECT s.register, {cols}, now()::TIMESTAMP
            FROM stage.{table} s JOIN stage.plan p
              ON p.register = s.register AND p.voucher_code = s.voucher_code AND p.number = s.number
            WHERE s.register = ? AND p.action IN ({actions})""",
        [register],
    ).fetchone()
    return int(result[0]) if result else 0


def merge_register(con: duckdb.DuckDBPyConnection, register: str, overwrite: bool, batch_id: str) -> tuple[int, int]:
    """Write one register's accepted vouchers into main as batch `batch_id`; (inserted, updated).

    Every row written carries the batch; a voucher it overwrites is first saved as it was (with its
    lines and payments), so that `import undo` can put it back exactly. Caller owns the transaction.
    """
    actions = "'new', 'changed'" if overwrite else "'new'"
    if overwrite:
        for table in ("payments", "voucher_lines", "vouchers"):
            con.execute(
                f"""INSERT INTO batch_saved_{table} SELECT ?, m.* FROM {table} m JOIN stage.plan p
                      ON p.voucher_code = m.voucher_code AND p.number = m.number
                    WHERE p.register = ? AND p.action = 'changed'""",
                [batch_id, register],
            )
            con.execute(
                f"""DELETE FROM {table} USING stage.plan p
                    WHERE p.register = ? AND p.action = 'changed'
                      AND {table}.voucher_code = p.voucher_code AND {table}.number = p.number""",
                [register],
            )
    cols = ", ".join(f"s.{quote(c)}" for c in TABLES["vouchers"].column_names)
    con.execute(
        f"""INSERT INTO vouchers SELECT s.register, {cols}, p.content_hash, now()::TIMESTAMP, ?
            FROM stage.vouchers s JOIN stage.plan p
              ON p.register = s.register AND p.voucher_code = s.voucher_code AND p.number = s.number
            WHERE s.register = ? AND p.action IN ({actions})""",
        [batch_id, register],
    )
    checkpoint("merge_rows")  # headers written, lines and payments not yet: a kill here must leave neither
    for table in ("voucher_lines", "payments"):
        _insert_children(con, table, register, actions)
    _merge_reference_data(con, register, batch_id)
    counts = con.execute(
        "SELECT count(*) FILTER (action = 'new'), count(*) FILTER (action = 'changed') FROM stage.plan "
        "WHERE register = ?",
        [register],
    ).fetchone()
    inserted, changed = (int(counts[0]), int(counts[1])) if counts else (0, 0)
    return inserted, changed if overwrite else 0


def _merge_reference_data(con: duckdb.DuckDBPyConnection, register: str, batch_id: str) -> None:
    """New voucher types of this register, and ownership of the codes it just imported cleanly."""
    con.execute(
        """INSERT INTO voucher_types
           SELECT DISTINCT ON (s.code) s.register, s.code, s.name, s.kind, now()::TIMESTAMP, ?
           FROM stage.voucher_types s
           WHERE s.register = ? AND s.code IS NOT NULL AND s.kind IS NOT NULL AND s._bad IS NULL
             AND NOT EXISTS (SELECT 1 FROM voucher_types t WHERE t.register = s.register AND t.code = s.code)""",
        [batch_id, register],
    )
    con.execute(
        """INSERT INTO voucher_code_owners
           SELECT DISTINCT p.voucher_code, p.register, now()::TIMESTAMP, ? FROM stage.plan p
           WHERE p.register = ? AND p.action <> 'held_back'
             AND NOT EXISTS (SELECT 1 FROM voucher_code_owners o WHERE o.voucher_code = p.voucher_code)""",
        [batch_id, register],
    )
