"""`posync loyalty sync` / `balances`: keyed by (register, movement_id), a balance is a SUM (FAULTS 37)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import DAY1, Posync, sqlite_exec
from tests.test_sync import World, build_world

DAY2 = "2026-11-27"
BALANCES = "SELECT customer_id, sum(points) FROM loyalty_movements GROUP BY ALL ORDER BY 1"


def _register_points(paths: list[Path], until: str = DAY2) -> dict[str, int]:
    """Expected balances: every movement of every register, summed per customer (keyed per register)."""
    totals: dict[str, int] = {}
    for path in paths:
        con = sqlite3.connect(path)
        try:
            rows = con.execute("SELECT customer_id, sum(points) FROM loyalty_movements WHERE date <= ? "
                               "GROUP BY customer_id", [until]).fetchall()
        finally:
            con.close()
        for customer, points in rows:
            totals[customer] = totals.get(customer, 0) + int(points)
    return totals


def _balances(posync: Posync) -> dict[str, int]:
    result = posync("loyalty", "balances", "--json")
    assert result.exit_code == 0, result.output
    return {b["customer_id"]: b["points"] for b in json.loads(result.stdout)["balances"]}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """caja1, caja2 (two days, 12 vouchers a day), registered, DAY1 imported; cloned by each test."""
    return build_world(tmp_path_factory.mktemp("loyalty"), dict(registers=2, days=2, vouchers_per_day=12,
                                                                 customers=6), [DAY1])


@pytest.fixture
def world(template: Path, tmp_path: Path) -> World:
    return World.clone(template, tmp_path / "world")


def test_twice_two_registers_held_back_then_landing(world: World) -> None:
    posync, paths = world.posync, world.paths
    # The same movement id at both registers: two movements, one per register.
    for path in paths:
        sqlite_exec(path, "INSERT INTO loyalty_movements VALUES "
                          "('BONO-1', 'C0001', '2026-11-26', 50, NULL, NULL)")

    first = posync("loyalty", "sync")

    assert first.exit_code == 0, first.output
    assert "held back" in first.output and "voucher not in main yet" in first.output  # day 2's vouchers
    assert _balances(posync) == _register_points(paths, until=DAY1)
    assert posync.scalar("SELECT count(*) FROM loyalty_movements WHERE movement_id = 'BONO-1'") == 2

    again = posync("loyalty", "sync", "--json")

    assert again.exit_code == 0
    assert [r["inserted"] for r in json.loads(again.stdout)["registers"]] == [0, 0]
    assert _balances(posync) == _register_points(paths, until=DAY1)

    assert posync("import", "--date", DAY2).exit_code == 0
    landed = posync("loyalty", "sync")

    assert landed.exit_code == 0 and "held back" not in landed.output
    assert _balances(posync) == _register_points(paths)
    logged = posync.rows("SELECT register, read, inserted, skipped, status FROM sync_log "
                         "WHERE action = 'loyalty sync' ORDER BY logged_at, register")
    assert len(logged) == 6 and logged[-1][4] == "ok"


def test_an_edit_at_the_register_is_a_conflict_and_main_keeps_its_version(world: World) -> None:
    posync, paths = world.posync, world.paths
    assert posync("loyalty", "sync").exit_code == 0
    before = posync.rows("SELECT * FROM loyalty_movements ORDER BY register, movement_id")
    balances = _balances(posync)
    movement, points = posync.rows("SELECT movement_id, points FROM loyalty_movements "
                                   "WHERE register = 'caja1' ORDER BY movement_id LIMIT 1")[0]
    sqlite_exec(paths[0], f"UPDATE loyalty_movements SET points = 9999 WHERE movement_id = '{movement}'")

    result = posync("loyalty", "sync")

    assert result.exit_code == 3
    assert "caja1: 1 conflict: edited at the register after import, main kept\n" in result.output
    assert f"caja1: conflict: movement {movement} was imported as {points} points for" in result.output
    assert "the register now says 9999 points" in result.output
    assert posync.rows("SELECT * FROM loyalty_movements ORDER BY register, movement_id") == before
    assert _balances(posync) == balances
    status, message = posync.rows("SELECT status, message FROM sync_log WHERE action = 'loyalty sync' "
                                  "AND register = 'caja1' ORDER BY logged_at DESC LIMIT 1")[0]
    assert status == "conflict" and movement in message and "main kept" in message
    assert posync.scalar("SELECT status FROM sync_log WHERE action = 'loyalty sync' AND register = 'caja2' "
                         "ORDER BY logged_at DESC LIMIT 1") in ("ok", "warning")


def test_rows_that_do_not_cast_are_rejected_with_samples(world: World) -> None:
    posync, paths = world.posync, world.paths
    sqlite_exec(paths[1],
                "INSERT INTO loyalty_movements VALUES ('M-BAD', 'C0002', '2026-11-26', 'diez', NULL, NULL)",
                "INSERT INTO loyalty_movements VALUES ('M-NOCUST', NULL, '2026-11-26', 5, NULL, NULL)")

    result = posync("loyalty", "sync", "--remote", "caja2")

    assert result.exit_code == 3
    assert "caja2: rejected 1 movement: points 'diez' is not a whole number (e.g. M-BAD)" in result.output
    assert "caja2: rejected 1 movement: no customer_id (e.g. M-NOCUST)" in result.output
    assert posync.scalar("SELECT count(*) FROM loyalty_movements WHERE movement_id LIKE 'M-%'") == 0
    assert posync.scalar("SELECT count(DISTINCT register) FROM loyalty_movements") == 1


def test_balances_of_one_customer_list_the_movements(world: World) -> None:
    posync, paths = world.posync, world.paths
    sqlite_exec(paths[0], "INSERT INTO loyalty_movements VALUES "
                          "('AJUSTE-1', 'C0001', '2026-11-26', -30, NULL, NULL)")
    assert posync("loyalty", "sync").exit_code == 0

    result = posync("loyalty", "balances", "--customer", "C0001")

    assert result.exit_code == 0
    assert f"{_register_points(paths, until=DAY1)['C0001']:,}" in result.output.splitlines()[2]
    assert "AJUSTE-1" in result.output and "-30" in result.output
    nobody = posync("loyalty", "balances", "-c", "NOBODY")
    assert nobody.output == "no loyalty movements for customer NOBODY in main.\n"
