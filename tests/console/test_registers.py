"""The landing page: the register table with reachability, codes, last import and health; add, edit, remove,
open; the status banner. Each action is checked in main afterwards, log row included."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from tests.conftest import DAY1
from tests.console.conftest import Console, console_for, text_of
from tests.test_sync import World


def test_a_fresh_console_has_no_store_and_adding_the_first_register_creates_it(
        tmp_path: Path, make_registers: Callable[..., list[Path]]) -> None:
    caja1 = make_registers(registers=1, vouchers_per_day=3)[0]
    db = tmp_path / "main.duckdb"
    for console in console_for(db):
        landing = console.get("/")
        assert landing.status_code == 200
        assert "No main store yet" in text_of(landing.text) and not db.exists()

        added = console.post("/registers", {"name": "caja1", "path": str(caja1), "ip": "10.0.0.11"})

        assert added.status_code == 303 and added.headers["location"] == "/"
        page = text_of(console.get("/").text)
        assert f"added caja1: sqlite database at {caja1} (mapping canonical)" in page
        assert "caja1" in page and "10.0.0.11" in page and "reachable; nothing imported yet" in page
        assert console.posync.rows("SELECT name, path, ip, mapping, engine FROM remotes") == [
            ("caja1", str(caja1), "10.0.0.11", "canonical", "sqlite")]
        assert console.posync.rows("SELECT register, action, status FROM sync_log") == [("caja1", "remote add", "ok")]


def test_bad_input_gets_the_clis_sentence_on_the_page_and_changes_nothing(console: Console,
                                                                           tmp_path: Path) -> None:
    cases = [
        ({"name": "caja 9", "path": "x"},
         "register name 'caja 9' is not allowed; use 1-64 letters, digits, '_' or '-' (e.g. caja1)."),
        ({"name": "caja1", "path": str(console.posync.db)},
         "a register named caja1 already exists; use posync remote edit caja1 ."),
        ({"name": "caja9", "path": str(tmp_path / "nowhere.db")},
         f"path {tmp_path / 'nowhere.db'} does not exist; check it, or pass --no-check to register it anyway."),
        ({"name": "caja9", "path": str(tmp_path), "mapping": "klingon"},
         "mapping klingon: no such mapping file"),
    ]
    before = console.posync.rows("SELECT * FROM remotes ORDER BY name")
    for form, sentence in cases:
        response = console.post("/registers", form)
        assert response.status_code == 400, form
        assert sentence in text_of(response.text), (form, text_of(response.text)[:400])
        assert f'value="{form["name"]}"' in response.text  # what was typed is still there
    assert console.posync.rows("SELECT * FROM remotes ORDER BY name") == before


def test_a_path_not_reachable_now_can_be_registered_with_the_box_ticked_and_shows_red(console: Console,
                                                                                      tmp_path: Path) -> None:
    gone = tmp_path / "caja9" / "pos.db"
    response = console.post("/registers", {"name": "caja9", "path": str(gone), "no_check": "1"})

    assert response.status_code == 303
    page = console.get("/").text
    row = page[page.index('<td class="name">caja9'):]
    assert 'class="h-bad"' in page and "not reachable now" in row[:1200]
    assert console.posync.scalar("SELECT path FROM remotes WHERE name = 'caja9'") == str(gone)


def test_edit_changes_path_ip_and_mapping_with_the_same_checks(console: Console, conflict_world: World) -> None:
    form = console.get("/registers/caja3/edit")
    assert form.status_code == 200 and f'value="{conflict_world.paths[2]}"' in form.text

    bad = console.post("/registers/caja3", {"path": str(conflict_world.root / "none.db"), "ip": "", "mapping": ""})
    assert bad.status_code == 400 and "does not exist" in text_of(bad.text)

    ok = console.post("/registers/caja3", {"path": str(conflict_world.paths[2]), "ip": "10.0.0.13",
                                           "mapping": "canonical"})
    assert ok.status_code == 303
    assert console.posync.rows("SELECT ip, mapping FROM remotes WHERE name = 'caja3'") == [("10.0.0.13", "canonical")]
    edits = "SELECT count(*) FROM sync_log WHERE action = 'remote edit' AND register = 'caja3'"
    assert console.posync.scalar(edits) == 1
    missing = console.get("/registers/nope/edit")
    assert missing.status_code == 404
    assert "no register named nope. Registered: caja1, caja2, caja3." in text_of(missing.text)


def test_remove_forgets_the_register_and_keeps_its_data(clean_console: Console) -> None:
    vouchers = clean_console.posync.scalar("SELECT count(*) FROM vouchers WHERE register = 'caja2'")

    response = clean_console.post("/registers/caja2/remove")

    assert response.status_code == 303
    assert "removed caja2 (its imported data stays in main)" in text_of(clean_console.get("/").text)
    assert clean_console.posync.rows("SELECT name FROM remotes") == [("caja1",)]
    assert clean_console.posync.scalar("SELECT count(*) FROM vouchers WHERE register = 'caja2'") == vouchers > 0
    assert clean_console.post("/registers/caja2/remove").status_code == 400  # gone: the CLI's sentence again


def test_open_folder_shows_the_folder(console: Console, conflict_world: World) -> None:
    response = console.post("/registers/caja1/open")

    assert response.status_code == 303
    assert f"folder of caja1: {conflict_world.paths[0].parent}" in text_of(console.get("/").text)


def test_the_table_shows_codes_last_import_and_health_after_an_import(clean_console: Console) -> None:
    page = clean_console.get("/")
    text = text_of(page.text)

    assert page.status_code == 200
    quiet = dt.date.today() - dt.date.fromisoformat(DAY1) > dt.timedelta(days=2)  # the sample day may be past
    if quiet:
        idle = (dt.date.today() - dt.date.fromisoformat(DAY1)).days
        assert text.count(f"no sales in main for {idle} days") == 4  # in the banner, and as each register's health
    else:
        assert "All well" in text and text.count(f"last sales {DAY1}") == 2  # each register's health
    assert "FV1, NC1" in text and "FV2, NC2" in text
    last = clean_console.posync.scalar("SELECT max(imported_at) FROM import_batches WHERE register = 'caja1'")
    assert last.isoformat(sep=" ", timespec="seconds") in text
    assert page.text.count('class="h-warn"' if quiet else 'class="h-ok"') == 2


def test_the_status_banner_names_what_needs_a_person(console: Console) -> None:
    text, done = console.run("/import", {"date": DAY1, "mode": "insert"})
    assert done["exit_code"] == 3

    banner = text_of(console.get("/").text)

    assert f"caja1 {DAY1}: 10 vouchers held back, not imported since" in banner
    assert f"caja2 {DAY1}: 10 vouchers held back, not imported since" in banner
