"""Operating over time (issue 14), through the CLI on real register files.

Voucher-code ownership managed (`codes list|assign|release`, `remote rename`), only the clashing code
held back (`--hold code`), imports undone (`batches list`, `import undo`; main equal, row for row, to its
state before, on DuckDB and PostgreSQL), and date ranges (`--from/--to`, `--since-last`, `watch`
after missed nights).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sample_data import SampleSpec, generate
from tests.conftest import content_sql, sqlite_exec
from tests.test_postgres import Main

DAY1, DAY2 = "2026-11-26", "2026-11-27"
# Everything an import or an undo changes in main, row for row: ids, hashes and times included.
STATE = ("vouchers", "voucher_lines", "payments", "voucher_types", "voucher_code_owners", "source_changes",
         "held_codes")


def state(main: Main) -> dict[str, list[tuple[Any, ...]]]:
    return {t: main.rows(f"SELECT * FROM {t} ORDER BY ALL") for t in STATE}


def make_main(tmp_path: Path, engine: str = "duckdb", request: pytest.FixtureRequest | None = None,
              monkeypatch: pytest.MonkeyPatch | None = None) -> Main:
    if engine == "postgres":
        assert request is not None and monkeypatch is not None
        monkeypatch.setenv("POSYNC_HOME", str(tmp_path / "home"))
        return Main(request.getfixturevalue("pg_database")())  # type: ignore[arg-type]
    return Main(tmp_path / "main.duckdb")  # type: ignore[arg-type]


def registers(main: Main, tmp_path: Path, **spec: Any) -> list[Path]:
    paths = generate(tmp_path / "registers", SampleSpec(**{"vouchers_per_day": 8, "products": 30, "customers": 8,
                                                           **spec}))
    for path in paths:
        assert main("remote", "add", path.stem, str(path)).exit_code == 0
    return paths


def batches(main: Main, *args: str) -> list[dict[str, Any]]:
    result = main("batches", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def batch_of(main: Main, register: str, day: str) -> str:
    return next(b["batch"] for b in batches(main, "--remote", register, "--date", day) if b["status"] != "undone"
                and b["undo"].startswith("until"))


def register_count(path: Path, code: str, day: str) -> int:
    with sqlite3.connect(path) as con:
        return int(con.execute("SELECT count(*) FROM vouchers WHERE voucher_code = ? AND date = ?",
                               [code, day]).fetchone()[0])


def register_codes(path: Path, day: str) -> set[str]:
    with sqlite3.connect(path) as con:
        return {r[0] for r in con.execute("SELECT DISTINCT voucher_code FROM vouchers WHERE date = ?", [day])}


def log_rows(main: Main, action: str) -> list[tuple[Any, ...]]:
    return main.rows("SELECT register, status, message FROM sync_log WHERE action = ? ORDER BY logged_at", [action])


# --- codes and rename --------------------------------------------------------------------------------------


def test_a_renamed_register_keeps_its_codes_data_and_log_and_imports_without_hold(tmp_path: Path) -> None:
    main = make_main(tmp_path)
    registers(main, tmp_path, registers=2, days=2)
    assert main("import", "--date", DAY1).exit_code == 0
    before = main.rows("SELECT count(*) FROM vouchers WHERE register = 'caja1'")[0][0]

    renamed = main("remote", "rename", "caja1", "norte")
    moved = main.rows("SELECT count(*) FROM vouchers WHERE register = 'norte'")
    imported = main("import", "--date", DAY2, "--json")

    assert renamed.exit_code == 0, renamed.output
    assert moved == [(before,)]
    assert main.rows("SELECT count(*) FROM vouchers WHERE register = 'caja1'") == [(0,)]
    assert main.rows("SELECT voucher_code FROM voucher_code_owners WHERE register = 'norte' ORDER BY 1") == [
        ("FV1",), ("NC1",)]
    assert main.rows("SELECT count(*) FROM sync_log WHERE register = 'caja1'") == [(0,)]
    assert main.rows("SELECT count(*) FROM import_batches WHERE register = 'norte'") == [(2,)]
    assert imported.exit_code == 0, imported.output
    statuses = {r["name"]: r["status"] for r in json.loads(imported.output)["report"]["registers"]}
    assert statuses == {"caja2": "accepted", "norte": "accepted"}
    assert log_rows(main, "remote rename") == [("norte", "ok", "renamed caja1 to norte: its data, codes, push state "
                                                "and log moved with it")]


def test_a_replaced_register_takes_over_its_code_by_assign(tmp_path: Path) -> None:
    """The issue's story: norte removed, the same register re-added as caja-nueva; held until FV1 is assigned."""
    main = make_main(tmp_path)
    paths = registers(main, tmp_path, registers=1, days=2)
    assert main("import", "--date", DAY1).exit_code == 0
    assert main("remote", "remove", "caja1").exit_code == 0
    assert main("remote", "add", "caja-nueva", str(paths[0])).exit_code == 0

    held = main("import", "--date", DAY2)
    listed = json.loads(main("codes", "list", "--json").output)
    assigned = main("codes", "assign", "fv1", "caja-nueva", "--reason", "register replaced by new hardware")
    assert main("codes", "assign", "NC1", "caja-nueva", "--reason", "same").exit_code == 0
    landed = main("import", "--date", DAY2)

    assert held.exit_code == 3 and "FV1 belongs to caja1" in held.output
    fv1 = next(c for c in listed if c["code"] == "FV1")
    assert (fv1["owner"], fv1["owner_removed"], fv1["registers"]) == ("caja1", True, ["caja1"])
    assert fv1["held_back"] == [f"caja-nueva on {DAY2} ({register_count(paths[0], 'FV1', DAY2)})"]
    assert assigned.exit_code == 0, assigned.output
    assert "FV1 now belongs to caja-nueva (was caja1)" in assigned.output
    assert landed.exit_code == 0, landed.output
    assert main.rows("SELECT DISTINCT register FROM vouchers WHERE date = ?", [DAY2]) == [("caja-nueva",)]
    assert main.rows("SELECT register, batch_id IS NULL FROM voucher_code_owners WHERE voucher_code = 'FV1'") == [
        ("caja-nueva", True)]
    assert log_rows(main, "codes assign")[0] == (
        "caja-nueva", "ok", "FV1 assigned to caja-nueva from caja1: register replaced by new hardware")
    assert main.rows("SELECT count(*) FROM held_codes WHERE register = 'caja-nueva'") == [(0,)]


