"""`posync rules sync` and `rules list`: newest updated_at wins, equal-timestamp conflicts, bad JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl.store import open_store
from etl.sync import ExtrasRequest, sync_rules
from tests.conftest import Posync, sqlite_exec
from tests.test_sync import World, build_world

MAIN_RULES = ("SELECT rule_id, params, updated_at::VARCHAR, source_register FROM commercial_rules "
              "ORDER BY rule_id")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """caja1..caja3, each with the same five sample rules R1-R5; nothing synced yet."""
    return build_world(tmp_path_factory.mktemp("rules"), {"registers": 3, "vouchers_per_day": 2}, [])


@pytest.fixture
def world(template: Path, tmp_path: Path) -> World:
    return World.clone(template, tmp_path / "world")


def _set(path: Path, rule: str, params: str, updated_at: str) -> None:
    sqlite_exec(path, f"UPDATE commercial_rules SET params = '{params}', updated_at = '{updated_at}' "
                      f"WHERE rule_id = '{rule}'")


def _rule(posync: Posync, rule: str) -> tuple[str, str, str]:
    return posync.rows("SELECT params, updated_at::VARCHAR, source_register FROM commercial_rules "
                       "WHERE rule_id = ?", [rule])[0]


def test_newer_updated_at_wins_and_an_older_one_never_overwrites(world: World) -> None:
    posync, paths = world.posync, world.paths
    first = posync("rules", "sync", "--json")
    assert first.exit_code == 0
    assert [(r["register"], r["inserted"], r["skipped"]) for r in json.loads(first.stdout)["registers"]] == [
        ("caja1", 5, 0), ("caja2", 0, 5), ("caja3", 0, 5)]
    assert [r[0] for r in posync.rows(MAIN_RULES)] == ["R1", "R2", "R3", "R4", "R5"]

    _set(paths[1], "R1", '{"pct": 20, "category": "Bebidas"}', "2026-11-25 10:00:00")  # caja2 edits R1
    _set(paths[2], "R1", '{"pct": 30}', "2026-11-24 10:00:00")  # caja3's edit is older than caja2's
    newer = posync("rules", "sync", "--json")

    assert newer.exit_code == 0, newer.output
    counts = {r["register"]: (r["inserted"], r["updated"]) for r in json.loads(newer.stdout)["registers"]}
    assert counts == {"caja1": (0, 0), "caja2": (0, 1), "caja3": (0, 0)}
    assert _rule(posync, "R1") == ('{"pct": 20, "category": "Bebidas"}', "2026-11-25 10:00:00", "caja2")

    _set(paths[1], "R1", '{"pct": 5}', "2026-11-20 10:00:00")  # caja2 goes back in time
    older = posync("rules", "sync")

    assert older.exit_code == 0
    assert _rule(posync, "R1") == ('{"pct": 20, "category": "Bebidas"}', "2026-11-25 10:00:00", "caja2")
    assert posync.scalar("SELECT count(*) FROM commercial_rules") == 5


def test_same_updated_at_different_content_is_a_conflict_and_neither_is_applied(world: World) -> None:
    posync, paths = world.posync, world.paths
    assert posync("rules", "sync").exit_code == 0
    before = posync.rows(MAIN_RULES)
    _set(paths[0], "R2", '{"buy": 3, "pay": 2}', "2026-11-26 08:00:00")
    _set(paths[2], "R2", '{"buy": 4, "pay": 3}', "2026-11-26 08:00:00")
    _set(paths[1], "R3", '{"pct": 7}', "2026-11-26 08:00:00")  # an ordinary newer edit goes on

    result = posync("rules", "sync")

    assert result.exit_code == 3
    sentence = ("conflict: rule R2 sent by caja1 and caja3 with the same updated_at 2026-11-26 08:00:00 "
                "but different content; neither applied")
    assert f"caja1: {sentence}" in result.output and f"caja3: {sentence}" in result.output
    assert posync.rows(MAIN_RULES)[1] == before[1]
    assert _rule(posync, "R3") == ('{"pct": 7}', "2026-11-26 08:00:00", "caja2")
    logged = dict(posync.rows("SELECT register, status FROM sync_log WHERE action = 'rules sync' "
                              "AND logged_at = (SELECT max(logged_at) FROM sync_log)"))
    assert logged == {"caja1": "conflict", "caja2": "ok", "caja3": "conflict"}

    # Same content with the same timestamp is no conflict; spacing in the JSON does not count.
    _set(paths[2], "R2", '{"buy":3,"pay":2}', "2026-11-26 08:00:00")
    settled = posync("rules", "sync")
    assert settled.exit_code == 0, settled.output
    assert _rule(posync, "R2") == ('{"buy": 3, "pay": 2}', "2026-11-26 08:00:00", "caja1")


def test_equal_timestamp_but_different_from_main_is_a_conflict_too(world: World) -> None:
    posync, paths = world.posync, world.paths
    assert posync("rules", "sync").exit_code == 0
    # edited without a newer updated_at
    sqlite_exec(paths[1], "UPDATE commercial_rules SET name = 'Navidad 20%' WHERE rule_id = 'R5'")

    result = posync("rules", "sync", "--remote", "caja2")

    assert result.exit_code == 3
    assert ("caja2: conflict: rule R5 has the same updated_at 2026-11-21 09:00:00 as main's version "
            "(from caja1) but different content; main kept") in result.output
    assert posync.scalar("SELECT name FROM commercial_rules WHERE rule_id = 'R5'") == "Navidad 15%"


def test_params_that_are_not_json_are_refused_naming_register_and_rule(world: World) -> None:
    posync, paths = world.posync, world.paths
    sqlite_exec(paths[1], "INSERT INTO commercial_rules VALUES ('R9', 'Roto', 'discount', '{pct: 10', "
                          "'2026-11-01', '2026-12-31', 1, '2026-11-25 10:00:00')")

    result = posync("rules", "sync")

    assert result.exit_code == 3
    assert "caja2: rejected: register caja2, rule R9: params is not valid JSON ('{pct: 10')" in result.output
    assert posync.scalar("SELECT count(*) FROM commercial_rules WHERE rule_id = 'R9'") == 0
    assert posync.scalar("SELECT count(*) FROM commercial_rules") == 5
    message = posync.scalar("SELECT message FROM sync_log WHERE action = 'rules sync' AND register = 'caja2'")
    assert "rule R9: params is not valid JSON" in message

    listing = posync("rules", "list", "--json")
    assert [r["rule_id"] for r in json.loads(listing.stdout)] == ["R1", "R2", "R3", "R4", "R5"]


def test_a_future_updated_at_is_suspect(world: World) -> None:
    posync, paths = world.posync, world.paths
    _set(paths[0], "R4", '{"buy": 3, "pay": 1}', "2031-01-01 00:00:00")
    _set(paths[2], "R4", '{"buy": 9, "pay": 1}', "2031-01-01 00:00:00")

    store = open_store(str(posync.db))
    try:
        step = sync_rules(store, ExtrasRequest())
    finally:
        store.close()

    caja1 = next(o for o in step.outcomes if o.register == "caja1")
    assert step.exit_code == 3 and caja1.status == "conflict"
    assert ("rule R4 sent by caja1 and caja3 with the same updated_at 2031-01-01 00:00:00 "
            "(suspect: updated_at in the future, clock skew?)") in caja1.message
    assert posync.scalar("SELECT count(*) FROM commercial_rules WHERE rule_id = 'R4'") == 0

