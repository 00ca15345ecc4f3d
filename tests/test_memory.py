"""A run's memory follows one register's day: DuckDB hands back what it keeps between steps (item 4 of
issue 15), and nothing it holds is lost on the way."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl import extract, merge, pipeline, sync
from etl import store as store_module
from etl.store import Store, open_store
from tests.conftest import Posync

STAGED = 1_500_000  # rows: about 20 MB once compressed, well above what shedding keeps


def _kept(con: duckdb.DuckDBPyConnection, tag: str) -> int:
    """Bytes DuckDB holds in memory for a kind of block."""
    row = con.execute("SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = ?", [tag]).fetchone()
    return int(row[0]) if row else 0


def _limit(con: duckdb.DuckDBPyConnection) -> float:
    """DuckDB's memory limit in bytes (it shows it rounded, e.g. '18.8 GiB')."""
    row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    assert row is not None
    number, unit = str(row[0]).split()
    return float(number) * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit]


def _stage_rows(store: Store, rows: int = STAGED) -> tuple[int, int]:
    extract.create_staging(store.con, ("voucher_lines",))
    store.con.execute(f"""INSERT INTO stage.voucher_lines (register, voucher_code, number, line_no, quantity, total)
                          SELECT 'caja' || (i % 7), 'FV' || (i % 13), i, 1, i % 100, i * 0.01
                          FROM range({rows}) t(i)""")
    return store.con.execute("SELECT count(*), sum(number) FROM stage.voucher_lines").fetchone()  # type: ignore


@pytest.fixture
def store(posync: Posync) -> Iterator[Store]:
    """The main store of a run, open for the test and closed after it."""
    opened = open_store(str(posync.db))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def shed_from_16mb(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests stage about 20 MB: shedding starts at 16 MB for them, not 64 MB."""
    monkeypatch.setattr(store_module, "SHED_ABOVE", 16 * 2**20)


def test_little_is_never_shed(store: Store) -> None:
    """Below SHED_ABOVE the blocks stay: a small day would read them again at once."""
    _stage_rows(store, 100_000)
    kept = _kept(store.con, "IN_MEMORY_TABLE")
    assert 2**20 < kept < store_module.SHED_ABOVE
    store.shed_memory()
    assert _kept(store.con, "IN_MEMORY_TABLE") == kept
    assert not (store.data_dir / "tmp").exists() or not any((store.data_dir / "tmp").iterdir())


@pytest.mark.usefixtures("shed_from_16mb")
def test_shedding_writes_the_stage_out_keeps_every_row_and_gives_back_the_limit(store: Store) -> None:
    before = _limit(store.con)
    counted = _stage_rows(store)
    assert _kept(store.con, "IN_MEMORY_TABLE") > 16 * 2**20
    store.shed_memory()
    assert _kept(store.con, "IN_MEMORY_TABLE") < 8 * 2**20  # written under the working folder's tmp/
    assert any((store.data_dir / "tmp").iterdir())
    # The limit is back by value (RESET leaves the buffer pool's limit low: this query would fail for memory)
    after = _limit(store.con)
    assert abs(after - before) <= before / 100  # as near as its text allows
    store.shed_memory()
    assert _limit(store.con) == after  # and it does not shrink shed after shed
    assert store.con.execute("SELECT count(*), sum(number) FROM stage.voucher_lines").fetchone() == counted
    big = store.con.execute("SELECT count(DISTINCT number) FROM stage.voucher_lines").fetchone()
    assert big == (STAGED,)


@pytest.mark.usefixtures("shed_from_16mb")
def test_shedding_where_nothing_can_be_written_out_keeps_it_all(store: Store, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the spill folder should be")
    store.con.execute("SET temp_directory = ?", [str(blocked)])
    before = _limit(store.con)
    counted = _stage_rows(store)
    store.shed_memory()  # DuckDB refuses the low limit: the run goes on holding more, nothing is lost
    assert abs(_limit(store.con) - before) <= before / 100
    assert store.con.execute("SELECT count(*), sum(number) FROM stage.voucher_lines").fetchone() == counted


@pytest.mark.usefixtures("shed_from_16mb")
def test_nothing_is_shed_while_memory_is_kept(store: Store) -> None:
    """A sync cycle keeps memory: its copying thread queries beside the run's thread."""
    before = _limit(store.con)
    _stage_rows(store)
    with store.keeping_memory():
        store.shed_memory()
        assert _kept(store.con, "IN_MEMORY_TABLE") > 16 * 2**20
        assert _limit(store.con) == before
    store.shed_memory()
    assert _kept(store.con, "IN_MEMORY_TABLE") < 8 * 2**20


def test_a_sync_cycle_sheds_nothing_while_its_copying_thread_stages(
        posync: Posync, three_registers: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each time the copying thread stages a register's loyalty and rules, the run's thread may not shed."""
    kept: list[int] = []
    staged_ahead = sync._Ahead.__call__

    def staging(self: sync._Ahead, source: Any) -> None:  # on the copying thread
        kept.append(self.store._keeping)
        staged_ahead(self, source)

    monkeypatch.setattr(sync._Ahead, "__call__", staging)
    result = posync("sync", "--date", "2026-11-26", "--catalogs", "none")
    assert result.exit_code == 0, result.stderr
    assert kept == [1, 1, 1]
    assert posync.scalar("SELECT count(*) FROM vouchers") == 60


def test_hashes_staged_register_by_register_equal_one_pass_over_the_whole_stage(
        posync: Posync, three_registers: list[Path]) -> None:
    """Each register's content hashes are taken once it is staged; they must be the ones a single pass gives."""
    seen: list[list[tuple[object, ...]]] = []
    build_plan = merge.build_plan

    def compare(con: duckdb.DuckDBPyConnection) -> None:  # just before the plan reads them
        whole = merge.voucher_hashes("stage.vouchers", "stage.voucher_lines", "stage.payments")
        seen.append(con.execute(f"WITH whole AS ({whole}) (SELECT * FROM temp.hashes EXCEPT ALL FROM whole) "
                                "UNION ALL (FROM whole EXCEPT ALL SELECT * FROM temp.hashes)").fetchall())
        seen.append(con.execute("SELECT count(DISTINCT register), count(*) FROM temp.hashes").fetchall())
        build_plan(con)

    store = open_store(str(posync.db))
    merge.build_plan = compare
    try:
        result = pipeline.import_day(store, pipeline.ImportRequest(dt.date(2026, 11, 26)))
    finally:
        merge.build_plan = build_plan
        store.close()
    assert result.exit_code == 0
    assert seen == [[], [(3, 60)]]