def test_release_frees_a_code_whose_owner_never_imported_it(tmp_path: Path) -> None:
    main = make_main(tmp_path)
    registers(main, tmp_path, registers=2)
    assert main("codes", "assign", "FV9", "caja1", "--reason", "reserved for the terrace register").exit_code == 0

    released = main("codes", "release", "FV9", "--reason", "terrace register never opened")

    assert released.exit_code == 0, released.output
    assert main.rows("SELECT count(*) FROM voucher_code_owners WHERE voucher_code = 'FV9'") == [(0,)]
    assert [r[:2] for r in log_rows(main, "codes release")] == [("caja1", "ok")]
    assert "terrace register never opened" in log_rows(main, "codes release")[0][2]


@pytest.mark.parametrize(("args", "words"), [
    (("codes", "assign", "FV1", "caja2", "--reason", "x"), "of FV1 from caja1, which is still a register. If caja2 "
                                                           "replaces caja1, rename it instead"),
    (("codes", "release", "FV1", "--reason", "x"), "of FV1 from caja1, which is still a register, so freeing it"),
    (("codes", "assign", "FV1", "caja9", "--reason", "x"), "no register named caja9"),
    (("codes", "assign", "FV1", "caja1", "--reason", "x"), "caja1 already owns FV1"),
    (("codes", "release", "FV7", "--reason", "x"), "FV7 has no owner"),
    (("codes", "release", "FV1", "--reason", "  "), "say why with --reason"),
    (("remote", "rename", "caja1", "caja2"), "a register named caja2 already exists"),
    (("remote", "rename", "caja1", "bad name"), "is not a register name"),
])
def test_ownership_changes_that_would_share_a_code_are_refused(tmp_path: Path, args: tuple[str, ...],
                                                               words: str) -> None:
    main = make_main(tmp_path)
    registers(main, tmp_path, registers=2)
    assert main("import", "--date", DAY1).exit_code == 0
    before = state(main)

    result = main(*args)

    assert result.exit_code == 2, result.output
    assert words in result.output
    assert state(main) == before
    assert log_rows(main, args[0] + " " + args[1]) == []


