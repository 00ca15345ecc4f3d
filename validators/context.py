"""What every check receives: the staged batches (SQL relations) and the run's facts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb


@dataclass(frozen=True)
class Batches:
    """The staged batches of every selected register, as tables in one DuckDB connection.

    stage.vouchers / stage.voucher_lines / stage.payments / stage.voucher_types hold the rows
    extracted from each register (column `register`, canonical columns, `_bad`); the main
    store's tables are visible unqualified. Checks only read.
    """

    con: duckdb.DuckDBPyConnection

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Run a query and return its (small) result as dicts."""
        rows: list[dict[str, Any]] = self.con.execute(sql, params or []).to_arrow_table().to_pylist()
        return rows


@dataclass(frozen=True)
class Context:
    process_date: dt.date
    today: dt.date
    registers: tuple[str, ...]
    sample_size: int = 3
    hold: str = "register"  # register | code: what a code clash holds back (the messages say which)
