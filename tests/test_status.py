"""`posync status`: stale registers, pending pushes, unresolved rejections, numbering gaps; exit 1 if any."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.conftest import DAY1, sqlite_exec
from tests.test_sync import World, build_world


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """caja1..caja3 with DAY1 imported cleanly."""
    spec = {"registers": 3, "vouchers_per_day": 12, "customers": 4}
    return build_world(tmp_path_factory.mktemp("status"), spec, [DAY1])


@pytest.fixture
def world(template: Path, tmp_path: Path) -> World:
    return World.clone(template, tmp_path / "world")


def _main(world: World, *statements: str) -> None:
    con = duckdb.connect(str(world.posync.db))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def test_all_well_exits_0_and_a_stale_register_exits_1(world: World) -> None:
    well = world.posync("status")

    assert well.exit_code == 0, well.output
    assert well.output.splitlines()[-1] == (
        "  all well: 3 register(s) imported within 26 h, no pending pushes, no unresolved rejections, "
        "no numbering gaps.")

    _main(world, "UPDATE sync_log SET logged_at = logged_at - INTERVAL 30 HOUR WHERE register = 'caja2'",
          "UPDATE remotes SET added_at = added_at - INTERVAL 30 HOUR")
    stale = world.posync("status")

    assert stale.exit_code == 1
    assert "  registers with no successful import in 26 h:" in stale.output
    assert "    - caja2: last import " in stale.output and "caja1" not in stale.output
    assert stale.output.splitlines()[-1] == "needs attention: 1 item(s)."
    assert world.posync("status", "--stale-hours", "40").exit_code == 0


def test_gaps_pending_pushes_and_unresolved_rejections_need_a_person(world: World) -> None:
    posync, paths = world.posync, world.paths
    _main(world,
          "DELETE FROM vouchers WHERE voucher_code = 'FV1' AND number IN (1003, 1004)",
          "INSERT INTO pushes VALUES ('p1', 'caja3', 'partial', 'products', 'h', NULL, 'pending', "
          "TIMESTAMP '2026-11-26 23:00:00', NULL, NULL)")
    # caja3 now issues FV1, which caja1 owns: rejected
    sqlite_exec(paths[2], "UPDATE vouchers SET voucher_code = 'FV1' WHERE voucher_code = 'FV3'")
    assert posync("import", "--date", DAY1, "--remote", "caja3").exit_code == 3

    result = posync("status", "--json")

    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and doc["exit_code"] == 1 and doc["stale_registers"] == []
    assert [g["message"] for g in doc["numbering_gaps"]] == ["FV1 1003–1004 missing"]
    assert [(p["register"], p["mode"]) for p in doc["pending_pushes"]] == [("caja3", "partial")]
    assert [(b["register"], b["process_date"]) for b in doc["rejected_batches"]] == [("caja3", DAY1)]
    text = posync("status").output
    assert "    - FV1 1003–1004 missing" in text
    assert "    - caja3: partial push of products since 2026-11-26 23:00" in text
    assert f"    - caja3 {DAY1}: " in text and text.splitlines()[-1] == "needs attention: 3 item(s)."

    sqlite_exec(paths[2], "UPDATE vouchers SET voucher_code = 'FV3' WHERE voucher_code = 'FV1'")  # fixed
    assert posync("import", "--date", DAY1, "--remote", "caja3").exit_code == 0
    assert json.loads(posync("status", "--json").stdout)["rejected_batches"] == []
