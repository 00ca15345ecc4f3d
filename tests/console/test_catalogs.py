"""Actualizar catálogos: a CSV upload loaded into main, the push SQL previewed per register (nothing changed),
the push applied with its backup, and the backup restored; every step checked in main and at the register."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from etl import paths
from etl.demo import build_catalogs
from tests.console.conftest import Console, text_of
from tests.test_sync import World, register_count

PRICE = "SELECT CAST(price AS INTEGER) FROM products WHERE product_id = 'P00001'"


@pytest.fixture
def exports(clean_world: World) -> Path:
    """The ERP's catalog exports: caja1's products with P00001 at 42000, one product added, one dropped."""
    folder = clean_world.root / "exports"
    build_catalogs(folder, clean_world.paths[0])
    return folder


def _upload(console: Console, file: Path, table: str = "products", name: str | None = None) -> Any:
    return console.client.post("/catalogs/load", data={"csrf": console.csrf, "table": table},
                               files={"file": (name or file.name, file.read_bytes(), "text/csv")},
                               follow_redirects=False)


def test_upload_preview_push_and_restore(clean_console: Console, clean_world: World, exports: Path) -> None:
    caja1 = clean_world.paths[0]
    before = register_count(caja1, PRICE)

    loaded, _events, done = clean_console.job(_upload(clean_console, exports / "products.csv"))
    assert done == {"state": "done", "exit_code": 0}
    assert "30 rows from products.csv loaded into main's products" in text_of(loaded.text)
    assert clean_console.posync.scalar(f"{PRICE}") == 42000
    assert clean_console.posync.scalar("SELECT count(*) FROM sync_log WHERE action = 'catalog load'") == 1
    uploads = paths.data_dir(str(clean_world.posync.db)) / "uploads"
    assert not any(uploads.rglob("*.csv"))  # the copy is gone once loaded

    preview, done = clean_console.run("/catalogs/preview", {"mode": "partial", "remote": "caja1", "table": "products"})
    assert done["exit_code"] == 0
    assert "What a partial push would run" in preview and "UPDATE" in preview and "42000" in preview
    assert register_count(caja1, PRICE) == before  # a preview changes nothing
    assert clean_console.posync.scalar("SELECT count(*) FROM pushes") == 0
    job = clean_console.get("/jobs").text
    sql = clean_console.get(f"/jobs/{_last_job(job)}/files/caja1.sql")
    assert sql.status_code == 200 and "BEGIN" in sql.text and "42000" in sql.text

    pushed, done = clean_console.run("/catalogs/push", {"mode": "partial", "remote": "caja1", "table": "products"})
    assert done["exit_code"] == 0 and "applied" in pushed
    assert register_count(caja1, PRICE) == 42000
    assert clean_console.posync.rows("SELECT register, mode, status FROM pushes") == [("caja1", "partial", "applied")]
    backup = clean_console.posync.scalar("SELECT backup_id FROM pushes")
    assert f"caja1: backup {backup} taken first." in pushed
    listed = text_of(clean_console.get("/catalogs").text)
    assert backup in listed and "products 3 saved/1 added" in listed

    restored, done = clean_console.run("/catalogs/restore", {"remote": "caja1", "backup": backup})
    assert done["exit_code"] == 0 and f"Backup {backup} restored on caja1" in restored
    assert register_count(caja1, PRICE) == before
    assert clean_console.posync.scalar("SELECT count(*) FROM sync_log WHERE action = 'restore'") >= 1


def test_a_push_that_would_empty_a_register_is_previewed_with_the_refusal(clean_console: Console,
                                                                          exports: Path) -> None:
    clean_console.job(_upload(clean_console, exports / "tiny.csv"))

    preview, _ = clean_console.run("/catalogs/preview", {"mode": "replace", "remote": "caja1", "table": "products"})
    pushed, done = clean_console.run("/catalogs/push", {"mode": "replace", "remote": "caja1", "table": "products"})

    assert "would delete 29 of 30 products on caja1: a push would be refused unless forced" in preview
    assert "Force: allow deleting more than half" in preview
    assert done["exit_code"] == 2 and "refused" in pushed and "--force" in pushed


def test_a_bad_catalog_file_fails_its_job_with_the_clis_sentence(clean_console: Console, tmp_path: Path) -> None:
    bad = tmp_path / "products.csv"
    bad.write_text("name,price\nArepa,3500\n")

    page, _events, done = clean_console.job(_upload(clean_console, bad))

    assert done == {"state": "failed", "exit_code": 2}
    assert ("products.csv: no product_id column, the key of products (columns found: name, price)."
            in text_of(page.text))
    assert clean_console.posync.scalar("SELECT count(*) FROM products") == 0


def test_an_unknown_catalog_or_mode_is_refused_on_the_page(clean_console: Console, exports: Path) -> None:
    response = _upload(clean_console, exports / "products.csv", table="vouchers")
    assert response.status_code == 400
    assert "'vouchers' is not a catalog; catalogs are taxes, payment_methods, customers, products." in text_of(
        response.text)
    mode = clean_console.post("/catalogs/preview", {"mode": "everything"})
    assert mode.status_code == 400
    assert "unknown push mode 'everything'; use one of partial, total, replace." in text_of(mode.text)


def _last_job(jobs_page: str) -> int:
    return int(jobs_page.split('href="/jobs/', 1)[1].split('"', 1)[0])
