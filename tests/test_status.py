"""`posync status`: every item that needs a person — at once, with a count, an example and the command — exit 1.

The JSON document is checked against its documented schema (etl/status.schema.json) in every case.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import pytest

from tests.conftest import DAY1, sqlite_exec
from tests.test_sync import World, build_world

SCHEMA = json.loads((Path(__file__).parent.parent / "etl" / "status.schema.json").read_text())
CALM = ("--quiet-days", "100000")  # the sample day is in the past: quiet registers are tested apart


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


def _status(world: World, *args: str) -> tuple[int, dict[str, Any]]:
    result = world.posync("status", "--json", *args)
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    return result.exit_code, document


def _items(document: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(i["kind"], i["register"]) for i in document["items"]]


def test_all_well_exits_0_and_says_so(world: World) -> None:
    well = world.posync("status", *CALM)

    assert well.exit_code == 0, well.output
    assert well.output.splitlines()[-1] == (
        "  all well: 3 registers, none without sales for more than 100,000 days; no errors, rejections, changes at "
        "source, conflicts, pending pushes or numbering gaps.")
    code, doc = _status(world, *CALM)
    assert (code, doc["ok"], doc["items"]) == (0, True, [])
    assert [(r["register"], r["last_sales"]) for r in doc["registers"]] == [
        ("caja1", DAY1), ("caja2", DAY1), ("caja3", DAY1)]


def test_a_register_unreadable_in_its_last_attempt_is_named_at_once(world: World) -> None:
    path = world.paths[1]
    path.rename(path.with_name("gone.db"))
    assert world.posync("import", "--date", DAY1).exit_code == 1

    code, doc = _status(world, *CALM)

    assert code == 1 and _items(doc) == [("unreadable", "caja2")]
    (item,) = doc["items"]
    assert item["example"] == f"register caja2: file not found (path {path}); check `posync remote list`."
    assert item["command"] == f"posync remote list   # then: posync import --date {DAY1} --remote caja2"
    path.with_name("gone.db").rename(path)
    assert world.posync("import", "--date", DAY1).exit_code == 0
    assert _status(world, *CALM)[0] == 0


def test_gaps_pending_pushes_and_unresolved_rejections_need_a_person(world: World) -> None:
    posync, paths = world.posync, world.paths
    _main(world,
          "DELETE FROM vouchers WHERE voucher_code = 'FV1' AND number IN (1003, 1004)",
          "INSERT INTO pushes VALUES ('p1', 'caja3', 'partial', 'products', 'h', NULL, 'pending', "
          "TIMESTAMP '2026-11-26 23:00:00', NULL, NULL)")
    sqlite_exec(paths[2], "UPDATE vouchers SET voucher_code = 'FV1' WHERE voucher_code = 'FV3'")  # caja1 owns FV1
    assert posync("import", "--date", DAY1, "--remote", "caja3").exit_code == 3

    code, doc = _status(world, *CALM)

    assert code == 1
    assert _items(doc) == [("rejected", "caja3"), ("pending_push", "caja3"), ("numbering_gap", "caja1")]
    messages = [i["message"] for i in doc["items"]]
    assert messages[0] == f"caja3 {DAY1}: 12 vouchers held back, not imported since"
    assert messages[2] == "FV1 1003–1004 missing"
    text = posync("status", *CALM).output
    assert "  - caja3: a partial push of products did not reach it (2026-11-26 23:00)" in text
    assert "      → posync catalogs push --mode partial --remote caja3   # reconciles it" in text
    assert text.splitlines()[-1] == "needs attention: 3 items."

    sqlite_exec(paths[2], "UPDATE vouchers SET voucher_code = 'FV3' WHERE voucher_code = 'FV1'")  # fixed
    assert posync("import", "--date", DAY1, "--remote", "caja3").exit_code == 0
    assert [k for k, _ in _items(_status(world, *CALM)[1])] == ["pending_push", "numbering_gap"]


def test_loyalty_conflicts_rejected_and_suspect_rules_are_items(world: World) -> None:
    posync, paths = world.posync, world.paths
    assert posync("loyalty", "sync").exit_code == 0
    assert posync("rules", "sync").exit_code == 0
    assert _status(world, *CALM)[0] == 0
    sqlite_exec(paths[0], "UPDATE loyalty_movements SET points = points + 1000 "
                          "WHERE movement_id = (SELECT min(movement_id) FROM loyalty_movements)")
    sqlite_exec(paths[1], "INSERT INTO commercial_rules VALUES ('R-BAD', 'x', 'discount', '{oops', '2026-01-01', "
                          "NULL, 1, '2026-11-20 10:00:00')")
    sqlite_exec(paths[2], "INSERT INTO commercial_rules VALUES ('R-FUTURE', 'y', 'discount', '{}', '2026-01-01', "
                          "NULL, 1, '2099-01-01 10:00:00')")
    assert posync("loyalty", "sync").exit_code == 3
    assert posync("rules", "sync").exit_code == 3

    code, doc = _status(world, *CALM)

    assert code == 1
    assert _items(doc) == [("loyalty", "caja1"), ("rules", "caja2"), ("suspect_rule", "caja3")]
    assert "conflict" in doc["items"][0]["example"]
    assert "params is not valid JSON" in doc["items"][1]["example"]
    listed = {r["rule_id"]: r["suspect"] for r in json.loads(posync("rules", "list", "--json").stdout)}
    assert listed["R-FUTURE"] is True and not any(v for k, v in listed.items() if k != "R-FUTURE")
    assert "SUSPECT: updated_at in the future" in posync("rules", "list").output


def test_a_register_with_no_sales_for_n_days_is_quiet(world: World) -> None:
    code, doc = _status(world, "--quiet-days", "0")

    assert code == 1 and [k for k, _ in _items(doc)] == ["quiet", "quiet", "quiet"]
    assert doc["items"][0]["message"].startswith("caja1: no sales in main for ")
    assert doc["items"][0]["message"].endswith(f" days (last sales {DAY1})")
