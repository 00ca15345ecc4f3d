"""Import batches, and putting main back as it was before one (`posync batches list`, `posync import undo`).

Every row an import writes carries its batch (`batch_id` on vouchers, voucher types and code ownership);
a voucher it overwrote is saved as it was, with its lines and payments, in `batch_saved_*`, and so are
the register's recorded changes at source for the date. Undoing a batch deletes the rows it wrote and
puts back the rows it saved: main is then, row for row, what it was before the batch. The saved rows are
kept UNDO_DAYS days; after that a batch can no longer be undone, and its saved rows are dropped.

A batch whose vouchers a later batch overwrote can't be undone alone (the later batch saved this one's
rows, not the ones before): undo the later one first, or both with `cascade`, newest first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb

from etl import ledger
from etl.errors import ConfigError
from etl.i18n import Nn_, Said, _, ngettext
from etl.store import Store

UNDO_DAYS = 30
SAVED = ("vouchers", "voucher_lines", "payments", "source_changes")
UNDOABLE = ("ok", "partial")


@dataclass(frozen=True)
class BatchUndo:
    """What undoing one batch does (or, in a dry run, would do)."""

    batch_id: str
    register: str
    process_date: dt.date
    mode: str
    imported_at: dt.datetime
    removed: int  # vouchers the batch wrote, deleted
    restored: int  # vouchers it had overwritten, put back as they were
    released: tuple[str, ...]  # codes whose ownership the batch created, released

    def sentence(self) -> str:
        """What undoing the batch does, for the reader (--json gives the counts)."""
        parts = [ngettext("removed %(num)s voucher it added", "removed %(num)s vouchers it added", self.removed)] \
            if self.removed or not self.restored else []
        if self.restored:
            parts.append(ngettext("put back %(num)s voucher it had overwritten, as before it",
                                  "put back %(num)s vouchers it had overwritten, as before it", self.restored))
        if self.released:
            parts.append(_("released %(codes)s", codes=", ".join(self.released)))
        return _("%(batch)s (%(register)s, %(date)s, %(mode)s, imported %(at)s): %(what)s", batch=self.batch_id,
                 register=self.register, date=str(self.process_date), mode=self.mode,
                 at=f"{self.imported_at:%Y-%m-%d %H:%M}", what=", ".join(parts))


def listing(store: Store, process_date: dt.date | None = None, register: str | None = None,
            limit: int = 200) -> list[dict[str, Any]]:
    """Import batches, newest first, with until when each can be undone."""
    rows = store.con.execute(
        f"""SELECT batch_id AS batch, register, process_date AS date, mode, status, read, inserted, updated,
                   skipped, rejected AS held_back, imported_at,
                   CASE WHEN undone_at IS NOT NULL THEN 'undone ' || strftime(undone_at, '%Y-%m-%d %H:%M')
                        WHEN status NOT IN {UNDOABLE} THEN 'nothing to undo'
                        WHEN identity IS NULL THEN 'imported before undo existed'
                        WHEN imported_at < now()::TIMESTAMP - INTERVAL {UNDO_DAYS} DAY THEN 'expired'
                        ELSE 'until ' || strftime(imported_at + INTERVAL {UNDO_DAYS} DAY, '%Y-%m-%d') END AS undo
            FROM import_batches
            WHERE (?::DATE IS NULL OR process_date = ?) AND (?::VARCHAR IS NULL OR register = ?)
            ORDER BY imported_at DESC, register LIMIT ?""",
        [process_date, process_date, register, register, limit]).to_arrow_table()
    listed: list[dict[str, Any]] = rows.to_pylist()
    return listed


_EXPIRED = f"""saved_by IN (SELECT batch_id FROM import_batches
                             WHERE imported_at < now()::TIMESTAMP - INTERVAL {UNDO_DAYS} DAY)"""


def prune(store: Store) -> None:
    """Drop what batches older than UNDO_DAYS saved: they can no longer be undone (one transaction, when any)."""
    if not any(store.con.execute(f"SELECT 1 FROM batch_saved_{t} WHERE {_EXPIRED} LIMIT 1").fetchone()
               for t in SAVED):
        return
    with store.transaction() as con:
        for table in SAVED:
            con.execute(f"DELETE FROM batch_saved_{table} WHERE {_EXPIRED}")


# --- undo ----------------------------------------------------------------------------------------------


def _batch(con: duckdb.DuckDBPyConnection, batch_id: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = con.execute(
        f"""SELECT batch_id, register, process_date, mode, status, identity, imported_at, undone_at,
                   imported_at < now()::TIMESTAMP - INTERVAL {UNDO_DAYS} DAY AS expired
            FROM import_batches WHERE batch_id = ?""", [batch_id]).to_arrow_table().to_pylist()
    if not rows:
        raise ConfigError(Said("no import batch %(batch)s; `posync batches list` shows them.", batch=batch_id))
    return rows[0]


def _refuse_unless_undoable(b: dict[str, Any]) -> None:
    bid = b["batch_id"]
    if b["undone_at"] is not None:
        raise ConfigError(Said("batch %(batch)s was already undone, at %(at)s.", batch=bid,
                               at=f"{b['undone_at']:%Y-%m-%d %H:%M}"))
    if b["status"] not in UNDOABLE:
        raise ConfigError(Said("batch %(batch)s was %(status)s: it changed nothing in main, so there is nothing to "
                               "undo.", batch=bid, status=b["status"]))
    if b["identity"] is None:
        raise ConfigError(Said("batch %(batch)s was imported by a posync that kept no undo data; it cannot be "
                               "undone.", batch=bid))
    if b["expired"]:
        raise ConfigError(Said("batch %(batch)s was imported on %(day)s: what it replaced is kept %(days)s days, so "
                               "it can no longer be undone.", batch=bid, day=f"{b['imported_at']:%Y-%m-%d}",
                               days=str(UNDO_DAYS)))


def _overwritten_by(con: duckdb.DuckDBPyConnection, batch_id: str) -> list[tuple[str, int]]:
    """Later live batches that overwrote vouchers this batch wrote, with how many."""
    return [(b, int(n)) for b, n in con.execute(
        """SELECT s.saved_by, count(*) FROM batch_saved_vouchers s JOIN import_batches b ON b.batch_id = s.saved_by
           WHERE s.batch_id = ? AND b.undone_at IS NULL GROUP BY ALL ORDER BY min(b.imported_at)""",
        [batch_id]).fetchall()]


def _order(con: duckdb.DuckDBPyConnection, batch_id: str, cascade: bool) -> list[dict[str, Any]]:
    """The batches to undo, newest first: this one, and with cascade every later one that overwrote it."""
    target = _batch(con, batch_id)
    _refuse_unless_undoable(target)
    later = _overwritten_by(con, batch_id)
    if later and not cascade:
        first, n = later[0]
        b = _batch(con, first)
        others = Said(Nn_(" (and %(num)s other batch)", " (and %(num)s other batches)"), num=len(later) - 1) \
            if len(later) > 1 else ""
        raise ConfigError(Said(Nn_(
            "batch %(batch)s cannot be undone alone: later batch %(first)s (%(register)s, %(date)s, %(mode)s, "
            "imported %(at)s)%(others)s changed %(num)s voucher it wrote; undo %(first)s first, or add --cascade to "
            "undo both, newest first.",
            "batch %(batch)s cannot be undone alone: later batch %(first)s (%(register)s, %(date)s, %(mode)s, "
            "imported %(at)s)%(others)s changed %(num)s vouchers it wrote; undo %(first)s first, or add --cascade to "
            "undo both, newest first."), num=n, batch=batch_id, first=first, register=b["register"],
            date=str(b["process_date"]), mode=b["mode"], at=f"{b['imported_at']:%Y-%m-%d %H:%M}", others=others))
    found = {batch_id: target}
    todo = [b for b, _ in later]
    while todo:
        bid = todo.pop()
        if bid in found:
            continue
        found[bid] = _batch(con, bid)
        _refuse_unless_undoable(found[bid])
        todo += [b for b, _ in _overwritten_by(con, bid)]
    return sorted(found.values(), key=lambda b: b["imported_at"], reverse=True)


def _undo_one(con: duckdb.DuckDBPyConnection, b: dict[str, Any], undoing: list[str]) -> BatchUndo:
    """Delete what the batch wrote, put back what it saved, release what it made owned (no vouchers left)."""
    bid = b["batch_id"]
    removed = _scalar(con, """SELECT count(*) FROM vouchers v WHERE batch_id = ? AND NOT EXISTS
                              (SELECT 1 FROM batch_saved_vouchers s WHERE s.saved_by = ?
                               AND s.voucher_code = v.voucher_code AND s.number = v.number)""", [bid, bid])
    restored = _scalar(con, "SELECT count(*) FROM batch_saved_vouchers WHERE saved_by = ?", [bid])
    for table in ("payments", "voucher_lines"):
        con.execute(f"""DELETE FROM {table} WHERE (voucher_code, number) IN
                        (SELECT (voucher_code, number) FROM vouchers WHERE batch_id = ?)""", [bid])
    con.execute("DELETE FROM vouchers WHERE batch_id = ?", [bid])
    for table in ("vouchers", "voucher_lines", "payments"):
        con.execute(f"INSERT INTO {table} SELECT * EXCLUDE (saved_by) FROM batch_saved_{table} WHERE saved_by = ?",
                    [bid])
    if not _scalar(con, """SELECT count(*) FROM import_batches WHERE register = ? AND process_date = ?
                           AND imported_at > ? AND undone_at IS NULL AND NOT list_contains(?, batch_id)""",
                   [b["register"], b["process_date"], b["imported_at"], undoing]):
        # no later import of this register and date recorded its own view of the changes at source
        con.execute("DELETE FROM source_changes WHERE register = ? AND process_date = ?",
                    [b["register"], b["process_date"]])
        con.execute("INSERT INTO source_changes SELECT * EXCLUDE (saved_by) FROM batch_saved_source_changes "
                    "WHERE saved_by = ?", [bid])
    con.execute("UPDATE import_batches SET undone_at = now()::TIMESTAMP WHERE batch_id = ?", [bid])
    # ownership (and voucher types) made by an undone batch go once main holds no voucher of them any more
    undone = "batch_id IN (SELECT batch_id FROM import_batches WHERE undone_at IS NOT NULL)"
    unused = f"{undone} AND NOT EXISTS (SELECT 1 FROM vouchers v WHERE v.voucher_code = o.voucher_code)"
    released = [r[0] for r in con.execute(
        f"SELECT voucher_code FROM voucher_code_owners o WHERE {unused} ORDER BY 1").fetchall()]
    con.execute(f"DELETE FROM voucher_code_owners o WHERE {unused}")
    con.execute(f"""DELETE FROM voucher_types t WHERE {undone} AND NOT EXISTS
                    (SELECT 1 FROM vouchers v WHERE v.register = t.register AND v.voucher_code = t.code)""")
    for table in SAVED:
        con.execute(f"DELETE FROM batch_saved_{table} WHERE saved_by = ?", [bid])
    return BatchUndo(bid, b["register"], b["process_date"], b["mode"], b["imported_at"], removed, restored,
                     tuple(sorted(released)))


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> int:
    row = con.execute(sql, params).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def undo(store: Store, batch_id: str, cascade: bool = False, dry_run: bool = False) -> tuple[BatchUndo, ...]:
    """Undo a batch (and, with cascade, the later ones that overwrote its vouchers): one transaction, logged.

    A dry run does all of it and rolls back, so what it shows is exactly what the undo would do.
    """
    done: list[BatchUndo] = []
    try:
        with store.transaction() as con:
            batches = _order(con, batch_id, cascade)
            ids = [b["batch_id"] for b in batches]
            done = [_undo_one(con, b, ids) for b in batches]
            if dry_run:
                raise _DryRun
            for u in done:
                note = f" (cascade of {batch_id})" if u.batch_id != batch_id else ""
                ledger.log(con, "import undo", "ok", f"undid {u.sentence()}{note}", register=u.register,
                           mode=u.mode, process_date=u.process_date)
    except _DryRun:
        pass
    return tuple(done)


class _DryRun(Exception):
    """Raised inside the transaction of a dry run so that it rolls back."""
