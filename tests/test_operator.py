"""The operator's view (issue 13): commands that refuse harm, filters and arguments checked before any work,
registers checked against their mapping at `remote add`, and tables that read well. CLI on real files.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from etl import demo
from sample_data import SampleSpec, generate
from tests.conftest import DAY1, Posync

READY = Path(__file__).parent.parent / "sample_data" / "ready"


@pytest.fixture
def added(posync: Posync, tmp_path: Path) -> list[Path]:
    paths = generate(tmp_path / "registers", SampleSpec(registers=2, vouchers_per_day=8))
    for path in paths:
        assert posync("remote", "add", path.stem, str(path), "--ip", f"10.0.0.{path.stem[-1]}").exit_code == 0
    return paths


# --- nothing destructive without consent -------------------------------------------------------------------


def test_demo_refuses_a_folder_it_did_not_make_and_touches_nothing(posync: Posync, tmp_path: Path,
                                                                    added: list[Path]) -> None:
    mine = tmp_path / "mis-cosas"
    mine.mkdir()
    (mine / "ventas.xlsx").write_text("mine")
    for folder in (mine, tmp_path):  # a user's folder; a folder holding a real main store with its registers
        result = Posync(tmp_path / "unused.duckdb")("demo", "--dir", str(folder))
        assert result.exit_code == 2
        assert result.output == (f"error: {folder} is not empty and was not made by `posync demo`; nothing was "
                                 "touched. Give the demo a new or empty folder, e.g. --dir demo.\n")
    assert (mine / "ventas.xlsx").read_text() == "mine"
    assert posync.scalar("SELECT count(*) FROM remotes") == 2 and added[0].exists()


def test_demo_wipes_only_a_folder_it_made_itself(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    demo.prepare(folder)
    (folder / "left-over.db").write_text("from the last demo")
    demo.prepare(folder)  # its own folder: wiped and made again

    assert sorted(p.name for p in folder.iterdir()) == [demo.MARKER]


# --- filters and arguments ---------------------------------------------------------------------------------


def test_log_filters_are_checked(posync: Posync, added: list[Path]) -> None:
    typo = posync("log", "--action", "imprt")
    unknown = posync("log", "--remote", "nort")
    assert posync("remote", "remove", "caja2").exit_code == 0
    removed = posync("log", "--remote", "caja2")

    assert typo.exit_code == 2 and "'imprt' is not one of 'import', 'validate', 'sync'" in typo.output
    assert unknown.exit_code == 2
    assert unknown.output == "error: no register named nort has ever been in this store; registers: caja1, caja2.\n"
    assert removed.exit_code == 0 and "remote remove" in removed.output  # a removed register keeps its history
    assert posync("log", "--action", "import").output == "no log rows match these filters.\n"


def test_a_report_takes_its_format_from_the_suffix_and_its_folder_must_exist(posync: Posync, added: list[Path],
                                                                             tmp_path: Path) -> None:
    html, as_json = tmp_path / "informe.html", tmp_path / "informe.json"

    assert posync("validate", "--date", DAY1, "-o", str(html)).exit_code == 0
    assert posync("validate", "--date", DAY1, "-o", str(as_json)).exit_code == 0
    missing = posync("validate", "--date", DAY1, "-o", str(tmp_path / "no" / "such" / "x.html"))

    assert html.read_text().startswith("<!DOCTYPE html>")
    assert json.loads(as_json.read_text())["process_date"] == DAY1
    assert missing.exit_code == 2 and f"folder {tmp_path / 'no' / 'such'} does not exist" in missing.output
    assert posync.scalar("SELECT count(*) FROM sync_log WHERE action = 'validate'") == 4  # 2 registers × 2 runs


def test_an_html_report_is_not_poured_onto_a_terminal(posync: Posync, added: list[Path]) -> None:
    main, secondary = pty.openpty()  # a real terminal for stdout
    done = subprocess.run([sys.executable, "-m", "etl", "--db", str(posync.db), "validate", "--date", DAY1,
                           "--format", "html"], stdout=secondary, stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(secondary)
    os.close(main)

    assert done.returncode == 2
    assert "an HTML report is a file to open in a browser: add --output report.html" in done.stderr


# --- registers checked against their mapping ---------------------------------------------------------------


def test_remote_add_names_the_mapping_that_fits_and_refuses_one_file_twice(posync: Posync, tmp_path: Path) -> None:
    legacy = tmp_path / "caja4.db"
    legacy.write_bytes((READY / "caja4_legacy.db").read_bytes())

    wrong = posync("remote", "add", "caja4", str(legacy))
    right = posync("remote", "add", "caja4", str(legacy), "--mapping", "legacy_es")
    link = tmp_path / "enlace.db"
    link.symlink_to(legacy)
    twice = posync("remote", "add", "caja5", str(link), "--mapping", "legacy_es")

    assert wrong.exit_code == 2
    assert wrong.output == (
        "error: register caja4: table voucher_types missing (mapping canonical.json, $.tables.voucher_types.source); "
        "the register's schema does not match its mapping; this looks like a legacy_es register: add "
        "--mapping legacy_es.\n")
    assert right.exit_code == 0
    assert twice.exit_code == 2 and twice.output.startswith(f"error: register caja4 already reads {legacy}; ")
    assert posync.rows("SELECT name FROM remotes") == [("caja4",)]


# --- tables that read well ---------------------------------------------------------------------------------


def test_tables_align_numbers_show_the_ip_and_fit_the_log_to_the_terminal(posync: Posync, added: list[Path]) -> None:
    assert posync("import", "--date", DAY1).exit_code == 0
    listing = posync("remote", "list").output.splitlines()
    log = posync("log", env={"COLUMNS": "130"}).output.splitlines()

    assert listing[0].split()[:2] == ["register", "ip"] and "10.0.0.1" in listing[2]
    assert all(len(line) <= 130 for line in log) and any(line.endswith("…") for line in log)
    header = log[0]
    for line in log[2:]:  # counts right-aligned under their header, whatever the status column holds
        assert line[header.index("held") + 3] in "0123456789"
