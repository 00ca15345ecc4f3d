"""UNIQUE constraints on the natural keys of a PostgreSQL main store (FAULTS 41), as a migration step.

A PostgreSQL main store's run lock can be lost while the run goes on (the lock session is
terminated, the server restarts); every transaction proves it still holds the lock
(postgres.RunLock.prove), and these constraints are the second wall: a duplicate insert fails
its whole transaction instead of landing. A DuckDB main keeps no key constraints (measured
slower, and its flock can't be lost while the process lives).

The step is run through DuckDB's postgres_query/postgres_execute, inside the migration's own
transaction (same PostgreSQL transaction: all constraints are added, or none).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
from sqlglot import exp

from etl.errors import PosyncError
from etl.i18n import Nn_, Said

NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "vouchers": ("voucher_code", "number"),
    "voucher_lines": ("voucher_code", "number", "line_no"),
    "payments": ("voucher_code", "number", "seq"),
    "loyalty_movements": ("register", "movement_id"),
    "commercial_rules": ("rule_id",),
    "voucher_code_owners": ("voucher_code",),
    "import_batches": ("batch_id",),
    "remotes": ("name",),
    "push_state": ("register", "table_name", "key"),
}


def _pg(name: str) -> str:
    return exp.to_identifier(name).sql("postgres", identify=True)


@dataclass(frozen=True)
class Unique:
    """One natural key: its table and columns, the constraint's DDL, and the query that finds its duplicates."""

    table: str
    columns: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.table}_natural_key"

    def ddl(self) -> str:
        cols = ", ".join(_pg(c) for c in self.columns)
        return f"ALTER TABLE {_pg(self.table)} ADD CONSTRAINT {_pg(self.name)} UNIQUE ({cols})"

    def duplicates_sql(self) -> str:
        """The keys that occur more than once (rows with a NULL in the key don't count: UNIQUE allows them)."""
        cols = ", ".join(self.columns)
        present = " AND ".join(f"{c} IS NOT NULL" for c in self.columns)
        return (f"SELECT {cols}, count(*) AS copies FROM {self.table} WHERE {present} "
                f"GROUP BY {cols} HAVING count(*) > 1")


def natural_keys() -> list[Unique]:
    return [Unique(table, columns) for table, columns in NATURAL_KEYS.items()]


def add_natural_keys(con: duckdb.DuckDBPyConnection, catalog: str, store: str) -> None:
    """Migration step, PostgreSQL main only: add every UNIQUE constraint; refuse, naming the table, on duplicates.

    Runs inside the caller's (migration) transaction; a refusal rolls all of it back.
    """
    for key in natural_keys():
        row = con.execute("SELECT * FROM postgres_query(?, ?)",
                          [catalog, f"SELECT count(*) AS n FROM ({key.duplicates_sql()}) d"]).fetchone()
        if row and row[0]:
            raise PosyncError(Said(Nn_(
                "main store %(store)s: cannot add the unique key (%(columns)s) to table %(table)s: %(num)s key occurs "
                "more than once (left by runs that overlapped before posync checked its run lock); list them with "
                "`%(sql)s`, remove the extra copies, then run again (nothing was changed).",
                "main store %(store)s: cannot add the unique key (%(columns)s) to table %(table)s: %(num)s keys occur "
                "more than once (left by runs that overlapped before posync checked its run lock); list them with "
                "`%(sql)s`, remove the extra copies, then run again (nothing was changed)."),
                num=int(row[0]), store=store, columns=", ".join(key.columns), table=key.table,
                sql=key.duplicates_sql()))
        try:
            con.execute("CALL postgres_execute(?, ?)", [catalog, key.ddl()])
        except duckdb.Error as err:  # e.g. "must be owner of table": the tables belong to another role
            reason = str(err).strip().rpartition("ERROR:")[2].strip().splitlines()[0]  # the server's own words
            raise PosyncError(Said(
                "main store %(store)s: cannot add the unique key (%(columns)s) to table %(table)s (%(why)s); run "
                "posync once as the tables' owner, or make posync's role their owner (ALTER TABLE … OWNER TO), then "
                "run again (nothing was changed).", store=store, columns=", ".join(key.columns), table=key.table,
                why=reason)) from None
