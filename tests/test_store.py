"""The main store: created on first use, versioned, one run at a time (exit 4)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from etl.store import SCHEMA_VERSION, open_store
from tests.conftest import Posync


def test_schema_is_created_and_versioned(posync: Posync) -> None:
    open_store(str(posync.db)).close()
    assert posync.rows("SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    tables = {r[0] for r in posync.rows("SELECT table_name FROM duckdb_tables()")}
    assert {"remotes", "vouchers", "voucher_lines", "payments", "voucher_code_owners", "sync_log",
            "import_batches", "pushes", "push_state"} <= tables


def test_reopening_does_not_migrate_again(posync: Posync) -> None:
    open_store(str(posync.db)).close()
    open_store(str(posync.db)).close()
    assert posync("remote", "list").exit_code == 0
    assert posync.scalar("SELECT count(*) FROM schema_version") == 1


def test_a_mistyped_store_is_one_clear_error_and_nothing_is_created(posync: Posync, tmp_path: Path) -> None:
    typo = tmp_path / "tipo" / "posync.duckdb"
    for command in (("status",), ("log",), ("remote", "list"), ("import", "--date", "2026-11-26")):
        result = Posync(typo)(*command)
        assert result.exit_code == 2
        assert result.stderr == (f"error: no main store at {typo}; create it with `posync remote add NAME PATH`, "
                                 "or give the right one with --db or POSYNC_DB.\n")
    assert not typo.parent.exists()


def test_second_run_gets_exit_4_naming_the_store(tmp_path: Path) -> None:
    db = tmp_path / "main.duckdb"
    holder = open_store(str(db))
    try:
        done = subprocess.run([sys.executable, "-m", "etl", "--db", str(db), "import", "--date", "2026-11-26"],
                              capture_output=True, text=True, timeout=60)
    finally:
        holder.close()
    assert done.returncode == 4
    assert "another posync run (pid" in done.stderr and str(db) in done.stderr
    assert "Traceback" not in done.stderr


def test_db_from_environment(tmp_path: Path) -> None:
    db = tmp_path / "env.duckdb"
    result = Posync(tmp_path / "unused.duckdb").runner.invoke(
        __import__("etl.cli", fromlist=["cli"]).cli, ["numbering", "set", "FV1", "--prefix", "SETT", "--from", "1",
                                                      "--to", "9"], env={"POSYNC_DB": str(db)}
    )
    assert result.exit_code == 0
    assert db.exists()


def test_db_that_is_not_duckdb_is_one_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "main.duckdb"
    bogus.write_text("voucher_code,number\nFV1,1\n")
    result = Posync(bogus)("remote", "list")
    assert result.exit_code == 1
    assert "cannot open the main store" in result.stderr
