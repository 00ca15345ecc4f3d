"""Shared fixtures: a CLI runner bound to a main store under tmp_path, and sample registers."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner, Result

from etl import i18n
from etl.cli import cli
from sample_data import SampleSpec, generate

DAY1 = "2026-11-26"

# The suite speaks English whatever the machine's locale (a developer's LANG=es_CO.UTF-8 included), also in
# the posync subprocesses it starts; tests of the Spanish side ask for it (tests/test_i18n.py).
os.environ["POSYNC_LANG"] = "en"


@pytest.fixture(autouse=True)
def _english_after_each_test() -> Iterator[None]:
    """A test that ran posync in Spanish leaves the process speaking English again (the language is global)."""
    yield
    i18n.set_language("en")

# What differs between two runs that import the same data: when, and under which batch and run.
RUN_COLUMNS = {"vouchers": ("imported_at", "batch_id"), "voucher_types": ("imported_at", "batch_id"),
               "voucher_lines": ("imported_at",), "payments": ("imported_at",),
               "import_batches": ("batch_id", "imported_at", "identity", "run_id")}


def content_sql(table: str, *also: str) -> str:
    """SELECT of a main table as an import decides it, without RUN_COLUMNS (and `also`), in a stable order."""
    return f"SELECT * EXCLUDE ({', '.join((*RUN_COLUMNS[table], *also))}) FROM {table} ORDER BY ALL"


class Posync:
    """Runs `posync --db <tmp>/main.duckdb …` in-process and reads main back."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.runner = CliRunner()

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return self.runner.invoke(cli, ["--db", str(self.db), *args], env=env, catch_exceptions=False)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Query the main store (no posync run may be holding it)."""
        con = duckdb.connect(str(self.db), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        return self.rows(sql, params)[0][0]


def copy_world(template: Path, dest: Path) -> Posync:
    """Copy a prepared folder (main.duckdb + its registers) and point its remotes at the copy."""
    shutil.copytree(template, dest)
    db = dest / "main.duckdb"
    con = duckdb.connect(str(db))
    try:
        con.execute("UPDATE remotes SET path = replace(path, ?, ?)", [str(template), str(dest)])
    finally:
        con.close()
    return Posync(db)


@pytest.fixture
def posync(tmp_path: Path) -> Posync:
    return Posync(tmp_path / "main.duckdb")


@pytest.fixture
def make_registers(tmp_path: Path) -> Callable[..., list[Path]]:
    """Generate sample registers under tmp_path/<folder>."""

    def make(folder: str = "registers", **spec: Any) -> list[Path]:
        return generate(tmp_path / folder, SampleSpec(**spec))

    return make


@pytest.fixture
def three_registers(posync: Posync, make_registers: Callable[..., list[Path]]) -> list[Path]:
    """caja1..caja3 (canonical SQLite, one day of 20 vouchers each), registered in main."""
    paths = make_registers(registers=3, vouchers_per_day=20)
    for path in paths:
        assert posync("remote", "add", path.stem, str(path)).exit_code == 0
    return paths


def sqlite_exec(path: Path, *statements: str) -> None:
    """Change a register the way its POS would."""
    con = sqlite3.connect(path)
    try:
        for statement in statements:
            con.execute(statement)
        con.commit()
    finally:
        con.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """One real PostgreSQL server for the session (tests/pg.py); skips when no server binary exists."""
    from tests import pg

    if pg.find_bindir() is None:
        if os.environ.get("POSYNC_REQUIRE_PG"):  # set by .ci/run: in CI these tests never skip
            pytest.fail(pg.SKIP_REASON, pytrace=False)
        pytest.skip(pg.SKIP_REASON)
    server = pg.start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_database(pg_server: Any) -> Callable[..., str]:
    """A factory of fresh, empty PostgreSQL databases on the session's server: call it, get a URI."""
    return pg_server.database  # type: ignore[no-any-return]
