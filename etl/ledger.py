"""sync_log and import_batches rows. Callers write them inside the transaction of the change they log."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import duckdb

from etl.errors import ConfigError
from etl.i18n import Said

# Every action posync writes to sync_log (what `posync log --action` accepts).
ACTIONS = ("import", "validate", "sync", "loyalty sync", "rules sync", "push", "restore", "catalog load",
           "remote add", "remote edit", "remote remove", "remote rename", "numbering set", "changes accept",
           "codes assign", "codes release", "import undo", "upgrade")


@dataclass(frozen=True)
class Counts:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0


def log(
    con: duckdb.DuckDBPyConnection,
    action: str,
    status: str,
    message: str = "",
    *,
    register: str | None = None,
    mode: str | None = None,
    process_date: dt.date | None = None,
    counts: Counts = Counts(),
    run_id: str | None = None,
) -> None:
    """Append one sync_log row (status: ok, warning, rejected, error, skipped)."""
    assert action in ACTIONS, f"unknown log action {action!r}: add it to ledger.ACTIONS"
    con.execute(
        "INSERT INTO sync_log VALUES (?, now()::TIMESTAMP, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [str(uuid.uuid4()), run_id, register, action, mode, process_date, counts.read, counts.inserted,
         counts.updated, counts.skipped, counts.rejected, status, str(message)],
    )


def new_batch_id() -> str:
    """A fresh id for one import batch: what `batches list` shows and `import undo` takes.

    >>> bid = new_batch_id(); bid.startswith("b-") and len(bid)
    14
    """
    return "b-" + uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Batch:
    """One register's import of one date: what `import_batches` records."""

    batch_id: str
    register: str
    process_date: dt.date
    mode: str
    identity: str  # the snapshot, mapping and reading rules it was read from (see pipeline._identity)
    run_id: str


def record_batch(con: duckdb.DuckDBPyConnection, batch: Batch, counts: Counts, status: str) -> None:
    sha = batch.identity.partition(":")[0]
    con.execute(
        "INSERT INTO import_batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP, ?, ?, NULL)",
        [batch.batch_id, batch.register, batch.process_date, batch.mode, sha, counts.read, counts.inserted,
         counts.updated, counts.skipped, counts.rejected, status, batch.identity, batch.run_id],
    )


def imported_identically(con: duckdb.DuckDBPyConnection, register: str, process_date: dt.date, mode: str,
                         identity: str) -> bool:
    """A batch of this register, date and mode read this same snapshot cleanly, and was not undone."""
    row = con.execute("SELECT 1 FROM import_batches WHERE register = ? AND process_date = ? AND mode = ? "
                      "AND identity = ? AND status = 'ok' AND undone_at IS NULL LIMIT 1",
                      [register, process_date, mode, identity]).fetchone()
    return row is not None


def clean_identities(con: duckdb.DuckDBPyConnection, mode: str, dates: list[dt.date]
                     ) -> set[tuple[str, dt.date, str]]:
    """(register, date, identity) of every clean batch of those dates and that mode not undone."""
    rows = con.execute("SELECT register, process_date, identity FROM import_batches WHERE mode = ? "
                       "AND list_contains(?, process_date) AND identity IS NOT NULL AND status = 'ok' "
                       "AND undone_at IS NULL", [mode, dates]).fetchall()
    return {(str(r), d, str(i)) for r, d, i in rows}


def new_run_id() -> str:
    return dt.datetime.now().strftime("%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]


def entries(con: duckdb.DuckDBPyConnection, register: str | None = None, action: str | None = None,
            since: dt.date | None = None, limit: int = 50) -> list[dict[str, object]]:
    """The newest sync_log rows first, filtered ("Examinar log").

    A register that never existed in this store is a usage error (a typo must not read as an empty log);
    a register removed since is fine: its history stays.
    """
    if register is not None and not con.execute(
            "SELECT 1 FROM remotes WHERE name = ? UNION ALL SELECT 1 FROM sync_log WHERE register = ? LIMIT 1",
            [register, register]).fetchone():
        known = [r[0] for r in con.execute("SELECT name FROM remotes ORDER BY name").fetchall()]
        if known:
            raise ConfigError(Said("no register named %(register)s has ever been in this store; registers: "
                                   "%(known)s.", register=register, known=", ".join(known)))
        raise ConfigError(Said("no register named %(register)s has ever been in this store.", register=register))
    rows = con.execute(
        """SELECT logged_at, register, action, mode, process_date, read, inserted, updated, skipped, rejected,
                  status, message
           FROM sync_log
           WHERE (?::VARCHAR IS NULL OR register = ?) AND (?::VARCHAR IS NULL OR action = ?)
             AND (?::DATE IS NULL OR logged_at >= ?)
           ORDER BY logged_at DESC LIMIT ?""",
        [register, register, action, action, since, since, limit],
    ).to_arrow_table()
    listed: list[dict[str, object]] = rows.to_pylist()
    return listed
