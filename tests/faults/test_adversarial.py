"""Breaks found by an adversarial pass (FAULTS 40, 43, 44, 47, 48, 50, 53): each one reproduced as it was
found, then what must happen instead: nothing lost, nothing doubled, nothing silently different.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl import paths
from etl.mapping import MAPPINGS_DIR
from tests.faults.conftest import (
    DAY1,
    World,
    assert_converges,
    assert_invariants,
    clone,
    data,
    findings,
    import_json,
    imported,
    logged_errors,
    wait_for,
)

DAY2 = "2026-11-27"
KEYED = ("vouchers", "voucher_lines", "payments")


def _restored_from_a_backup(world: World) -> None:
    """caja1 restored from a backup taken before the 26th: it issues FV1 1001-1004 again, on the 27th."""
    world.sql("caja1", *[f"DELETE FROM {t} WHERE voucher_code = 'FV1' AND number > 1004" for t in KEYED],
              f"UPDATE vouchers SET date = '{DAY2}', issued_at = '{DAY2} 10:00:00', total = total + 1 "
              "WHERE voucher_code = 'FV1'")


@pytest.mark.fault(40)
def test_a_number_reused_on_a_later_date_is_held_back_and_the_first_sale_is_kept(world: World) -> None:
    assert world.posync("import", "--date", DAY1).exit_code == 0
    before = world.content()
    _restored_from_a_backup(world)

    validated = world.posync("validate", "--date", DAY2, "--format", "json")
    code, report, counts = import_json(world, date=DAY2)
    overwrite, _, over_counts = import_json(world, "--overwrite", date=DAY2)

    assert validated.exit_code == 3
    (reused,) = findings(json.loads(validated.stdout), "number_reused")
    assert reused["registers"] == ["caja1"] and reused["rows"] == 4
    assert reused["message"].startswith("caja1 reused 4 voucher numbers main already holds for another sale "
                                        "(FV1 1001–1004; first imported for 2026-11-26)")
    assert "(DIAN)" in reused["message"]
    versions = [(s["version"], s["number"], s["date"]) for s in reused["samples"][:2]]
    assert versions == [("in main", 1001, DAY1), ("at caja1 now", 1001, DAY2)]  # both versions shown
    assert code == overwrite == 3
    assert counts["caja1"] == {"read": 4, "inserted": 0, "updated": 0, "skipped": 0, "rejected": 4}
    assert over_counts["caja1"]["updated"] == 0 and over_counts["caja1"]["rejected"] == 4
    assert world.content()["vouchers"] == before["vouchers"]  # the 26th's sales unchanged, none moved to the 27th
    assert world.posync.scalar("SELECT count(*) FROM vouchers WHERE date = ?", [DAY2]) == 0
    assert_invariants(world)


@pytest.mark.fault(43)
def test_a_byte_that_is_not_utf8_in_an_amount_is_a_bad_value_not_a_crash(
    world: World, reference: dict[str, Any]
) -> None:
    world.sql("caja1", "UPDATE vouchers SET total = CAST(X'313280' AS TEXT) WHERE voucher_code = 'FV1' "
                       "AND number = 1003")  # "12€" in cp1252

    result = world.cli("import", "--date", DAY1, "--json")

    assert result.returncode == 3 and "Traceback" not in result.stdout + result.stderr
    report = json.loads(result.stdout)["report"]
    (bad,) = findings(report, "bad_values")
    assert [s["problem"] for s in bad["samples"]] == ["total: x'313280' is not UTF-8"]
    assert imported(world) == ["caja1", "caja2", "caja3"]
    world.sql("caja1", "UPDATE vouchers SET total = (SELECT sum(total) FROM voucher_lines l WHERE "
                       "l.voucher_code = 'FV1' AND l.number = 1003) WHERE voucher_code = 'FV1' AND number = 1003")
    assert_converges(world, reference, ledger=False)


@pytest.mark.fault(43)
def test_an_unexpected_exception_is_that_registers_error_with_a_crash_file_and_the_others_go_on(
    world: World, reference: dict[str, Any]
) -> None:
    result = world.cli("import", "--date", DAY1, env={"POSYNC_CRASH_AT": "extract#2"})

    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert imported(world) == ["caja1", "caja3"]
    (message,) = logged_errors(world, "caja2")
    assert message.startswith("register caja2: unexpected error while reading it (RuntimeError: injected crash at "
                              "stage extract (POSYNC_CRASH_AT)); the details are in ")
    crash = Path(message.rsplit("the details are in ", 1)[1].rstrip("."))
    assert crash.is_relative_to(paths.data_dir(str(world.db))) and "Traceback" in crash.read_text()
    assert f"  caja2: {message}" in result.stdout
    assert_converges(world, reference, ledger=False)


@pytest.mark.fault(43)
def test_watch_survives_an_unexpected_exception_in_every_cycle(world: World) -> None:
    result = world.cli("watch", "--every", "0.01", "--max-runs", "2", "--date", DAY1, "--catalogs", "none",
                       env={"POSYNC_CRASH_AT": "validate"})

    cycles = [line for line in result.stdout.splitlines() if re.search(r" cycle \d+ \(", line)]
    assert len(cycles) == 2 and "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert all("unexpected error" in line and "crashes" in line for line in cycles)
    assert result.returncode == 1


def _mapping(world: World, total: str) -> Path:
    document = json.loads((MAPPINGS_DIR / "canonical.json").read_text())
    document["name"] = "tienda"
    document["tables"]["vouchers"]["columns"]["total"] = {"expr": total}
    path = world.root / "tienda.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.fault(44)
def test_a_corrected_mapping_is_read_again_even_from_the_same_file(world: World, reference: dict[str, Any]) -> None:
    mapping = _mapping(world, "total * 100")  # a wrong mapping: totals in cents
    assert world.posync("remote", "edit", "caja1", "--mapping", str(mapping)).exit_code == 0
    assert world.posync("import", "--date", DAY1).exit_code == 0
    wrong = world.posync.scalar("SELECT sum(total) FROM vouchers WHERE register = 'caja1'")
    _mapping(world, "total")  # corrected, the register file untouched

    plain, _, plain_counts = import_json(world, "--remote", "caja1")
    fixed, _, fixed_counts = import_json(world, "--remote", "caja1", "--overwrite")
    again = world.posync("import", "--date", DAY1, "--remote", "caja1", "--overwrite")
    reread, _, reread_counts = import_json(world, "--remote", "caja1", "--overwrite", "--reread")

    assert plain == 0 and plain_counts["caja1"]["skipped"] == 12  # read again: 12 changed, kept without --overwrite
    assert fixed == 0 and fixed_counts["caja1"]["updated"] == 12
    assert world.posync.scalar("SELECT sum(total) FROM vouchers WHERE register = 'caja1'") * 100 == wrong
    assert again.exit_code == 0 and "identical" in again.output  # now it is the same snapshot and mapping
    assert reread == 0 and reread_counts["caja1"]["read"] == 12 and reread_counts["caja1"]["updated"] == 0
    assert data(world.content()) == data(reference)


@pytest.mark.fault(47)
def test_a_symlink_to_the_register_is_followed_at_each_run(world: World) -> None:
    real = world.reg("caja1")
    newer = real.with_name("caja1-newer.db")
    shutil.copy(real, newer)
    con = sqlite3.connect(newer)
    con.execute("INSERT INTO vouchers SELECT voucher_code, 1099, date, issued_at, customer_id, subtotal, tax, total, "
                "status, updated_at FROM vouchers WHERE voucher_code = 'FV1' AND number = 1001")
    con.execute("INSERT INTO voucher_lines SELECT voucher_code, 1099, line_no, product_id, quantity, unit_price, "
                "discount, tax, total FROM voucher_lines WHERE voucher_code = 'FV1' AND number = 1001")
    con.execute("INSERT INTO payments SELECT voucher_code, 1099, seq, method_id, amount FROM payments "
                "WHERE voucher_code = 'FV1' AND number = 1001")
    con.commit()
    con.close()
    link = real.with_name("current.db")
    link.symlink_to(real)
    assert world.posync("remote", "edit", "caja1", "--path", str(link)).exit_code == 0
    assert world.posync.scalar("SELECT path FROM remotes WHERE name = 'caja1'") == str(link)  # stored as given
    assert world.posync("import", "--date", DAY1, "--remote", "caja1").exit_code == 0

    link.unlink()
    link.symlink_to(newer)  # the POS moved to a new file; the link follows it
    code, _, counts = import_json(world, "--remote", "caja1")

    assert code == 0 and counts["caja1"]["inserted"] == 1 and counts["caja1"]["read"] == 13
    assert world.posync.scalar("SELECT count(*) FROM vouchers WHERE register = 'caja1'") == 13
    assert_invariants(world)


@pytest.mark.fault(48)
def test_codes_spelled_with_case_or_spaces_are_one_code_stored_trimmed_in_upper_case(
    world: World, reference: dict[str, Any]
) -> None:
    world.sql("caja1", *[f"UPDATE {t} SET voucher_code = 'FV1 ' WHERE voucher_code = 'FV1' AND number % 2 = 0"
                         for t in KEYED],
              *[f"UPDATE {t} SET voucher_code = 'nc1' WHERE voucher_code = 'NC1'" for t in KEYED])

    code, _, _ = import_json(world)

    assert code == 0
    assert data(world.content()) == data(reference)  # the same main as with FV1/NC1 spelled alike
    assert world.posync.rows("SELECT DISTINCT voucher_code FROM vouchers WHERE register = 'caja1' ORDER BY 1") == [
        ("FV1",), ("NC1",)]


@pytest.mark.fault(48)
def test_the_same_number_under_two_spellings_or_two_registers_is_never_imported_twice(world: World) -> None:
    _drop_key = [  # caja1 keeps FV1 1001 and also 'FV1 ' 1001: two sales, one key
        "CREATE TABLE v2 AS SELECT * FROM vouchers", "DROP TABLE vouchers", "ALTER TABLE v2 RENAME TO vouchers",
        "INSERT INTO vouchers SELECT 'FV1 ', number, date, issued_at, customer_id, subtotal, tax, total + 1, status, "
        "updated_at FROM vouchers WHERE voucher_code = 'FV1' AND number = 1001"]
    world.sql("caja1", *_drop_key)
    world.sql("caja2", *[f"UPDATE {t} SET voucher_code = ' fv1' WHERE voucher_code = 'FV2'" for t in KEYED])

    code, report, _ = import_json(world)

    assert code == 3
    (clash,) = findings(report, "code_in_two_registers")
    assert clash["voucher_code"] == "FV1" and clash["registers"] == ["caja1", "caja2"]
    assert world.posync.scalar("SELECT count(*) FROM vouchers WHERE upper(trim(voucher_code)) = 'FV1'") == 0
    assert_invariants(world)

    world.sql("caja2", *[f"UPDATE {t} SET voucher_code = 'FV2' WHERE voucher_code = ' fv1'" for t in KEYED])
    code, report, counts = import_json(world)

    assert code == 3
    (dup,) = [f for f in findings(report, "duplicate_number") if "in vouchers" in f["message"]]
    assert dup["registers"] == ["caja1"] and "(first: FV1-1001)" in dup["message"]
    assert counts["caja1"]["rejected"] == 2 and counts["caja1"]["skipped"] == 0
    assert world.posync.scalar("SELECT count(*) FROM vouchers WHERE voucher_code = 'FV1' AND number = 1001") == 0
    assert_invariants(world)


@pytest.mark.fault(50)
def test_a_journal_that_vanishes_during_the_copy_is_a_torn_copy_tried_again(
    world: World, reference: dict[str, Any], paused: Path
) -> None:
    journal = world.reg("caja1").with_name("caja1.db-journal")
    journal.write_bytes(b"")  # the POS is mid-transaction: its (cold) journal sits beside the file
    proc = world.start("import", "--date", DAY1,
                       env={"POSYNC_SLEEP_AT": "copying#2:1.5", "POSYNC_PAUSE_FILE": str(paused)})
    wait_for(paused, proc)
    journal.unlink()  # ... and commits: the journal is gone before posync reaches it
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 0, out + err
    assert imported(world) == ["caja1", "caja2", "caja3"]
    assert_converges(world, reference, ledger=False)


@pytest.mark.fault(53)
def test_a_row_duplicated_at_the_register_is_counted_held_back_never_skipped(world: World) -> None:
    world.sql("caja1", "CREATE TABLE v2 AS SELECT * FROM vouchers", "DROP TABLE vouchers",
              "ALTER TABLE v2 RENAME TO vouchers",
              "INSERT INTO vouchers SELECT * FROM vouchers WHERE voucher_code = 'FV1' AND number = 1005")

    code, report, counts = import_json(world)

    assert code == 3
    c = counts["caja1"]
    assert (c["read"], c["inserted"], c["updated"], c["skipped"], c["rejected"]) == (13, 11, 0, 0, 2)
    assert c["read"] == c["inserted"] + c["updated"] + c["skipped"] + c["rejected"]
    caja1 = next(r for r in report["registers"] if r["name"] == "caja1")
    assert caja1["plan"]["held_back"] == 2
    logged = world.posync.rows("SELECT read, inserted, skipped, rejected FROM sync_log WHERE register = 'caja1' "
                               "AND action = 'import'")
    assert logged == [(13, 11, 0, 2)]


@pytest.mark.fault(45)
def test_watch_completes_a_day_whose_last_sales_came_after_its_last_cycle(world: World) -> None:
    assert world.posync("import", "--date", DAY1).exit_code == 0
    with duckdb.connect(str(world.db)) as con:  # that import ran during the day, at 20:00
        con.execute("UPDATE sync_log SET logged_at = ? WHERE action = 'import'", [f"{DAY1} 20:00:00"])
    world.sql("caja1", "INSERT INTO vouchers SELECT voucher_code, 1099, date, issued_at, customer_id, subtotal, tax, "
                       "total, status, updated_at FROM vouchers WHERE voucher_code = 'FV1' AND number = 1001",
              "INSERT INTO voucher_lines SELECT voucher_code, 1099, line_no, product_id, quantity, unit_price, "
              "discount, tax, total FROM voucher_lines WHERE voucher_code = 'FV1' AND number = 1001",
              "INSERT INTO payments SELECT voucher_code, 1099, seq, method_id, amount FROM payments "
              "WHERE voucher_code = 'FV1' AND number = 1001")  # a sale at 23:50, after the day's last cycle

    first = world.cli("watch", "--every", "0.01", "--max-runs", "1", "--catalogs", "none")
    second = world.cli("watch", "--every", "0.01", "--max-runs", "1", "--catalogs", "none")

    assert first.returncode == 0, first.stdout + first.stderr
    assert f"completed {DAY1}" in first.stdout
    assert world.posync.scalar("SELECT count(*) FROM vouchers WHERE voucher_code = 'FV1' AND number = 1099") == 1
    assert second.returncode == 0 and "completed" not in second.stdout  # nothing is left behind, nothing redone
    assert_invariants(world)


@pytest.mark.fault(46)
def test_two_main_stores_sharing_one_home_never_touch_each_others_files(
    world: World, reference: dict[str, Any], paused: Path, tmp_path: Path
) -> None:
    other = clone(world.root, tmp_path / "other")  # a second main store over the same registers
    other.posync("remote", "edit", "caja1", "--path", str(world.reg("caja1")))
    home = {"POSYNC_HOME": str(tmp_path / "home")}
    a = world.start("import", "--date", DAY1, env={**home, "POSYNC_PAUSE_AT": "validate",
                                                   "POSYNC_PAUSE_FILE": str(paused), "POSYNC_RESUME_FILE":
                                                   str(tmp_path / "go")})
    wait_for(paused, a)  # store A has staged every register
    b = other.cli("import", "--date", DAY1, env=home)
    (tmp_path / "go").touch()
    out, err = a.communicate(timeout=120)

    assert b.returncode == 0, b.stdout + b.stderr
    assert a.returncode == 0, out + err
    assert data(world.content()) == data(reference)
    assert data(other.content()) == data(reference)


@pytest.mark.fault(49)
@pytest.mark.parametrize(("stage", "how", "merged"), [
    ("extract#2", signal.SIGINT, []),  # caja1 read, caja2 reading: nothing merged yet
    ("merge_rows#2", signal.SIGINT, ["caja1"]),  # caja1 committed, caja2's headers written, not committed
    ("merge_rows#2", signal.SIGTERM, ["caja1"]),
])
def test_ctrl_c_or_sigterm_rolls_back_what_is_open_and_stops_the_run(
    world: World, reference: dict[str, Any], paused: Path, stage: str, how: signal.Signals, merged: list[str]
) -> None:
    proc = world.start("import", "--date", DAY1, env={"POSYNC_PAUSE_AT": stage, "POSYNC_PAUSE_FILE": str(paused)})
    wait_for(paused, proc)
    proc.send_signal(how)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 130
    name = "SIGTERM" if how == signal.SIGTERM else "Ctrl-C"
    assert err == (f"error: interrupted ({name}): what was in progress was rolled back and nothing more was done; "
                   "registers finished before stay imported; run the command again to complete.\n")
    assert imported(world) == merged  # caja3 never started: the run stopped
    assert world.staging_leftovers() == []
    assert_invariants(world)
    assert_converges(world, reference, ledger=False)


@pytest.mark.fault(54)
@pytest.mark.parametrize("home", ["a file", "below a file"])
def test_an_unusable_posync_home_is_named_with_its_fix_and_read_only_commands_still_work(
    world: World, tmp_path: Path, home: str
) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    value = {"a file": str(afile), "below a file": str(afile / "tmp")}[home]
    env = {"POSYNC_HOME": value}

    result = world.cli("import", "--date", DAY1, env=env)
    logged = world.cli("log", env=env)
    listed = world.cli("remote", "list", env=env)

    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: POSYNC_HOME={value} is not usable (")
    assert result.stderr.endswith("); point POSYNC_HOME at a folder posync can write, or unset it to work beside "
                                  "the main store.\n")
    assert logged.returncode == 0 and listed.returncode == 0 and "caja1" in listed.stdout
    assert imported(world) == []


LAX = {  # number of an FV1 voucher -> (the lax value a register holds, the problem posync names)
    1002: ("UPDATE vouchers SET date = '2026-11-26x' WHERE", "date: '2026-11-26x' is not a date"),
    1003: ("UPDATE vouchers SET date = '2026-11-26 BC' WHERE", "date: '2026-11-26 BC' is not a date"),
    1004: ("UPDATE vouchers SET issued_at = '2026-11-26 99:99:99' WHERE",
           "issued_at: '2026-11-26 99:99:99' is not a date and time"),
    1005: ("UPDATE payments SET seq = '0x3E9' WHERE", "seq: '0x3E9' is not a whole number"),
    1006: ("UPDATE voucher_lines SET quantity = '1_000.50' WHERE line_no = 1 AND",
           "quantity: '1_000.50' is not a number"),
    1007: ("UPDATE voucher_lines SET total = '1,5e3' WHERE line_no = 1 AND", "total: '1,5e3' is not a number"),
}


@pytest.mark.fault(52)
def test_lax_numbers_and_dates_are_held_back_with_their_text_never_read_as_something_else(world: World) -> None:
    world.sql("caja1", *[f"{update} voucher_code = 'FV1' AND number = {n}" for n, (update, _) in LAX.items()])

    code, report, counts = import_json(world)

    assert code == 3
    problems = {s["number"]: s["problem"] for f in findings(report, "bad_values") for s in f["samples"]}
    assert {n: problems.get(n) for n in LAX} == {n: problem for n, (_, problem) in LAX.items()}
    assert counts["caja1"]["rejected"] == len(LAX) and counts["caja1"]["inserted"] == 12 - len(LAX)
    assert world.posync.scalar("SELECT count(*) FROM vouchers WHERE voucher_code = 'FV1' AND number IN "
                               f"({', '.join(map(str, LAX))})") == 0
    assert_invariants(world)