def test_rename_to_a_name_that_has_history_in_main_is_refused(tmp_path: Path) -> None:
    main = make_main(tmp_path)
    paths = registers(main, tmp_path, registers=2)
    assert main("import", "--date", DAY1).exit_code == 0
    assert main("remote", "remove", "caja2").exit_code == 0

    result = main("remote", "rename", "caja1", "caja2")

    assert result.exit_code == 2 and "caja2 was a register before" in result.output
    assert main("remote", "add", "caja3", str(paths[1]), "--no-check").exit_code == 0


# --- --hold code -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["import", "validate"])
def test_hold_code_holds_only_the_clashing_code(tmp_path: Path, command: str) -> None:
    """caja2 also issues caja1's FV1: with --hold code, FV1 waits at both, every other code lands."""
    main = make_main(tmp_path)
    paths = registers(main, tmp_path, registers=2, faults=frozenset({"code_conflict"}))
    fv1 = {p.stem: register_count(p, "FV1", DAY1) for p in paths}
    others = (register_codes(paths[0], DAY1) | register_codes(paths[1], DAY1)) - {"FV1"}

    result = main(command, "--date", DAY1, "--hold", "code", *(["--format", "json"] if command == "validate"
                                                                  else ["--json"]))

    assert result.exit_code == 3, result.output
    doc = json.loads(result.output)
    report = doc if command == "validate" else doc["report"]
    assert report["hold"] == "code"
    assert {r["name"]: r["status"] for r in report["registers"]} == {"caja1": "partial", "caja2": "partial"}
    clash = next(f for f in report["findings"] if f["check"] == "code_in_two_registers")
    assert clash["message"].endswith(f"their {sum(fv1.values())} FV1 vouchers held back; their other codes go on "
                                     "(--hold code)")
    if command == "validate":
        assert main.rows("SELECT count(*) FROM vouchers") == [(0,)]
        return
    assert {r[0] for r in main.rows("SELECT DISTINCT voucher_code FROM vouchers")} == others
    assert main.rows("SELECT count(*) FROM voucher_lines WHERE voucher_code = 'FV1'") == [(0,)]
    assert main.rows("SELECT count(*) FROM voucher_code_owners WHERE voucher_code = 'FV1'") == [(0,)]
    assert main.rows("SELECT register, voucher_code, vouchers FROM held_codes ORDER BY ALL") == [
        ("caja1", "FV1", fv1["caja1"]), ("caja2", "FV1", fv1["caja2"])]
    assert {r: c["rejected"] for r, c in doc["counts"].items()} == fv1


def test_hold_code_on_an_owned_code_lets_the_intruders_other_codes_land(tmp_path: Path) -> None:
    main = make_main(tmp_path)
    paths = registers(main, tmp_path, registers=2, days=2)
    assert main("import", "--date", DAY1).exit_code == 0
    even = f"SELECT number FROM vouchers WHERE voucher_code = 'FV2' AND date = '{DAY2}' AND number % 2 = 0"
    sqlite_exec(paths[1], *[f"UPDATE {t} SET voucher_code = 'FV1', number = number + 50000 "  # caja2 issues FV1 too
                            f"WHERE voucher_code = 'FV2' AND number IN ({even})"
                            for t in ("voucher_lines", "payments", "vouchers")])
    assert register_count(paths[1], "FV1", DAY2) > 0

    by_register = main("import", "--date", DAY2, "--json")
    assert by_register.exit_code == 3
    assert main.rows("SELECT count(*) FROM vouchers WHERE register = 'caja2' AND date = ?", [DAY2]) == [(0,)]
    by_code = main("import", "--date", DAY2, "--hold", "code", "--json")

    assert by_code.exit_code == 3, by_code.output
    landed = {r[0] for r in main.rows("SELECT DISTINCT voucher_code FROM vouchers WHERE register = 'caja2' "
                                      "AND date = ?", [DAY2])}
    assert landed == register_codes(paths[1], DAY2) - {"FV1"}
    assert main.rows("SELECT register, voucher_code, owner FROM held_codes WHERE process_date = ?", [DAY2]) == [
        ("caja2", "FV1", "caja1")]
    finding = next(f for f in json.loads(by_code.output)["report"]["findings"] if f["check"] == "code_owned_by_other")
    assert "caja2's other codes go on (--hold code)" in finding["message"]


