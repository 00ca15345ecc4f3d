"""`posync sync`: one cycle — vouchers, loyalty, rules, catalogs — and the worst exit code of its steps.

Also home of `World`: sample registers plus a main store built once per test module and cloned
by each test (building them is most of a test's time).
"""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sample_data import SampleSpec, generate
from tests.conftest import DAY1, Posync, copy_world, sqlite_exec


@dataclass
class World:
    """A copy of a built world: registers under root/registers, main at root/main.duckdb."""

    root: Path
    posync: Posync
    paths: list[Path]

    @classmethod
    def clone(cls, template: Path, dest: Path) -> World:
        return cls(dest, copy_world(template, dest), sorted((dest / "registers").glob("*.db")))


def build_world(base: Path, spec: dict[str, Any], dates: list[str]) -> Path:
    """Generate registers under base/registers, add them to base/main.duckdb, import `dates`."""
    posync = Posync(base / "main.duckdb")
    for path in generate(base / "registers", SampleSpec(**spec)):
        assert posync("remote", "add", path.stem, str(path)).exit_code == 0
    for day in dates:
        result = posync("import", "--date", day)
        assert result.exit_code == 0, result.output
    return base


def register_count(path: Path, sql: str) -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """caja1..caja3, one day of 15 vouchers each, registered; nothing imported."""
    spec = {"registers": 3, "vouchers_per_day": 15, "customers": 8}
    return build_world(tmp_path_factory.mktemp("sync"), spec, [])


@pytest.fixture
def world(template: Path, tmp_path: Path) -> World:
    return World.clone(template, tmp_path / "world")


def test_one_cycle_runs_every_step_in_order_and_a_rerun_changes_nothing(world: World) -> None:
    posync, paths = world.posync, world.paths

    result = posync("sync", "--date", DAY1, "--catalogs", "none")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"sync {DAY1}:"
    assert lines[1].split() == ["register", "vouchers", "imported", "skipped", "held", "back", "loyalty", "rules",
                                "pushed", "status"]
    assert [line.split()[0] for line in lines[3:6]] == ["caja1", "caja2", "caja3"]
    assert lines[-1] == "steps: import exit 0, loyalty exit 0, rules exit 0, catalogs exit 0; exit 0"
    vouchers = sum(register_count(p, "SELECT count(*) FROM vouchers") for p in paths)
    movements = sum(register_count(p, "SELECT count(*) FROM loyalty_movements") for p in paths)
    assert posync.scalar("SELECT count(*) FROM vouchers") == vouchers
    assert posync.scalar("SELECT count(*) FROM loyalty_movements") == movements
    assert posync.scalar("SELECT count(*) FROM commercial_rules") == 5
    caja1 = lines[3].split()
    caja1_vouchers = register_count(paths[0], "SELECT count(*) FROM vouchers")
    caja1_moves = register_count(paths[0], "SELECT count(*) FROM loyalty_movements")
    assert [int(caja1[i]) for i in (1, 4, 5)] == [caja1_vouchers, caja1_moves, 5]  # one thing per column
    actions = posync.rows("SELECT action FROM sync_log WHERE action <> 'remote add' ORDER BY logged_at")
    order = [a for (a,) in actions]
    assert order == ["import"] * 3 + ["loyalty sync"] * 3 + ["rules sync"] * 3 + ["sync"]

    again = posync("sync", "--date", DAY1, "--catalogs", "none", "--json")

    assert again.exit_code == 0
    document = json.loads(again.stdout)
    assert [(r["register"], r["imported"], r["held_back"]) for r in document["registers"]] == [
        ("caja1", 0, 0), ("caja2", 0, 0), ("caja3", 0, 0)]
    assert posync.scalar("SELECT count(*) FROM loyalty_movements") == movements
    assert posync.scalar("SELECT count(*) FROM sync_log WHERE action = 'sync'") == 2


