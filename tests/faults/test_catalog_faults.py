"""Catalog pushes under faults (FAULTS 29-31, and 18, 28, 32, 33 where a push is involved): a push killed
or failing at any step leaves the register untouched or whole, main shows it `pending` and the next push
reconciles; the backup exists before the first change; destructive pushes need --force; a drifted schema
stops the push before any SQL; hostile catalog values travel as escaped literals.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from etl.schema import CATALOG_TABLES
from tests.faults.conftest import DAY1, World, kill9, wait_for
from tests.test_catalogs_support import read_register

NEW_PRICE = "12345.00"


def register_rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    """A register's catalog as posync reads it (canonical types), by key."""
    return read_register(path, "canonical", table)


def dump(path: Path) -> list[str]:
    """Every row of every table of a register file, as text: to prove it was not touched at all."""
    con = sqlite3.connect(path)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def main_rows(world: World, table: str) -> list[tuple[Any, ...]]:
    return world.posync.rows(f"SELECT * FROM {table} ORDER BY 1")


def _load(world: World, table: str, rows: list[list[Any]], header: list[str]) -> None:
    path = world.root / f"{table}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    result = world.posync("catalogs", "load", table, str(path))
    assert result.exit_code == 0, result.output


def load_catalogs(world: World, edit_products: bool = True, products: list[list[Any]] | None = None) -> None:
    """Main's catalogs = caja1's, with 3 product prices changed and 2 products added (unless told otherwise)."""
    con = sqlite3.connect(world.reg("caja1"))
    try:
        for table in CATALOG_TABLES:
            cursor = con.execute(f"SELECT * FROM {table} ORDER BY 1")
            header = [d[0] for d in cursor.description]
            rows = [list(r) for r in cursor.fetchall()]
            if table == "products":
                if products is not None:
                    rows = products
                elif edit_products:
                    for row in rows[:3]:
                        row[header.index("price")] = NEW_PRICE
                    rows += [["NEW01", "Arepa", "7700000009991", "Panadería", "UND", "2500", "IVA5", 1, None],
                             ["NEW02", "Buñuelo", "7700000009992", "Panadería", "UND", "1800", "IVA5", 1, None]]
            _load(world, table, rows, header)
    finally:
        con.close()


