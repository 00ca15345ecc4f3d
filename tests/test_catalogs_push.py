"""Catalog push on real register files: modes, state, refusals, backups, restore, faults, engines, dialects."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import sqlglot

from etl import remotes, staging
from etl.catalogs import PushRequest, diff_sql, list_backups, push_catalogs, restore_backup
from etl.catalogs import push as push_module
from etl.catalogs.plan import HASH_TAG
from etl.errors import ConfigError
from etl.mapping import MAPPINGS_DIR
from etl.store import Store
from tests.test_catalogs_support import (
    TAX_ROWS,
    dump,
    main_rows,
    main_store,
    make_register,
    product,
    read_register,
    set_main,
)

FIXTURES = Path(__file__).parent / "fixtures" / "push"
T0 = dt.datetime(2026, 11, 26, 9, 30)
REGISTER_PRODUCTS = [product("P1", "old name", "1.00"), product("P2", "pan", "3.20", active=False),
                     product("P9", "gone", "2.00")]
MAIN_PRODUCTS = [product("P1", "Café \"premium\" 'x'", "12.50", updated=T0), product("P2", "pan", "3.20", active=False),
                 product("P3", "Ñandú 😀 -- ;", "0.05", active=None, tax="IVA5"),
                 product("P4", "", None, updated=dt.datetime(2026, 11, 26, 23, 59, 59, 500000))]


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with main_store(tmp_path) as s:
        yield s


def _register(store: Store, tmp_path: Path, name: str = "caja1", mapping: str = "canonical",
              engine: str = "sqlite", rows: dict | None = None) -> Path:  # type: ignore[type-arg]
    suffix = ".db" if engine == "sqlite" else ".duckdb"
    path = make_register(tmp_path / f"{name}{suffix}", mapping, engine,
                         rows if rows is not None else {"products": REGISTER_PRODUCTS, "taxes": TAX_ROWS[:1]})
    remotes.add(store, name, str(path), None, mapping)
    return path


def _fill_main(store: Store) -> None:
    set_main(store, "products", MAIN_PRODUCTS)
    set_main(store, "taxes", TAX_ROWS)


def _push(store: Store, mode: str = "partial", **kw):  # type: ignore[no-untyped-def]
    return push_catalogs(store, PushRequest(mode=mode, **kw))


def _assert_equal(store: Store, path: Path, mapping: str = "canonical", engine: str = "sqlite") -> None:
    for table in ("products", "taxes", "customers", "payment_methods"):
        assert read_register(path, mapping, table, engine) == main_rows(store, table), table


def test_first_push_reads_the_register_later_pushes_use_state(store: Store, tmp_path: Path) -> None:
    path = _register(store, tmp_path)
    _fill_main(store)
    first = _push(store)
    assert first.exit_code == 0
    r = first.registers[0]
    assert r.status == "applied" and r.backup_id and r.push_id
    counts = {t.table: (t.inserted, t.updated, t.deleted, t.unchanged) for t in r.tables}
    assert counts["products"] == (2, 1, 1, 1) and counts["taxes"] == (1, 0, 0, 1)
    _assert_equal(store, path)
    assert store.con.execute("SELECT status FROM pushes").fetchall() == [("applied",)]
    assert store.con.execute("SELECT count(*) FROM push_state WHERE key IS NULL AND row_hash = ?",
                             [HASH_TAG]).fetchone() == (2,)  # products and taxes: the catalogs main has loaded
    # pushing twice changes nothing the second time: no SQL, no pushes row, same file
    before = dump(path)
    second = _push(store)
    assert second.registers[0].status == "unchanged" and dump(path) == before
    assert store.con.execute("SELECT count(*) FROM pushes").fetchone() == (1,)
    # a change on main: compared with the recorded state, the register is not read at all
    with store.transaction() as con:
        con.execute("UPDATE products SET price = 4.00 WHERE product_id = 'P2'")
        con.execute("DELETE FROM products WHERE product_id = 'P4'")
    d = diff_sql(store, "caja1")
    assert "products: +0 ~1 -1 (unchanged 2; compared with what main last pushed there)" in d.sql
    assert 'UPDATE "products" SET "name" = "v"."name"' in d.sql  # state knows rows, not columns: all of them
    third = _push(store)
    assert [(t.table, t.updated, t.deleted) for t in third.registers[0].tables if t.table == "products"] == \
        [("products", 1, 1)]
    _assert_equal(store, path)


def test_partial_against_the_register_updates_only_changed_columns(store: Store, tmp_path: Path) -> None:
    _register(store, tmp_path)
    set_main(store, "products", [product("P1", "old name", "9.99"), *REGISTER_PRODUCTS[1:]])
    d = diff_sql(store, "caja1", tables=("products",))
    assert 'WITH "v"("product_id", "price") AS (VALUES (\'P1\', 9.9900)) UPDATE "products" SET "price" = "v"."price"' \
        in d.sql
    assert "INSERT" not in d.sql and "DELETE" not in d.sql


def test_diff_needs_no_register_once_state_is_recorded(store: Store, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _register(store, tmp_path)
    _fill_main(store)
    _push(store)
    set_main(store, "products", MAIN_PRODUCTS[:3])

    def no_copy(*_a: object) -> None:
        raise AssertionError("the register was read")

    monkeypatch.setattr(staging, "stage", no_copy)
    assert diff_sql(store, "caja1").tables[-1].deleted == 1


def test_total_upserts_every_row_and_keeps_the_registers_own(store: Store, tmp_path: Path) -> None:
    path = _register(store, tmp_path)
    _fill_main(store)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE products SET stock = 42 WHERE product_id = 'P1'")
    r = _push(store, "total").registers[0]
    assert r.status == "applied" and r.deleted == 0
    got = {row[0]: row for row in read_register(path, "canonical", "products")}
    for row in main_rows(store, "products"):
        assert got[row[0]] == row
    assert "P9" in got  # total deletes nothing
    with sqlite3.connect(path) as db:  # columns posync does not map are left alone
        assert db.execute("SELECT stock FROM products WHERE product_id = 'P1'").fetchone() == (42,)
    # after total, main's state includes P9 (still there): a partial push now deletes it
    assert _push(store).registers[0].tables[-1].deleted == 1
    _assert_equal(store, path)


def test_replace_is_backed_up_and_restore_undoes_it(store: Store, tmp_path: Path) -> None:
    path = _register(store, tmp_path)
    before = {t: read_register(path, "canonical", t) for t in ("products", "taxes")}
    _fill_main(store)
    r = _push(store, "replace").registers[0]
    assert r.status == "applied"
    _assert_equal(store, path)
    manifest = next(m for m in list_backups(store.data_dir, "caja1") if m.backup_id == r.backup_id)
    saved = {t.table: (t.saved, t.inserted) for t in manifest.tables}
    assert saved["products"] == (3, 2) and saved["taxes"] == (1, 1) and manifest.mode == "replace"
    restored = restore_backup(store, "caja1", r.backup_id)  # type: ignore[arg-type]
    assert restored.status == "applied"
    assert {t: read_register(path, "canonical", t) for t in ("products", "taxes")} == before
    assert store.con.execute("SELECT mode, status FROM pushes ORDER BY created_at DESC LIMIT 1").fetchone() == \
        ("restore", "applied")
    # the restore dropped main's state: the next push reads the register and puts main's rows back
    assert "compared with the register's current rows" in diff_sql(store, "caja1").sql
    _push(store, "replace")
    _assert_equal(store, path)


def test_restore_refuses_a_backup_of_another_register(store: Store, tmp_path: Path) -> None:
    _register(store, tmp_path)
    _register(store, tmp_path, "caja2")
    _fill_main(store)
    backup = _push(store, remotes=("caja1",)).registers[0].backup_id
    with pytest.raises(ConfigError, match=f"backup {backup} was taken from register caja1, not caja2"):
        restore_backup(store, "caja2", backup)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="backup id '../x' is not valid"):
        restore_backup(store, "caja1", "../x")


@pytest.mark.fault(30)
@pytest.mark.parametrize("mode", ["partial", "replace"])
def test_deleting_more_than_half_is_refused_without_force(store: Store, tmp_path: Path, mode: str) -> None:
    rows = [product(f"P{i}") for i in range(5)]
    path = _register(store, tmp_path, rows={"products": rows})
    set_main(store, "products", rows[:1])
    before = dump(path)
    result = _push(store, mode, tables=("products",))
    r = result.registers[0]
    assert result.exit_code == 2 and r.status == "refused"
    assert r.error == ("would delete 4 of 5 products on caja1: refused; check main's catalog, or rerun with --force "
                       "if that is intended (the rows are backed up first).")
    assert dump(path) == before
    assert store.con.execute("SELECT count(*) FROM pushes").fetchone() == (0,)
    assert store.con.execute("SELECT status, message FROM sync_log WHERE action = 'push'").fetchone() == \
        ("error", r.error)
    forced = _push(store, mode, tables=("products",), force=True)
    assert forced.exit_code == 0 and read_register(path, "canonical", "products") == rows[:1]


def test_verify_reports_rows_edited_at_the_register(store: Store, tmp_path: Path) -> None:
    path = _register(store, tmp_path)
    _fill_main(store)
    _push(store)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE products SET name = 'edited at the caja' WHERE product_id = 'P2'")
        db.execute("DELETE FROM products WHERE product_id = 'P3'")
        db.execute("INSERT INTO products (product_id, name) VALUES ('LOCAL', 'made at the caja')")
    plain = diff_sql(store, "caja1", tables=("products",))
    assert plain.tables[0].updated == 0 and not plain.edits  # the state does not know
    r = _push(store, verify=True, force=True).registers[0]
    edits = next(e for e in r.edits if e.table == "products")
    assert (edits.edited, edits.added, edits.deleted) == (1, 1, 1)
    assert edits.describe("caja1") == ("caja1 products: 1 edited, 1 added, 1 deleted at the register since the last "
                                       "push (e.g. LOCAL, P2, P3)")
    _assert_equal(store, path)


@pytest.mark.parametrize(("mapping", "engine"), [("canonical", "duckdb"), ("legacy_es", "sqlite"),
                                                 ("legacy_es", "duckdb")])
def test_every_flavour_and_engine(store: Store, tmp_path: Path, mapping: str, engine: str) -> None:
    path = _register(store, tmp_path, mapping=mapping, engine=engine)
    _fill_main(store)
    for mode in ("partial", "total", "replace", "partial"):
        result = _push(store, mode, force=True)
        assert result.exit_code == 0, result.registers[0].error
        _assert_equal(store, path, mapping, engine)
    with store.transaction() as con:
        con.execute("UPDATE products SET active = NOT active, updated_at = TIMESTAMP '2027-01-01 00:00:00'")
    assert _push(store).exit_code == 0
    _assert_equal(store, path, mapping, engine)


def test_a_column_mapped_by_an_expression_cant_be_pushed(store: Store, tmp_path: Path) -> None:
    mapping = tmp_path / "odd.json"
    text = (MAPPINGS_DIR / "canonical.json").read_text()
    mapping.write_text(text.replace('"name": "odd"', "").replace('"name": "canonical"', '"name": "odd"').replace(
        '"price": "price"', '"price": {"expr": "price / 100"}'))
    path = make_register(tmp_path / "caja1.db")
    remotes.add(store, "caja1", str(path), None, str(mapping))
    _fill_main(store)
    result = _push(store, tables=("products",))
    assert result.exit_code == 2
    assert result.registers[0].error == (
        "register caja1: products.price is mapped by an expression (mapping odd.json, "
        "$.tables.products.columns.price), which a push can't write back; map it to a plain column, "
        "or leave products out with --table.")
    assert _push(store, tables=("taxes",)).exit_code == 0


@pytest.mark.fault(4, 29)
def test_a_busy_register_is_a_transient_error(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(push_module, "BUSY_SECONDS", 0.1)
    path = _register(store, tmp_path)
    _fill_main(store)
    pos = sqlite3.connect(path, isolation_level=None)
    pos.execute("BEGIN IMMEDIATE")  # the POS is writing
    try:
        result = _push(store)
    finally:
        pos.execute("ROLLBACK")
        pos.close()
    r = result.registers[0]
    assert (result.exit_code, r.status) == (1, "busy")
    assert r.error == "register caja1 is busy (locked by the POS); the push will be retried."
    assert store.con.execute("SELECT status FROM pushes").fetchall() == [("failed",)]
    assert _push(store).exit_code == 0
    _assert_equal(store, path)


@pytest.mark.fault(31)
def test_schema_drift_is_named_and_nothing_is_applied(store: Store, tmp_path: Path) -> None:
    path = _register(store, tmp_path)
    _fill_main(store)
    _push(store)
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE products DROP COLUMN barcode")
    before = dump(path)
    set_main(store, "products", [*MAIN_PRODUCTS, product("P5")])
    r = _push(store).registers[0]  # only an insert, from state: the register is not read, the drift shows at apply
    assert r.status == "failed"
    assert r.error == ("register caja1: products.barcode missing, needed for products.barcode (mapping canonical.json, "
                       "$.tables.products.columns.barcode); nothing was changed.")
    assert dump(path) == before
    set_main(store, "products", MAIN_PRODUCTS[:3])
    r = _push(store).registers[0]  # a delete: its backup reads the register, which names the drift too
    assert r.error == ("register caja1: products.barcode missing, needed for products.barcode (mapping canonical.json, "
                       "$.tables.products.columns.barcode).")
    assert dump(path) == before


def test_one_failing_register_does_not_stop_the_others(store: Store, tmp_path: Path) -> None:
    _register(store, tmp_path, "caja1")
    path2 = _register(store, tmp_path, "caja2")
    _fill_main(store)
    (tmp_path / "caja1.db").unlink()
    result = _push(store)
    assert result.exit_code == 1
    assert [r.status for r in result.registers] == ["failed", "applied"]
    assert result.registers[0].error.startswith("register caja1: file not found")  # type: ignore[union-attr]
    _assert_equal(store, path2)


FAULT_STAGES = ["push_backup", "push_apply", "push_apply_mid", "push_mark"]


@pytest.mark.fault(29)
@pytest.mark.parametrize("stage", FAULT_STAGES)
def test_a_fault_at_each_step_leaves_the_register_whole_and_a_rerun_converges(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str) -> None:
    path = _register(store, tmp_path)
    _fill_main(store)
    before = dump(path)
    monkeypatch.setenv("POSYNC_FAIL_AT", stage)
    result = _push(store)
    assert result.exit_code == 1 and result.registers[0].error == f"injected failure at stage {stage} (POSYNC_FAIL_AT)."
    expected_status = {"push_backup": [], "push_apply": [("pending",)], "push_apply_mid": [("failed",)],
                       "push_mark": [("pending",)]}[stage]
    assert store.con.execute("SELECT status FROM pushes").fetchall() == expected_status
    if stage == "push_mark":
        _assert_equal(store, path)  # the register committed; main had not marked it yet
    else:
        assert dump(path) == before
    monkeypatch.delenv("POSYNC_FAIL_AT")
    again = _push(store)
    assert again.exit_code == 0
    assert again.registers[0].status == ("unchanged" if stage == "push_mark" else "applied")
    _assert_equal(store, path)
    assert store.con.execute("SELECT count(*) FROM pushes WHERE status = 'pending'").fetchone() == (0,)


def test_large_pushes_are_batched_into_multi_row_statements(store: Store, tmp_path: Path) -> None:
    path = _register(store, tmp_path, rows={})
    rows = [product(f"K{i:05d}", "n" * (i % 7), f"{i}.25") for i in range(1203)]
    set_main(store, "products", rows)
    d = diff_sql(store, "caja1", tables=("products",))
    inserts = [s for s in d.script.statements if s.sql.startswith("INSERT")]
    assert [s.note for s in inserts] == [f"products: insert 1,203 new rows ({i}/3)" for i in (1, 2, 3)]
    assert all(sqlglot.parse(s.sql, read="sqlite") for s in inserts)
    assert _push(store, tables=("products",)).exit_code == 0
    assert read_register(path, "canonical", "products") == rows


def _sqlite3(db: Path, script: Path) -> subprocess.CompletedProcess[str]:
    with script.open() as fh:
        return subprocess.run(["sqlite3", str(db)], stdin=fh, capture_output=True, text=True, check=False)


needs_sqlite3 = pytest.mark.skipif(shutil.which("sqlite3") is None, reason="the sqlite3 client is not installed")


@needs_sqlite3
@pytest.mark.parametrize("mode", ["partial", "total", "replace"])
def test_dry_run_sql_run_by_sqlite3_gives_the_register_a_push_gives(store: Store, tmp_path: Path, mode: str) -> None:
    path = _register(store, tmp_path)
    copy = tmp_path / "copy.db"
    shutil.copy(path, copy)
    _fill_main(store)
    before = dump(path)
    dry = _push(store, mode, dry_run=True, sql_dir=tmp_path / "sql")
    r = dry.registers[0]
    assert r.status == "dry-run" and r.sql_file == tmp_path / "sql" / "caja1.sql"
    assert dump(path) == before and store.con.execute("SELECT count(*) FROM pushes").fetchone() == (0,)
    ran = _sqlite3(copy, r.sql_file)
    assert ran.returncode == 0 and ran.stderr == ""
    assert _push(store, mode).exit_code == 0
    assert dump(copy) == dump(path)
    assert dump(path) != before


@needs_sqlite3
def test_sqlite3_stops_at_the_first_error_and_keeps_nothing(store: Store, tmp_path: Path) -> None:
    path = _register(store, tmp_path)
    _fill_main(store)
    sql = _push(store, dry_run=True, sql_dir=tmp_path).registers[0].sql_file
    with sqlite3.connect(path) as db:  # a row the script will insert already exists: its INSERT fails
        db.execute("INSERT INTO products (product_id) VALUES ('P4')")
    before = dump(path)
    ran = _sqlite3(path, sql)  # type: ignore[arg-type]
    assert ran.returncode != 0 and "UNIQUE constraint failed" in ran.stderr
    assert dump(path) == before


@pytest.mark.parametrize("mode", ["partial", "total", "replace"])
@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_golden_sql(store: Store, tmp_path: Path, mode: str, engine: str) -> None:
    """The SQL of a fixed case, as reviewed; regenerate with POSYNC_UPDATE_GOLDEN=1 and read the diff."""
    _register(store, tmp_path, engine=engine)
    _fill_main(store)
    text = diff_sql(store, "caja1", mode).sql
    golden = FIXTURES / f"{mode}.{engine}.sql"
    if __import__("os").environ.get("POSYNC_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    for statement in diff_sql(store, "caja1", mode).script.sql:
        assert sqlglot.parse(statement, read=engine)


@pytest.mark.fault(17, 18, 32)
def test_decimals_keep_their_digits_and_text_keeps_its_quotes(store: Store, tmp_path: Path) -> None:
    path = _register(store, tmp_path, rows={})
    rows = [product("A'1", "it's -- not a comment; DROP TABLE products", "-0.01"),
            product("B\n2", "línea\nnueva\ttab \\ backslash", "123456789012.99"),
            product("C", None, None, active=None)]
    set_main(store, "products", rows)
    assert _push(store, tables=("products",)).exit_code == 0
    assert read_register(path, "canonical", "products") == rows
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT price, typeof(active) FROM products WHERE product_id = 'C'").fetchone() == \
            (None, "null")
        assert db.execute("SELECT active FROM products WHERE product_id = 'A''1'").fetchone() == (1,)
    assert Decimal("123456789012.99") in [r[5] for r in read_register(path, "canonical", "products")]
