"""`posync catalogs …` through the CLI: exit codes, exact messages, then the stored rows."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.conftest import Posync
from tests.test_catalogs_support import dump, make_register, product, read_register

PRODUCTS_CSV = '''product_id,name,barcode,category,unit,price,tax_id,active,updated_at
P1,"Café ""premium""",7701,bebidas,un,12.50,IVA19,true,2026-11-01 10:00:00
P2,Pan -- tajado,,panaderia,un,3.2,IVA19,false,
P3,Ñandú 😀,7703,varios,kg,0.05,IVA5,1,2026-11-02 08:30:00.5
'''


def _csv(tmp_path: Path, text: str, name: str = "products.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def caja1(posync: Posync, tmp_path: Path) -> Path:
    path = make_register(tmp_path / "caja1.db", rows={"products": [product("P1", "old"), product("P9", "gone")]})
    assert posync("remote", "add", "caja1", str(path)).exit_code == 0
    return path


def test_load_csv_then_rows_are_in_main(posync: Posync, tmp_path: Path) -> None:
    result = posync("catalogs", "load", "products", str(_csv(tmp_path, PRODUCTS_CSV)))
    assert result.exit_code == 0
    assert result.stdout == "3 rows from products.csv loaded into main's products: 3 new, 0 changed, 0 deleted, " \
                            "0 unchanged\n"
    rows = posync.rows("SELECT product_id, name, price, active, updated_at::VARCHAR FROM products ORDER BY 1")
    assert rows == [("P1", 'Café "premium"', Decimal("12.50"), True, "2026-11-01 10:00:00"),
                    ("P2", "Pan -- tajado", Decimal("3.20"), False, None),
                    ("P3", "Ñandú 😀", Decimal("0.05"), True, "2026-11-02 08:30:00.5")]
    again = posync("catalogs", "load", "products", str(_csv(tmp_path, "product_id,name\nP1,solo\n", "one.csv")))
    assert again.exit_code == 0
    assert again.stdout.splitlines() == [
        "1 row from one.csv loaded into main's products: 0 new, 1 changed, 2 deleted, 0 unchanged",
        "columns not in the file, left empty: barcode, category, unit, price, tax_id, active, updated_at"]
    assert posync.rows("SELECT product_id, name, price FROM products") == [("P1", "solo", None)]
    assert posync.rows("SELECT action, status, message FROM sync_log ORDER BY logged_at DESC LIMIT 1") == [
        ("catalog load", "ok", "products replaced from one.csv: +0 ~1 -2; columns not in the file left empty: "
                               "barcode, category, unit, price, tax_id, active, updated_at")]


def test_load_merge_keeps_the_other_rows(posync: Posync, tmp_path: Path) -> None:
    posync("catalogs", "load", "products", str(_csv(tmp_path, PRODUCTS_CSV)))
    result = posync("catalogs", "load", "products", "--merge",
                    str(_csv(tmp_path, "product_id,name,price\nP2,pan,4\nP4,nuevo,1\n", "more.csv")))
    assert result.exit_code == 0
    assert result.stdout.startswith("2 rows from more.csv merged into main's products: 1 new, 1 changed, 0 deleted")
    assert posync.rows("SELECT product_id, price FROM products ORDER BY 1") == [
        ("P1", Decimal("12.50")), ("P2", Decimal("4.00")), ("P3", Decimal("0.05")), ("P4", Decimal("1.00"))]


def test_load_parquet_casts_every_value_itself(posync: Posync, tmp_path: Path) -> None:
    path = tmp_path / "taxes.parquet"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM (VALUES ('IVA19', 'IVA 19%', 0.19::DOUBLE), ('EXE', 'Exento', 0::DOUBLE)) "
                f"t(tax_id, name, rate)) TO '{path}' (FORMAT parquet)")
    con.close()
    assert posync("catalogs", "load", "taxes", str(path)).exit_code == 0
    assert posync.rows("SELECT * FROM taxes ORDER BY 1") == [("EXE", "Exento", Decimal("0.0000")),
                                                             ("IVA19", "IVA 19%", Decimal("0.1900"))]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,price\nx,1\n",
         "products.csv: no product_id column, the key of products (columns found: name, price)."),
        ("product_id,name\nP1,a\nP2,b\nP1,c\n",
         "products.csv: 1 product_id value(s) appear more than once ('P1' on rows 1, 3); a catalog needs one row "
         "per key."),
        ("product_id,price,active\nP1,abc,true\nP2,1.00005,si\nP3,2,false\n",
         "products.csv: 3 value(s) do not cast (row 1: price 'abc' is not a number; row 2: active 'si' is not true "
         "or false; row 2: price '1.00005' has more than 4 decimals); fix them and load again."),
        ("product_id,prize\nP1,3\n",
         "products.csv: unknown column(s) prize for products (its columns: product_id, name, barcode, category, "
         "unit, price, tax_id, active, updated_at)."),
        ("product_id,name\n,sin código\n", "products.csv: product_id is empty on row(s) 1; every row needs its key."),
        ("product_id,name\n", "products.csv: the file has no rows; nothing was loaded."),
    ],
)
def test_load_refuses_bad_files_with_exit_2(posync: Posync, tmp_path: Path, text: str, message: str) -> None:
    posync("catalogs", "load", "products", str(_csv(tmp_path, PRODUCTS_CSV, "good.csv")))
    result = posync("catalogs", "load", "products", str(_csv(tmp_path, text)))
    assert result.exit_code == 2
    assert result.stderr == f"error: {message}\n"
    assert posync.scalar("SELECT count(*) FROM products") == 3  # main untouched


def test_load_refuses_other_formats(posync: Posync, tmp_path: Path) -> None:
    result = posync("catalogs", "load", "products", str(_csv(tmp_path, "x", "products.xlsx")))
    assert (result.exit_code, result.stderr) == (2, "error: products.xlsx: unknown format .xlsx; give a .csv or "
                                                    ".parquet file.\n")


def test_diff_prints_the_sql_and_changes_nothing(posync: Posync, tmp_path: Path, caja1: Path) -> None:
    posync("catalogs", "load", "products", str(_csv(tmp_path, PRODUCTS_CSV)))
    before = dump(caja1)
    result = posync("catalogs", "diff", "--remote", "caja1", "--table", "products")
    assert result.exit_code == 0
    assert result.stdout.startswith("-- posync catalog push to register caja1 (sqlite, mapping canonical): "
                                    "mode partial\n")
    assert "DELETE FROM \"products\" WHERE \"product_id\" IN ('P9');" in result.stdout
    assert result.stderr == "caja1 products: +2 ~1 -1 (unchanged 0)\n"
    assert dump(caja1) == before
    assert posync.scalar("SELECT count(*) FROM pushes") == 0


def test_dry_run_writes_one_file_per_register_and_changes_nothing(posync: Posync, tmp_path: Path,
                                                                   caja1: Path) -> None:
    posync("catalogs", "load", "products", str(_csv(tmp_path, PRODUCTS_CSV)))
    before = dump(caja1)
    result = posync("catalogs", "push", "--mode", "partial", "--dry-run", "--sql-dir", str(tmp_path / "out"))
    assert result.exit_code == 0
    assert f"  caja1: SQL written to {tmp_path / 'out' / 'caja1.sql'}" in result.stdout
    assert (tmp_path / "out" / "caja1.sql").read_text().startswith("-- posync catalog push to register caja1")
    assert dump(caja1) == before


def test_push_then_restore_through_the_cli(posync: Posync, tmp_path: Path, caja1: Path) -> None:
    posync("catalogs", "load", "products", str(_csv(tmp_path, PRODUCTS_CSV)))
    original = read_register(caja1, "canonical", "products")
    result = posync("catalogs", "push", "--mode", "partial", "--table", "products", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    (register,) = doc["registers"]
    assert (doc["exit_code"], register["status"], register["tables"]) == (0, "applied", [
        {"table": "products", "inserted": 2, "updated": 1, "deleted": 1, "unchanged": 0}])
    assert [r[0] for r in read_register(caja1, "canonical", "products")] == ["P1", "P2", "P3"]
    log = posync.rows("SELECT register, action, mode, inserted, updated, skipped, message FROM sync_log "
                      "WHERE action = 'push'")
    assert log == [("caja1", "push", "partial", 2, 1, 0, f"products: +2 ~1 -1 (backup {register['backup_id']})")]
    listing = posync("catalogs", "backups")
    assert listing.exit_code == 0 and register["backup_id"] in listing.stdout
    restored = posync("catalogs", "restore", "--remote", "caja1", "--backup", register["backup_id"])
    assert restored.exit_code == 0
    assert restored.stdout.startswith(f"restored backup {register['backup_id']} on caja1: products: 1 put back, "
                                      "1 restored, 2 removed\n")
    assert read_register(caja1, "canonical", "products") == original
    history = posync("catalogs", "history")
    assert [line.split()[3:5] for line in history.stdout.splitlines()[2:]] == [["restore", "applied"],
                                                                               ["partial", "applied"]]


def test_refusal_and_usage_errors_exit_2(posync: Posync, tmp_path: Path, caja1: Path) -> None:
    posync("catalogs", "load", "products", str(_csv(tmp_path, "product_id,name\nP1,x\n")))
    sqlite3.connect(caja1).executescript("INSERT INTO products (product_id) VALUES ('P7'), ('P8');").close()
    refused = posync("catalogs", "push", "--mode", "replace")
    assert refused.exit_code == 2
    assert "  caja1: would delete 3 of 4 products on caja1: refused; check main's catalog, or rerun with --force " \
           "if that is intended (the rows are backed up first)." in refused.stdout
    assert posync("catalogs", "push").exit_code == 2  # --mode is required
    no_dry = posync("catalogs", "push", "--mode", "partial", "--sql-dir", str(tmp_path))
    assert no_dry.exit_code == 2 and "--sql-dir goes with --dry-run" in no_dry.stderr
    unknown = posync("catalogs", "diff", "--remote", "caja9")
    assert (unknown.exit_code, unknown.stderr) == (2, "error: no register named caja9. Registered: caja1.\n")
    bad_backup = posync("catalogs", "restore", "--remote", "caja1", "--backup", "caja1-nope")
    assert bad_backup.exit_code == 2 and "no backup caja1-nope in" in bad_backup.stderr