def test_a_register_that_cannot_be_read_is_reported_and_the_others_go_on(world: World) -> None:
    posync, paths = world.posync, world.paths
    paths[1].rename(paths[1].with_suffix(".moved"))

    result = posync("sync", "--date", DAY1, "--catalogs", "none")

    assert result.exit_code == 1
    assert f"caja2: import: register caja2: file not found (path {paths[1]})" in result.output
    assert posync.rows("SELECT register, count(*) FROM vouchers GROUP BY ALL ORDER BY 1")[0][0] == "caja1"
    assert posync.rows("SELECT DISTINCT register FROM loyalty_movements ORDER BY 1") == [
        ("caja1",), ("caja3",)]
    assert posync.rows("SELECT DISTINCT register FROM sync_log WHERE action = 'loyalty sync' ORDER BY 1") == [
        ("caja1",), ("caja3",)]
    assert posync.rows("SELECT status FROM sync_log WHERE action = 'import' AND register = 'caja2'") == [
        ("error",)]
    assert posync.scalar("SELECT status FROM sync_log WHERE action = 'sync'") == "error"


def test_loyalty_and_rules_staged_beside_the_copies_keep_each_registers_fate(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cycle stages each register's loyalty and rules on the copying thread, before its import has run: a
    register whose vouchers can't be read still brings none of them, and a register whose loyalty table
    can't be read still brings its vouchers, its failure told under loyalty and rules."""
    import threading

    from etl import sync

    threads: list[str] = []
    stage_tables = sync._stage_tables

    def listened(*args: Any) -> None:
        threads.append(threading.current_thread().name)
        stage_tables(*args)

    monkeypatch.setattr(sync, "_stage_tables", listened)
    posync, paths = world.posync, world.paths
    sqlite_exec(paths[1], 'ALTER TABLE vouchers RENAME COLUMN "total" TO "importe"')
    sqlite_exec(paths[2], 'ALTER TABLE loyalty_movements RENAME COLUMN "points" TO "puntos"')

    result = posync("sync", "--date", DAY1, "--catalogs", "none")

    assert result.exit_code == 1, result.output
    assert posync.rows("SELECT register, count(*) > 0 FROM vouchers GROUP BY ALL ORDER BY 1") == [
        ("caja1", True), ("caja3", True)]
    assert posync.rows("SELECT DISTINCT register FROM loyalty_movements") == [("caja1",)]
    assert posync.rows("SELECT DISTINCT source_register FROM commercial_rules") == [("caja1",)]
    logged = posync.rows("SELECT action, register, status, message FROM sync_log "
                         "WHERE action IN ('loyalty sync', 'rules sync') ORDER BY 1, 2")
    assert [(a, r, s) for a, r, s, _ in logged] == [
        ("loyalty sync", "caja1", "ok"), ("loyalty sync", "caja3", "error"),
        ("rules sync", "caja1", "ok"), ("rules sync", "caja3", "error")], logged
    assert all("puntos" in m or "points" in m for a, r, s, m in logged if r == "caja3"), logged
    assert posync.scalar("SELECT status FROM sync_log WHERE action = 'import' AND register = 'caja2'") == "error"
    assert len(threads) == 3 and all(t.startswith("posync-copy") for t in threads), threads  # none read twice


def test_the_exit_code_is_the_worst_of_the_steps(world: World) -> None:
    posync, paths = world.posync, world.paths
    sqlite_exec(paths[2], "INSERT INTO commercial_rules VALUES ('R9', 'Roto', 'discount', '{pct: 10', "
                          "'2026-11-01', '2026-12-31', 1, '2026-11-25 10:00:00')")

    result = posync("sync", "--date", DAY1, "--catalogs", "none")

    assert result.exit_code == 3
    assert "rules: " in result.output and "rule R9: params is not valid JSON" in result.output
    assert result.output.splitlines()[-1] == \
        "steps: import exit 0, loyalty exit 0, rules exit 3, catalogs exit 0; exit 3"
    assert posync.scalar("SELECT count(*) FROM vouchers") > 0
    assert posync.scalar("SELECT count(*) FROM commercial_rules WHERE rule_id = 'R9'") == 0


def test_unknown_register_is_a_usage_error_before_anything_runs(world: World) -> None:
    result = world.posync("sync", "--remote", "caja9", "--catalogs", "none")

    assert result.exit_code == 2
    assert "no register named caja9" in result.output
    assert world.posync.scalar("SELECT count(*) FROM sync_log WHERE action <> 'remote add'") == 0


def _catalog_csv(register: Path, table: str, folder: Path, price: str | None = None) -> Path:
    """One register's catalog as a CSV file for `catalogs load` (optionally with a new first price)."""
    con = sqlite3.connect(register)
    try:
        cursor = con.execute(f"SELECT * FROM {table} ORDER BY 1")
        header = [d[0] for d in cursor.description]
        rows = [list(r) for r in cursor.fetchall()]
    finally:
        con.close()
    if price is not None:
        rows[0][header.index("price")] = price
    path = folder / f"{table}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def test_a_cycle_copies_each_register_once_for_every_step(world: World, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The import, loyalty, rules and the first push's diff (no push state yet: it reads the register's
    catalog) all read the cycle's one snapshot of each register."""
    from etl import staging

    copied: list[str] = []
    stage = staging.stage

    def counted(register: str, source: str, root: Path) -> staging.Snapshot:
        copied.append(register)
        return stage(register, source, root)

    monkeypatch.setattr(staging, "stage", counted)
    products = _catalog_csv(world.paths[0], "products", tmp_path, price="777.00")
    assert world.posync("catalogs", "load", "products", str(products)).exit_code == 0

    result = world.posync("sync", "--date", DAY1, "--catalogs", "partial")

    assert result.exit_code == 0, result.output
    assert sorted(copied) == ["caja1", "caja2", "caja3"]
    assert world.posync.scalar("SELECT count(*) FROM push_state WHERE register = 'caja3'") > 0
    for path in world.paths:
        assert register_count(path, "SELECT price * 100 FROM products ORDER BY product_id LIMIT 1") == 77700