def _push(world: World, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    result = world.posync("catalogs", "push", "--remote", "caja1", *args, "--json", env=env)
    assert "Traceback" not in result.output
    document = json.loads(result.stdout)
    (register,) = document["registers"]
    return result.exit_code, register, result.output


def _statuses(world: World) -> list[str]:
    return [s for (s,) in world.posync.rows("SELECT status FROM pushes ORDER BY created_at")]


def _backups(world: World) -> list[Path]:
    root = world.data_dir / "backups"
    return sorted(p for p in root.iterdir() if (p / "manifest.json").is_file()) if root.exists() else []


def _assert_pushed(world: World) -> None:
    """The register holds exactly main's catalogs, and a second push changes nothing."""
    for table in CATALOG_TABLES:
        assert register_rows(world.reg("caja1"), table) == main_rows(world, table), table
    code, again, _ = _push(world, "--mode", "partial")
    assert code == 0 and again["status"] == "unchanged"


@pytest.mark.fault(29)
@pytest.mark.parametrize("stage", ["push_apply_mid", "push_mark"])
def test_a_push_killed_inside_or_after_the_register_transaction_leaves_it_whole_and_is_reconciled(
    world: World, paused: Path, stage: str
) -> None:
    load_catalogs(world)
    before = dump(world.reg("caja1"))
    proc = world.start("catalogs", "push", "--mode", "partial", "--remote", "caja1",
                       env={"POSYNC_PAUSE_AT": stage, "POSYNC_PAUSE_FILE": str(paused)})
    wait_for(paused, proc)
    kill9(proc)

    if stage == "push_apply_mid":  # killed half-way through its statements: SQLite rolls the journal back
        assert dump(world.reg("caja1")) == before
    else:  # the register committed; main had not heard back
        assert register_rows(world.reg("caja1"), "products") == main_rows(world, "products")
    assert _statuses(world) == ["pending"]
    (backup,) = _backups(world)  # written before the first change at the register
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["register"] == "caja1" and (backup / "products.parquet").is_file()

    code, rerun, _ = _push(world, "--mode", "partial")

    assert code == 0
    assert rerun["status"] == ("applied" if stage == "push_apply_mid" else "unchanged")
    assert sorted(_statuses(world)) == (["applied", "reconciled"] if stage == "push_apply_mid" else ["reconciled"])
    _assert_pushed(world)


PUSH_STAGES = ("push_backup", "push_apply", "push_apply_mid", "push_mark")


@pytest.mark.fault(29)
def test_an_error_at_every_push_fault_point_in_turn_leaves_the_register_whole_then_converges(world: World) -> None:
    load_catalogs(world)
    for stage in PUSH_STAGES:
        before = dump(world.reg("caja1"))
        code, result, _ = _push(world, "--mode", "partial", env={"POSYNC_FAIL_AT": stage})

        assert code == 1 and result["error"] == f"injected failure at stage {stage} (POSYNC_FAIL_AT).", stage
        after = dump(world.reg("caja1"))
        if stage != "push_mark":
            assert after == before, stage  # nothing at the register changed
        else:
            assert register_rows(world.reg("caja1"), "products") == main_rows(world, "products")
        assert "applied" not in _statuses(world), stage
    code, rerun, _ = _push(world, "--mode", "partial")
    assert code == 0
    _assert_pushed(world)


LOCKER = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
con.execute("ROLLBACK")
"""


@pytest.mark.fault(4, 29)
def test_a_push_to_a_register_locked_by_its_pos_is_transient_and_changes_nothing(world: World) -> None:
    load_catalogs(world)
    before = dump(world.reg("caja1"))
    pos = subprocess.Popen([sys.executable, "-c", LOCKER, str(world.reg("caja1"))], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    try:
        assert pos.stdout is not None and pos.stdout.readline().strip() == "locked"
        code, busy, _ = _push(world, "--mode", "partial")
    finally:
        pos.communicate("\n", timeout=30)

    assert code == 1 and busy["status"] == "busy" and busy["exit_code"] == 1
    assert busy["error"] == "register caja1 is busy (locked by the POS); the push will be retried."
    assert dump(world.reg("caja1")) == before
    assert _statuses(world) == ["failed"]

    code, rerun, _ = _push(world, "--mode", "partial")  # the POS let go: the next push goes through
    assert code == 0 and rerun["status"] == "applied"
    _assert_pushed(world)


@pytest.mark.fault(3, 29)
def test_a_share_that_drops_before_the_push_applies_fails_that_register_and_the_next_push_converges(
    world: World, paused: Path
) -> None:
    load_catalogs(world)
    share = world.reg("caja1").parent
    proc = world.start("catalogs", "push", "--mode", "partial", "--remote", "caja1",
                       env={"POSYNC_SLEEP_AT": "push_apply:1.5", "POSYNC_PAUSE_FILE": str(paused)})
    wait_for(paused, proc)
    share.rename(share.with_name("share1.unmounted"))
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 1, out + err
    assert f"caja1: register caja1: file not found (path {world.reg('caja1')})" in out
    share.with_name("share1.unmounted").rename(share)
    assert _statuses(world) == ["failed"]
    code, rerun, _ = _push(world, "--mode", "partial")
    assert code == 0 and rerun["status"] == "applied"
    _assert_pushed(world)


@pytest.mark.fault(30)
def test_a_replace_push_from_a_tiny_main_catalog_is_refused_without_force_and_backed_up_with_it(
    world: World,
) -> None:
    load_catalogs(world, products=[["P00001", "Café", "7700000000019", "Bebidas", "UND", "40550", "IVA5", 1, None]])
    before = dump(world.reg("caja1"))
    count = len(register_rows(world.reg("caja1"), "products"))

    code, refused, _ = _push(world, "--mode", "replace")

    assert code == 2 and refused["status"] == "refused"
    assert refused["error"].startswith(f"would delete {count - 1} of {count} products on caja1: refused;")
    assert dump(world.reg("caja1")) == before and _backups(world) == [] and _statuses(world) == []

    code, forced, _ = _push(world, "--mode", "replace", "--force")

    assert code == 0 and forced["status"] == "applied"
    assert len(register_rows(world.reg("caja1"), "products")) == 1
    (backup,) = _backups(world)
    assert backup.name == forced["backup_id"]
    restored = world.posync("catalogs", "restore", "--remote", "caja1", "--backup", forced["backup_id"])
    assert restored.exit_code == 0, restored.output
    assert len(register_rows(world.reg("caja1"), "products")) == count  # the operator got them back


@pytest.mark.fault(31)
def test_a_push_to_a_register_whose_schema_drifted_names_the_column_and_applies_nothing(world: World) -> None:
    load_catalogs(world)
    world.sql("caja1", "ALTER TABLE products RENAME COLUMN price TO precio")
    before = dump(world.reg("caja1"))

    code, failed, _ = _push(world, "--mode", "partial")

    assert code == 1 and failed["status"] == "failed"
    assert failed["error"].startswith("register caja1: products.price missing")
    assert "(mapping canonical.json, $.tables.products.columns.price)" in failed["error"]
    assert dump(world.reg("caja1")) == before
    assert "applied" not in _statuses(world)


HOSTILE = ["x'; DROP TABLE products; --", 'comillas "dobles" y \'simples\'', "Ñandú 😀 — ÀÉÎÕÜ",
           "dos\nlíneas\tcon tab", "a" * 10_000, "1); DELETE FROM products WHERE (1=1"]


@pytest.mark.fault(18, 32, 33)
def test_hostile_catalog_values_travel_as_escaped_literals_in_the_push_and_its_sql_file(world: World) -> None:
    products = [[f"H{i:02d}", name, None, "Hostil", "UND", "1.00", "IVA5", 1, None] for i, name in enumerate(HOSTILE)]
    load_catalogs(world, products=products)
    assert [r[1] for r in main_rows(world, "products")] == HOSTILE  # stored verbatim in main
    twin = world.root / "twin" / "caja1.db"
    twin.parent.mkdir()
    shutil.copyfile(world.reg("caja1"), twin)

    dry = world.posync("catalogs", "push", "--mode", "replace", "--force", "--remote", "caja1", "--dry-run")

    assert dry.exit_code == 0, dry.output
    (sql_file,) = list((world.data_dir / "sql").rglob("caja1.sql"))  # confined to posync's data folder
    code, pushed, _ = _push(world, "--mode", "replace", "--force")
    assert code == 0 and pushed["status"] == "applied"
    script = sql_file.read_text(encoding="utf-8")  # run by the register's own client: the same result
    if shutil.which("sqlite3"):
        ran = subprocess.run(["sqlite3", str(twin)], input=script, capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0 and ran.stderr == "", ran.stderr
    else:  # Python's sqlite3 is the same engine; it only lacks the CLI's dot-commands (.bail on)
        con = sqlite3.connect(twin)
        con.executescript("\n".join(line for line in script.splitlines() if not line.startswith(".")))
        con.close()
    for path in (world.reg("caja1"), twin):
        assert [r[1] for r in register_rows(path, "products")] == HOSTILE
        assert {t for (t,) in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type = 'table'")} \
            >= set(CATALOG_TABLES)
    assert register_rows(twin, "products") == register_rows(world.reg("caja1"), "products")


@pytest.mark.fault(33)
def test_a_backup_id_carrying_a_path_is_refused(world: World) -> None:
    for bad in ("../../../etc", "..", "x/../../y", "/etc/passwd"):
        result = world.posync("catalogs", "restore", "--remote", "caja1", "--backup", bad)
        assert result.exit_code == 2, result.output
        assert result.output == f"error: backup id {bad!r} is not valid; use an id from `posync catalogs backups`.\n"


@pytest.mark.fault(28, 29)
def test_an_import_during_a_catalog_push_exits_4_and_the_push_completes_later(world: World, paused: Path) -> None:
    load_catalogs(world)
    push = world.start("catalogs", "push", "--mode", "partial", "--remote", "caja1",
                       env={"POSYNC_PAUSE_AT": "push_apply", "POSYNC_PAUSE_FILE": str(paused)})
    try:
        wait_for(paused, push)
        result = world.posync("import", "--date", DAY1)
        assert result.exit_code == 4 and f"another posync run (pid {push.pid}, since " in result.output
    finally:
        kill9(push)

    assert _statuses(world) == ["pending"]
    assert world.posync("import", "--date", DAY1).exit_code == 0
    code, rerun, _ = _push(world, "--mode", "partial")
    assert code == 0 and rerun["status"] == "applied"
    _assert_pushed(world)