# --- undo --------------------------------------------------------------------------------------------------


ENGINES = ["duckdb", "postgres"]


@pytest.mark.parametrize("engine", ENGINES)
def test_undo_of_an_insert_batch_puts_main_back_exactly(tmp_path: Path, engine: str, request: pytest.FixtureRequest,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    main = make_main(tmp_path, engine, request, monkeypatch)
    registers(main, tmp_path, registers=2, days=2)
    assert main("import", "--date", DAY1).exit_code == 0
    before = state(main)
    assert main("import", "--date", DAY2).exit_code == 0
    bid = batch_of(main, "caja1", DAY2)

    preview = main("import", "undo", bid, "--dry-run")
    assert preview.exit_code == 0 and "dry run: nothing was changed" in preview.output
    assert state(main) != before
    undone = main("import", "undo", bid)
    assert main("import", "undo", batch_of(main, "caja2", DAY2)).exit_code == 0

    assert undone.exit_code == 0, undone.output
    assert f"undone {bid} (caja1, {DAY2}, insert" in undone.output
    assert state(main) == before
    assert [r[:2] for r in log_rows(main, "import undo")] == [("caja1", "ok"), ("caja2", "ok")]
    listed = {b["batch"]: b["undo"] for b in batches(main, "--date", DAY2)}
    assert listed[bid].startswith("undone ")
    again = main("import", "--date", DAY2)  # an undone batch does not count as imported: the day comes back
    assert again.exit_code == 0 and "already imported" not in again.output
    assert main.rows("SELECT count(*) FROM vouchers WHERE date = ?", [DAY2])[0][0] > 0


@pytest.mark.parametrize("engine", ENGINES)
def test_undo_of_an_overwrite_batch_puts_back_what_it_overwrote(tmp_path: Path, engine: str,
                                                               request: pytest.FixtureRequest,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    main = make_main(tmp_path, engine, request, monkeypatch)
    paths = registers(main, tmp_path, registers=1)
    assert main("import", "--date", DAY1).exit_code == 0
    sqlite_exec(paths[0], "UPDATE vouchers SET status = 'void' WHERE voucher_code = 'FV1' AND number = 1002",
                "UPDATE voucher_lines SET quantity = quantity + 1 WHERE voucher_code = 'FV1' AND number = 1003")
    assert main("import", "--date", DAY1).exit_code == 0  # records the changes at source, applies none
    before = state(main)
    assert len(before["source_changes"]) == 2

    overwritten = main("import", "--date", DAY1, "--overwrite")
    saved = main.rows("SELECT count(*) FROM batch_saved_vouchers")
    bid = batch_of(main, "caja1", DAY1)
    undone = main("import", "undo", bid)

    assert overwritten.exit_code == 0 and saved == [(2,)]
    assert undone.exit_code == 0, undone.output
    assert main.rows("SELECT count(*) FROM batch_saved_vouchers") == [(0,)]
    assert "put back 2 vouchers it had overwritten, as before it" in undone.output
    assert "removed" not in undone.output  # an overwrite added nothing
    assert state(main) == before


def test_undo_is_refused_when_a_later_batch_changed_its_vouchers_unless_cascade(tmp_path: Path) -> None:
    main = make_main(tmp_path)
    paths = registers(main, tmp_path, registers=1)
    empty = state(main)
    assert main("import", "--date", DAY1).exit_code == 0
    first = batch_of(main, "caja1", DAY1)
    sqlite_exec(paths[0], "UPDATE vouchers SET status = 'void' WHERE voucher_code = 'FV1' AND number = 1004")
    assert main("import", "--date", DAY1, "--overwrite").exit_code == 0
    later = next(b["batch"] for b in batches(main) if b["batch"] != first)
    after = state(main)

    refused = main("import", "undo", first)
    dry = main("import", "undo", first, "--cascade", "--dry-run")
    assert state(main) == after
    cascaded = main("import", "undo", first, "--cascade")

    assert refused.exit_code == 2
    assert f"later batch {later} (caja1, {DAY1}, overwrite" in refused.output
    assert "changed 1 voucher it wrote; undo" in refused.output and "--cascade" in refused.output
    assert dry.exit_code == 0 and dry.output.index(later) < dry.output.index(first)
    assert cascaded.exit_code == 0, cascaded.output
    assert state(main) == empty
    assert [m for _, _, m in log_rows(main, "import undo")][0].endswith(f"(cascade of {first})")


@pytest.mark.parametrize(("batch", "words"), [("b-000000000000", "no import batch b-000000000000"),
                                              ("rejected", "was rejected: it changed nothing")])
def test_undo_of_what_cannot_be_undone_is_refused(tmp_path: Path, batch: str, words: str) -> None:
    main = make_main(tmp_path)
    registers(main, tmp_path, registers=2, faults=frozenset({"code_conflict"}))
    assert main("import", "--date", DAY1).exit_code == 3
    if batch == "rejected":
        batch = batches(main, "--remote", "caja2")[0]["batch"]

    result = main("import", "undo", batch)

    assert result.exit_code == 2 and words in result.output


def test_undo_takes_no_import_options(tmp_path: Path) -> None:
    main = make_main(tmp_path)
    registers(main, tmp_path, registers=1)

    result = main("import", "--overwrite", "undo", "b-1")

    assert result.exit_code == 2 and "--overwrite belong to the import itself" in result.output


# --- date ranges -------------------------------------------------------------------------------------------


def test_a_five_date_range_equals_five_single_date_imports(tmp_path: Path) -> None:
    start = dt.date(2026, 11, 10)
    paths = generate(tmp_path / "registers", SampleSpec(registers=2, days=5, start=start, vouchers_per_day=6,
                                                        products=30, customers=8, faults=frozenset({"code_conflict"})))
    mains = [Main(tmp_path / f"{name}.duckdb") for name in ("range", "single")]  # type: ignore[arg-type]
    for main in mains:
        for path in paths:
            assert main("remote", "add", path.stem, str(path)).exit_code == 0
    dates = [str(start + dt.timedelta(days=i)) for i in range(5)]

    ranged = mains[0]("import", "--from", dates[0], "--to", dates[-1])
    singles = [mains[1]("import", "--date", day).exit_code for day in dates]

    assert ranged.exit_code == max(singles) == 3
    lines = ranged.output.splitlines()
    assert lines[0] == f"import {dates[0]} to {dates[-1]} (5 dates):"
    assert [line.split()[0] for line in lines[3:9]] == [*dates, "total"]
    for table in ("vouchers", "voucher_lines", "payments", "voucher_types"):
        assert mains[0].rows(content_sql(table)) == mains[1].rows(content_sql(table)), table
    for sql in ("SELECT voucher_code, register FROM voucher_code_owners ORDER BY ALL",
                content_sql("import_batches", "snapshot_sha256"),
                "SELECT register, process_date, status, read, inserted FROM sync_log ORDER BY ALL"):
        assert mains[0].rows(sql) == mains[1].rows(sql)


def test_a_date_without_sales_after_dates_with_sales_reads_as_empty_not_as_an_error(tmp_path: Path) -> None:
    """The sample registers' DATE columns hold text: the reader learns that on the first date and must
    still read a later date that has no rows (the driver types an empty column int64)."""
    main = make_main(tmp_path)
    registers(main, tmp_path, registers=2, days=2)

    result = main("import", "--from", DAY1, "--to", "2026-11-28", "--json")

    doc = json.loads(result.output)
    statuses = {d["report"]["process_date"]: {r["status"] for r in d["report"]["registers"]} for d in doc["dates"]}
    assert "error" not in set().union(*statuses.values()), result.output
    assert statuses[DAY1] == statuses[DAY2] == {"accepted"}
    assert main.rows("SELECT count(*) FROM vouchers WHERE date = '2026-11-28'") == [(0,)]


def _recent(tmp_path: Path, days: int) -> tuple[Main, list[str]]:
    """Registers whose last `days` dates end yesterday (since-last counts from the real today)."""
    start = dt.date.today() - dt.timedelta(days=days)
    generate(tmp_path / "registers", SampleSpec(registers=2, start=start, days=days, vouchers_per_day=5,
                                                products=30, customers=8))
    main = Main(tmp_path / "main.duckdb")  # type: ignore[arg-type]
    for name in ("caja1", "caja2"):
        assert main("remote", "add", name, str(tmp_path / "registers" / f"{name}.db")).exit_code == 0
    return main, [str(start + dt.timedelta(days=i)) for i in range(days)]


def test_since_last_after_three_missed_nights_imports_each_of_them_once(tmp_path: Path) -> None:
    main, dates = _recent(tmp_path, 5)
    for day in dates[:2]:
        assert main("import", "--date", day).exit_code == 0

    caught_up = main("import", "--since-last", "--json")
    again = main("import", "--since-last")

    assert caught_up.exit_code == 0, caught_up.output
    doc = json.loads(caught_up.output)
    assert [d["report"]["process_date"] for d in doc["dates"]] == dates[2:]
    assert doc["totals"]["inserted"] == 2 * 3 * 5
    assert again.exit_code == 0 and again.output.startswith("nothing to import")
    assert main.rows("SELECT process_date, count(*) FROM import_batches GROUP BY ALL ORDER BY 1") == [
        (dt.date.fromisoformat(d), 2) for d in dates]


def test_since_last_per_register_and_with_today(tmp_path: Path) -> None:
    main, dates = _recent(tmp_path, 4)
    assert main("import", "--date", dates[0]).exit_code == 0
    assert main("import", "--date", dates[1], "--remote", "caja1").exit_code == 0

    result = main("import", "--since-last", "--today", "--json")

    doc = json.loads(result.output)
    by_date = {d["report"]["process_date"]: sorted(r["name"] for r in d["report"]["registers"]) for d in doc["dates"]}
    today = str(dt.date.today())
    assert by_date == {dates[1]: ["caja2"], dates[2]: ["caja1", "caja2"], dates[3]: ["caja1", "caja2"],
                       today: ["caja1", "caja2"]}


def test_watch_after_a_missed_night_imports_every_date_up_to_today(tmp_path: Path) -> None:
    main, dates = _recent(tmp_path, 4)
    assert main("import", "--date", dates[0]).exit_code == 0  # then the server was off for three nights

    result = main("watch", "--every", "0.01", "--max-runs", "1", "--catalogs", "none")

    assert result.exit_code == 0, result.output
    assert main.rows("SELECT DISTINCT process_date FROM import_batches ORDER BY 1") == [
        (dt.date.fromisoformat(d),) for d in dates] + [(dt.date.today(),)]
    assert all(f"completed {d}" in result.output for d in dates[1:])


@pytest.mark.parametrize(("args", "words"), [
    (("--date", DAY1, "--from", DAY1), "give one of --date, --from/--to or --since-last"),
    (("--to", DAY1), "--to needs --from"),
    (("--from", DAY2, "--to", DAY1), f"--from {DAY2} is after --to {DAY1}"),
    (("--today",), "--today goes with --since-last"),
    ((), "give the process date"),
])
def test_date_selection_mistakes_are_usage_errors(tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    main = make_main(tmp_path)
    registers(main, tmp_path, registers=1)

    result = main("import", *args)

    assert result.exit_code == 2 and words in result.output
    assert main.rows("SELECT count(*) FROM import_batches") == [(0,)]


def test_sync_over_a_range_prints_a_line_per_date_then_the_totals(tmp_path: Path) -> None:
    main = make_main(tmp_path)
    registers(main, tmp_path, registers=2, days=2)

    result = main("sync", "--from", DAY1, "--to", DAY2, "--catalogs", "none")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"sync {DAY1} to {DAY2} (2 dates):"
    assert [line.split()[0] for line in lines[3:5]] == [DAY1, DAY2]
    assert "totals:" in lines
    assert f"import {DAY1} exit 0, import {DAY2} exit 0" in result.output
    assert main.rows("SELECT count(DISTINCT process_date) FROM import_batches") == [(2,)]
