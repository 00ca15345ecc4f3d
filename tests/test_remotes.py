"""`posync remote …`: the registry ("Administrar POS remotos")."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from sample_data import SampleSpec, generate
from tests.conftest import DAY1, Posync


def test_add_detects_sqlite_and_duckdb_by_magic_bytes(posync: Posync, tmp_path: Path) -> None:
    (made_sqlite,) = generate(tmp_path / "s", SampleSpec(registers=1, vouchers_per_day=2))
    (made_duck,) = generate(tmp_path / "d", SampleSpec(registers=1, vouchers_per_day=2, engine="duckdb"))
    sqlite_file = made_sqlite.rename(tmp_path / "caja_sqlite.bin")  # the name says nothing: the bytes do
    duck_file = made_duck.rename(tmp_path / "caja_duck.bin")

    assert posync("remote", "add", "caja1", str(sqlite_file)).exit_code == 0
    assert posync("remote", "add", "caja2", str(duck_file)).exit_code == 0

    assert posync.rows("SELECT name, engine FROM remotes ORDER BY name") == [("caja1", "sqlite"), ("caja2", "duckdb")]


def test_add_accepts_a_folder_holding_exactly_one_database(
    posync: Posync, make_registers: Callable, tmp_path: Path
) -> None:
    (path,) = make_registers(folder="one", registers=1)
    (tmp_path / "one" / "notes.txt").write_text("not a database")

    assert posync("remote", "add", "caja1", str(tmp_path / "one")).exit_code == 0
    assert posync.scalar("SELECT path FROM remotes") == str(path.resolve())

    make_registers(folder="two", registers=2)
    result = posync("remote", "add", "caja9", str(tmp_path / "two"))
    assert result.exit_code == 2
    assert "must hold exactly one SQLite or DuckDB database (found: caja1.db, caja2.db)" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["caja1", "/nonexistent/caja.db"], "does not exist; check it, or pass --no-check"),
        (["caja;rm", "/tmp"], "is not a register name"),
        (["x'; DROP TABLE vouchers; --", "/tmp"], "is not a register name"),
        (["caja1", "{db}", "--mapping", "nope"], "no such mapping file"),
    ],
)
def test_add_refuses_bad_input_with_exit_2(posync: Posync, three_registers: list[Path], args: list[str],
                                           message: str) -> None:
    args = [a.replace("{db}", str(three_registers[0])) for a in args]
    result = posync("remote", "add", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert posync.scalar("SELECT count(*) FROM remotes") == 3


def test_add_refuses_a_duplicate_name_and_a_non_database(posync: Posync, three_registers: list[Path],
                                                         tmp_path: Path) -> None:
    result = posync("remote", "add", "caja1", str(three_registers[1]))
    assert result.exit_code == 2 and "already exists" in result.stderr
    csv = tmp_path / "ventas.db"
    csv.write_text("voucher_code,number\nFV1,1\n")
    result = posync("remote", "add", "caja9", str(csv))
    assert result.exit_code == 2 and "expected a SQLite 3 file" in result.stderr


def test_no_check_registers_an_unreachable_path(posync: Posync) -> None:
    result = posync("remote", "add", "caja7", "/mnt/tienda/caja7/pos.db", "--no-check")
    assert result.exit_code == 0
    listing = json.loads(posync("remote", "list", "--json").stdout)
    assert listing[0]["reachable"] is False


def test_list_shows_last_import_and_owned_codes(posync: Posync, three_registers: list[Path]) -> None:
    assert posync("import", "--date", DAY1).exit_code == 0

    listing = json.loads(posync("remote", "list", "--json").stdout)

    caja1 = next(r for r in listing if r["name"] == "caja1")
    assert caja1["reachable"] is True and caja1["last_import"] is not None
    assert caja1["codes"] == ["FV1", "NC1"] or caja1["codes"] == ["FV1"]
    assert "caja1" in posync("remote", "list").stdout


def test_edit_and_remove(posync: Posync, three_registers: list[Path]) -> None:
    assert posync("remote", "edit", "caja1", "--ip", "10.0.0.11").exit_code == 0
    assert posync.scalar("SELECT ip FROM remotes WHERE name = 'caja1'") == "10.0.0.11"
    assert posync("remote", "remove", "caja1").exit_code == 0
    assert posync.scalar("SELECT count(*) FROM remotes") == 2
    result = posync("remote", "remove", "caja1")
    assert result.exit_code == 2 and "no register named caja1" in result.stderr
    actions = [r[0] for r in posync.rows("SELECT action FROM sync_log ORDER BY logged_at")]
    assert actions[-2:] == ["remote edit", "remote remove"]


def test_open_prints_the_folder_without_a_desktop_and_runs_no_shell(posync: Posync, tmp_path: Path) -> None:
    hostile = tmp_path / "caja $(touch pwned) ; `id`"
    (made,) = generate(tmp_path / "made", SampleSpec(registers=1, vouchers_per_day=2))
    hostile.mkdir()
    db = made.rename(hostile / "pos.db")
    assert posync("remote", "add", "caja1", str(db)).exit_code == 0

    result = posync("remote", "open", "caja1", env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})

    assert result.exit_code == 0
    assert str(hostile) in result.stdout
    assert not (Path.cwd() / "pwned").exists() and not (tmp_path / "pwned").exists()


def test_paths_with_spaces_quotes_and_non_ascii_letters_import(posync: Posync, make_registers: Callable) -> None:
    paths = make_registers(folder="tienda 'ñandú' \"x\"; DROP TABLE vouchers; --", registers=1)
    assert posync("remote", "add", "caja1", str(paths[0])).exit_code == 0

    assert posync("import", "--date", DAY1).exit_code == 0
    assert posync.scalar("SELECT count(*) FROM vouchers") == 20