def test_catalogs_are_pushed_after_the_imports(world: World, tmp_path: Path) -> None:
    posync, paths = world.posync, world.paths
    products = _catalog_csv(paths[0], "products", tmp_path, price="12345.00")
    assert posync("catalogs", "load", "products", str(products)).exit_code == 0

    first = posync("sync", "--date", DAY1)  # main never loaded taxes, customers…: left alone, not emptied

    assert first.exit_code == 0, first.output
    assert ("catalogs: note: taxes, payment_methods, customers: never loaded into main, so not pushed"
            in first.output)
    assert first.output.splitlines()[-1] == \
        "steps: import exit 0, loyalty exit 0, rules exit 0, catalogs exit 0; exit 0"
    assert register_count(paths[0], "SELECT count(*) FROM taxes") == 3
    assert posync.scalar("SELECT count(*) FROM vouchers") > 0
    for path in paths:  # the one catalog main loaded was pushed
        assert register_count(path, "SELECT price * 100 FROM products ORDER BY product_id LIMIT 1") == 1234500

    for table in ("taxes", "payment_methods", "customers"):
        assert posync("catalogs", "load", table, str(_catalog_csv(paths[0], table, tmp_path))).exit_code == 0
    result = posync("sync", "--date", DAY1, "--catalogs", "partial", "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [s["note"] for s in document["steps"] if s["step"] == "catalogs"] == [None]  # all four loaded now
    for path in paths:
        price = register_count(path, "SELECT price * 100 FROM products ORDER BY product_id LIMIT 1")
        assert price == 1234500
    assert posync.rows("SELECT action FROM sync_log ORDER BY logged_at DESC LIMIT 1") == [("sync",)]
