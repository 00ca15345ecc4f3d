"""Loyalty movements and commercial rules under faults (FAULTS 37, 38, and 20's skewed `updated_at`):
reruns never count points twice, edits and conflicts are reported and not applied, movements of held-back
vouchers wait for them, an older rule never overwrites a newer one; a rerun after the fix converges.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from tests.faults.conftest import DAY1, World, assert_invariants


def _step(world: World, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    result = world.posync(*args, "--json")
    assert "Traceback" not in result.output
    document = json.loads(result.stdout)
    return result.exit_code, {r["register"]: r for r in document["registers"]}


def _balances(world: World) -> dict[str, int]:
    result = world.posync("loyalty", "balances", "--json")
    assert result.exit_code == 0, result.output
    return {b["customer_id"]: int(b["points"]) for b in json.loads(result.stdout)["balances"]}


def _register_points(world: World) -> dict[str, int]:
    totals: dict[str, int] = {}
    for name in ("caja1", "caja2", "caja3"):
        for customer, points in world.reg_rows(name, "SELECT customer_id, sum(points) FROM loyalty_movements "
                                                     "GROUP BY 1"):
            totals[customer] = totals.get(customer, 0) + int(points)
    return totals


@pytest.mark.fault(37)
def test_loyalty_reruns_count_points_once_and_an_edit_is_a_conflict_not_applied(world: World) -> None:
    assert world.posync("import", "--date", DAY1).exit_code == 0
    code, first = _step(world, "loyalty", "sync")
    assert code == 0 and sum(r["inserted"] for r in first.values()) > 0
    assert _balances(world) == _register_points(world)  # a balance is the sum of the movements

    code, again = _step(world, "loyalty", "sync")

    assert code == 0 and all(r["inserted"] == 0 for r in again.values())  # keyed: 0 new
    assert _balances(world) == _register_points(world)

    world.sql("caja1", "UPDATE loyalty_movements SET points = 9999 WHERE movement_id = 'caja1-FV1-1001'")
    before = _balances(world)

    code, edited = _step(world, "loyalty", "sync")

    assert code == 3
    assert edited["caja1"]["status"] == "conflict"
    assert any(d.startswith("conflict: movement caja1-FV1-1001 was imported as ") and "9999 points" in d
               for d in edited["caja1"]["details"])
    assert _balances(world) == before  # main kept its version
    assert world.posync.scalar("SELECT points FROM loyalty_movements WHERE movement_id = 'caja1-FV1-1001'") != 9999

    again_code, _ = _step(world, "loyalty", "sync")  # still edited at the register: reported again, never applied
    assert again_code == 3 and _balances(world) == before


@pytest.mark.fault(37)
def test_points_of_a_held_back_voucher_wait_for_it_then_arrive_once(world: World) -> None:
    total = world.reg_rows("caja1", "SELECT total FROM vouchers WHERE voucher_code = 'FV1' AND number = 1003")[0][0]
    world.sql("caja1", "UPDATE vouchers SET total = 'mil' WHERE voucher_code = 'FV1' AND number = 1003")
    assert world.posync("import", "--date", DAY1).exit_code == 3  # FV1-1003 held back

    code, held = _step(world, "loyalty", "sync")

    assert code == 0  # a hold is normal, not an error
    assert held["caja1"]["status"] == "warning" and held["caja1"]["skipped"] >= 1
    assert world.posync.scalar("SELECT count(*) FROM loyalty_movements WHERE movement_id = 'caja1-FV1-1003'") == 0

    world.sql("caja1", f"UPDATE vouchers SET total = {total} WHERE voucher_code = 'FV1' AND number = 1003")
    assert world.posync("import", "--date", DAY1).exit_code == 0
    code, arrived = _step(world, "loyalty", "sync")

    assert code == 0 and arrived["caja1"]["inserted"] == 1
    assert world.posync.scalar("SELECT count(*) FROM loyalty_movements WHERE movement_id = 'caja1-FV1-1003'") == 1
    assert _balances(world) == _register_points(world)
    assert_invariants(world)


RULE = ("INSERT INTO commercial_rules VALUES ('R7', 'Martes {pct}%', 'discount', '{{\"pct\": {pct}}}', "
        "'2026-11-01', '2026-12-31', 1, '{updated_at}')")


@pytest.mark.fault(38)
def test_two_registers_sending_one_rule_differently_at_the_same_time_is_a_conflict_applied_by_neither(
    world: World,
) -> None:
    world.sql("caja1", RULE.format(pct=10, updated_at="2026-11-25 10:00:00"))
    world.sql("caja2", RULE.format(pct=20, updated_at="2026-11-25 10:00:00"))

    code, result = _step(world, "rules", "sync")

    assert code == 3
    assert result["caja1"]["status"] == result["caja2"]["status"] == "conflict"
    said = " ".join(result["caja1"]["details"] + result["caja2"]["details"])
    assert "R7" in said and "caja1" in said and "caja2" in said
    assert world.posync.scalar("SELECT count(*) FROM commercial_rules WHERE rule_id = 'R7'") == 0

    world.sql("caja2", "UPDATE commercial_rules SET updated_at = '2026-11-25 11:00:00' WHERE rule_id = 'R7'")
    code, _ = _step(world, "rules", "sync")  # caja2's change is now the newer one: it wins, once

    assert code == 0
    assert world.posync.rows("SELECT name, source_register FROM commercial_rules WHERE rule_id = 'R7'") == [
        ("Martes 20%", "caja2")]


@pytest.mark.fault(38)
def test_an_older_updated_at_never_overwrites_a_newer_rule(world: World) -> None:
    world.sql("caja1", RULE.format(pct=15, updated_at="2026-11-25 12:00:00"))
    assert _step(world, "rules", "sync")[0] == 0
    world.sql("caja2", RULE.format(pct=5, updated_at="2026-11-20 08:00:00"))  # an old copy, edited offline

    code, result = _step(world, "rules", "sync")

    assert code == 0
    assert world.posync.rows("SELECT name, source_register FROM commercial_rules WHERE rule_id = 'R7'") == [
        ("Martes 15%", "caja1")]
    assert result["caja2"]["inserted"] == 0 and result["caja2"]["updated"] == 0


@pytest.mark.fault(20, 38)
def test_a_rule_from_a_register_whose_clock_runs_ahead_is_marked_suspect_also_in_conflicts(world: World) -> None:
    ahead = (dt.datetime.now() + dt.timedelta(days=400)).replace(microsecond=0)
    world.sql("caja3", RULE.format(pct=50, updated_at=ahead))

    code, result = _step(world, "rules", "sync")

    assert code == 0 and result["caja3"]["status"] == "warning"
    assert result["caja3"]["details"] == [
        f"suspect: rule R7 has updated_at {ahead}, in the future (register clock skew?)"]

    world.sql("caja1", RULE.format(pct=60, updated_at=ahead))
    code, result = _step(world, "rules", "sync")

    assert code == 3 and result["caja1"]["status"] == "conflict"
    assert (f"conflict: rule R7 sent by caja1 and caja3 with the same updated_at {ahead} (suspect: updated_at in "
            "the future, clock skew?) but different content; neither applied") in result["caja1"]["details"]
    assert world.posync.rows("SELECT name FROM commercial_rules WHERE rule_id = 'R7'") == [("Martes 50%",)]
