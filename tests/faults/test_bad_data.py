"""Bad data inside a readable register (FAULTS 10, 13-20): the offending rows are held back with
samples, or flagged as warnings, never coerced or silently changed; the rest of the day lands; and a
rerun once the POS fixed the data converges.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from tests.faults.conftest import (
    DAY0,
    DAY1,
    World,
    assert_converges,
    assert_invariants,
    findings,
    import_json,
)


def _key_in_main(world: World, code: str, number: int) -> bool:
    return bool(world.posync.scalar("SELECT count(*) FROM vouchers WHERE voucher_code = ? AND number = ?",
                                    [code, number]))


def _held(report: dict[str, Any], register: str) -> int:
    return next(r for r in report["registers"] if r["name"] == register)["plan"]["held_back"]


@pytest.mark.fault(10)
def test_text_in_an_amount_is_rejected_with_a_sample_never_coerced(world: World, reference: dict[str, Any]) -> None:
    total = world.reg_rows("caja1", "SELECT total FROM vouchers WHERE voucher_code = 'FV1' AND number = 1003")[0][0]
    world.sql("caja1", "UPDATE vouchers SET total = '1.234,56' WHERE voucher_code = 'FV1' AND number = 1003")

    code, report, counts = import_json(world)

    assert code == 3
    (bad,) = findings(report, "bad_values")
    assert bad["registers"] == ["caja1"] and bad["rows"] == 1
    assert [(s["number"], s["bad_columns"], s["problem"]) for s in bad["samples"]] == [
        (1003, "total", "total: '1.234,56' is not a number")]  # the register's own text, and why
    assert counts["caja1"]["rejected"] == 1 and counts["caja1"]["inserted"] == 11
    assert not _key_in_main(world, "FV1", 1003)
    assert world.posync.scalar("SELECT count(*) FROM vouchers WHERE total IS NULL OR total = 0") == 0
    assert_invariants(world)

    world.sql("caja1", f"UPDATE vouchers SET total = {total} WHERE voucher_code = 'FV1' AND number = 1003")
    assert_converges(world, reference, ledger=False)


@pytest.mark.fault(10, 13)
def test_null_keys_and_dates_in_other_formats_are_held_back_never_guessed(world: World) -> None:
    world.sql("caja2",
              "UPDATE vouchers SET number = NULL WHERE voucher_code = 'FV2' AND number = 1002",  # SQLite allows it
              "UPDATE vouchers SET voucher_code = NULL WHERE voucher_code = 'FV2' AND number = 1003",
              "UPDATE voucher_lines SET line_no = NULL WHERE voucher_code = 'FV2' AND number = 1004 AND line_no = 1",
              "UPDATE vouchers SET date = '26/11/2026' WHERE voucher_code = 'FV2' AND number = 1005",
              "UPDATE vouchers SET date = 'Nov 26 2026' WHERE voucher_code = 'FV2' AND number = 1006")

    code, report, counts = import_json(world)

    assert code == 3
    bad = {f["message"].split(" held back")[0]: f for f in findings(report, "bad_values")}
    assert bad["caja2: 4 vouchers"]["rows"] == 4  # no number, no code, two unreadable dates
    assert [(s["number"], s["line_no"], s["problem"]) for s in bad["caja2: 1 voucher"]["samples"]] == [
        (1004, None, "line_no: missing")]
    assert {(s["number"], s["problem"]) for s in bad["caja2: 4 vouchers"]["samples"]} <= {
        (None, "number: missing"), (1003, "voucher_code: missing"), (1005, "date: '26/11/2026' is not a date"),
        (1006, "date: 'Nov 26 2026' is not a date")}
    for number in (1002, 1003, 1004, 1005, 1006):
        assert not _key_in_main(world, "FV2", number)
    assert (counts["caja2"]["inserted"], counts["caja2"]["skipped"], counts["caja2"]["rejected"]) == (12 - 5, 0, 5)
    assert world.posync.scalar("SELECT count(*) FROM vouchers WHERE voucher_code IS NULL OR number IS NULL "
                               "OR date IS NULL") == 0
    assert world.posync.scalar("SELECT count(*) FROM voucher_lines WHERE line_no IS NULL") == 0
    assert_invariants(world)


def _drop_primary_key(world: World, register: str) -> None:
    """Rebuild vouchers without its PRIMARY KEY (some POS schemas have none), keeping the declared types."""
    (ddl,) = world.reg_rows(register, "SELECT sql FROM sqlite_master WHERE name = 'vouchers'")[0]
    keyless = ddl.replace(', PRIMARY KEY ("voucher_code", "number")', "").replace('"vouchers"', "v2", 1)
    assert "PRIMARY KEY" not in keyless
    world.sql(register, keyless, "INSERT INTO v2 SELECT * FROM vouchers", "DROP TABLE vouchers",
              "ALTER TABLE v2 RENAME TO vouchers")


@pytest.mark.fault(13)
def test_the_same_number_twice_in_one_register_holds_back_both_rows_and_shows_them(
    world: World, reference: dict[str, Any]
) -> None:
    _drop_primary_key(world, "caja1")
    world.sql("caja1", "INSERT INTO vouchers SELECT voucher_code, number, date, issued_at, customer_id, subtotal, "
                       "tax, total + 1000, status, updated_at FROM vouchers "
                       "WHERE voucher_code = 'FV1' AND number = 1005")

    code, report, counts = import_json(world)

    assert code == 3
    (dup,) = [f for f in findings(report, "duplicate_number") if "in vouchers" in f["message"]]
    assert dup["registers"] == ["caja1"] and dup["voucher_code"] == "FV1"
    assert "(first: FV1-1005)" in dup["message"]
    shown = [(s["number"], s["total"]) for s in dup["samples"]]
    assert len(shown) == 2 and {n for n, _ in shown} == {1005} and len({t for _, t in shown}) == 2
    assert not _key_in_main(world, "FV1", 1005) and counts["caja1"]["inserted"] == 11
    assert_invariants(world)

    world.sql("caja1", "DELETE FROM vouchers WHERE voucher_code = 'FV1' AND number = 1005 AND rowid = "
                       "(SELECT max(rowid) FROM vouchers WHERE voucher_code = 'FV1' AND number = 1005)")
    assert_converges(world, reference, ledger=False)


@pytest.mark.fault(14)
def test_orphan_lines_are_rejected_and_an_empty_header_is_only_a_warning(world: World) -> None:
    world.sql("caja2", "INSERT INTO voucher_lines VALUES ('FV2', 9999, 1, 'P00001', 1, 100, 0, 19, 119)",
              "INSERT INTO payments VALUES ('FV2', 9998, 1, 'EF', 119)",
              "DELETE FROM voucher_lines WHERE voucher_code = 'FV2' AND number = 1002")

    code, report, counts = import_json(world)

    assert code == 3
    orphans = findings(report, "orphan_rows")
    assert {(f["registers"][0], f["rows"]) for f in orphans} == {("caja2", 1)} and len(orphans) == 2
    (empty,) = findings(report, "empty_voucher")
    assert empty["severity"] == "warning" and "1 voucher without lines (first: FV2-1002)" in empty["message"]
    assert _key_in_main(world, "FV2", 1002)  # an empty header is imported, with its warning
    assert world.posync.scalar("SELECT count(*) FROM voucher_lines WHERE number IN (9998, 9999)") == 0
    assert world.posync.scalar("SELECT count(*) FROM payments WHERE number IN (9998, 9999)") == 0
    assert_invariants(world)
    before = world.content()

    again, _, _ = import_json(world)  # the POS did not fix it: the rerun holds back the same, changes nothing

    assert again == 3 and world.content()["vouchers"] == before["vouchers"]


@pytest.mark.fault(15)
def test_a_total_that_differs_from_its_lines_is_a_counted_warning_and_imported_as_is(world: World) -> None:
    world.sql("caja3", "UPDATE vouchers SET total = total + 5 WHERE voucher_code = 'FV3' AND number = 1004",
              "UPDATE vouchers SET total = total + 0.01 WHERE voucher_code = 'FV3' AND number = 1005")
    expected = world.reg_rows("caja3", "SELECT total FROM vouchers WHERE voucher_code = 'FV3' AND number = 1004")

    code, report, counts = import_json(world)

    assert code == 0  # warnings do not change the exit code
    (totals,) = findings(report, "totals")
    assert totals["severity"] == "warning" and totals["rows"] == 1  # 0.01 is within tolerance
    assert totals["registers"] == ["caja3"] and [s["number"] for s in totals["samples"]] == [1004]
    stored = world.posync.scalar("SELECT total FROM vouchers WHERE voucher_code = 'FV3' AND number = 1004")
    assert stored == Decimal(str(expected[0][0])).quantize(Decimal("0.01"))
    assert counts["caja3"]["inserted"] == 12


@pytest.mark.fault(16)
def test_negative_quantities_are_flagged_on_invoices_allowed_on_credit_notes_never_abs(world: World) -> None:
    world.sql("caja1", "UPDATE voucher_lines SET quantity = -2, total = -2 * unit_price "
                       "WHERE voucher_code = 'FV1' AND number = 1001 AND line_no = 1")

    code, report, _ = import_json(world)

    assert code == 0
    (negative,) = findings(report, "negative_amounts")
    assert negative["severity"] == "warning" and negative["registers"] == ["caja1"]
    assert [s["what"].split(",")[0] for s in negative["samples"]] == ["line 1: quantity -2.000"]
    assert "allowed on credit notes only" in negative["message"]
    rows = world.posync.rows("SELECT voucher_code, quantity FROM voucher_lines WHERE quantity < 0 ORDER BY ALL")
    assert ("FV1", Decimal("-2.000")) in rows  # stored as the register has it, not abs()-ed
    assert {c for c, _ in rows} >= {"NC1", "NC2", "NC3"}  # credit notes: negative and unflagged


EXACT = [  # (line_no of FV?-1001, unit price at the register, stored in main): exact, never rounded
    (1, "0.001", Decimal("0.0010")), (2, "12.3456", Decimal("12.3456")),
    (3, "2327332.2499995814", Decimal("2327332.2500")),  # a float summed in floating point: noise, normalised
]
TOO_FINE = {  # number -> a value with more digits than main keeps: held back with its text, never rounded
    1002: ("quantity", "1.0005", "quantity: '1.0005' has more than 3 decimals"),
    1009: ("unit_price", "0.00015", "unit_price: '0.00015' has more than 4 decimals"),
}
REJECTED = {  # number -> the tax at the register that must never be coerced into an amount, and why
    1003: ("1e308", "is out of range"), 1004: ("9e999", "is not a finite number"), 1005: ("'NaN'", "is not a number"),
    1006: ("'1,234.56'", "is not a number"), 1007: ("1e16", "is out of range"), 1008: ("'12abc'", "is not a number"),
}


@pytest.mark.fault(17, 52)
@pytest.mark.parametrize("register", ["caja1", "caja2"])
def test_money_keeps_its_digits_and_what_does_not_fit_is_held_back_with_its_text(world: World, register: str) -> None:
    code = f"FV{register[-1]}"
    world.sql(register, *[f"UPDATE voucher_lines SET unit_price = {v} WHERE voucher_code = '{code}' "
                          f"AND number = 1001 AND line_no = {line}" for line, v, _ in EXACT],
              *[f"UPDATE voucher_lines SET {column} = {v} WHERE voucher_code = '{code}' AND number = {n} "
                "AND line_no = 1" for n, (column, v, _) in TOO_FINE.items()])
    if register == "caja2":  # text among the numbers: read value by value, judged by posync
        world.sql(register, *[f"UPDATE vouchers SET tax = {v} WHERE voucher_code = '{code}' AND number = {n}"
                              for n, (v, _) in REJECTED.items()])

    status, report, counts = import_json(world)

    assert status == 3
    stored = world.posync.rows(f"SELECT line_no, unit_price FROM voucher_lines WHERE voucher_code = '{code}' "
                               "AND number = 1001 AND line_no <= 3 ORDER BY 1")
    assert stored == [(line, value) for line, _, value in EXACT]
    problems = {s["number"]: s["problem"] for f in findings(report, "bad_values") for s in f["samples"]}
    for number, (_, _, problem) in TOO_FINE.items():
        assert problems[number] == problem and not _key_in_main(world, code, number)
    held = set(TOO_FINE) | (set(REJECTED) if register == "caja2" else set())
    assert counts[register]["rejected"] == len(held) and counts[register]["inserted"] == 12 - len(held)
    if register == "caja2":
        (bad,) = [f for f in findings(report, "bad_values") if "for vouchers values" in f["message"]]
        assert bad["rows"] == len(REJECTED)
        shown = [s for s in bad["samples"]]
        assert all(s["problem"].startswith("tax: ") for s in shown)
        assert all(s["problem"].endswith(REJECTED[s["number"]][1]) for s in shown)
        for number in REJECTED:
            assert not _key_in_main(world, code, number)
    assert world.posync.scalar("SELECT count(*) FROM vouchers WHERE tax IS NULL") == 0
    assert_invariants(world)


TEXTS = {  # number -> customer_id at the register; each must reach main exactly
    1002: "A\x00B\n\r\t\x1b[31m",  # NUL, control characters, an ANSI escape
    1003: "Ñandú 😀 — ÀÉÎÕÜ",
    1004: "ñ" * 10_000,  # a 10 kB name (20 000 bytes)
    1005: "x'; DROP TABLE vouchers; --",
}


@pytest.mark.fault(18, 32)
def test_text_is_stored_exactly_and_bytes_that_are_not_utf8_are_rejected_with_a_hex_sample(
    world: World, reference: dict[str, Any]
) -> None:
    world.sql("caja1", "UPDATE vouchers SET customer_id = CAST(x'D1414E4F' AS TEXT) "  # cp1252 "ÑANO"
                       "WHERE voucher_code = 'FV1' AND number = 1001",
              "UPDATE voucher_lines SET product_id = CAST(x'50303030E9' AS TEXT) "  # cp1252 "P000é"
                       "WHERE voucher_code = 'FV1' AND number = 1006 AND line_no = 1")
    for number, text in TEXTS.items():
        con = __import__("sqlite3").connect(world.reg("caja1"))
        con.execute("UPDATE vouchers SET customer_id = ? WHERE voucher_code = 'FV1' AND number = ?", [text, number])
        con.commit()
        con.close()

    code, report, counts = import_json(world)

    assert code == 3  # only those two vouchers, not the register, are held back
    samples = {(s["number"], s["problem"]) for f in findings(report, "bad_values") for s in f["samples"]}
    assert samples == {(1001, "customer_id: x'D1414E4F' is not UTF-8"),
                       (1006, "product_id: x'50303030E9' is not UTF-8")}
    assert counts["caja1"]["inserted"] == 10 and counts["caja1"]["rejected"] == 2
    stored = dict(world.posync.rows("SELECT number, customer_id FROM vouchers WHERE voucher_code = 'FV1' "
                                    "AND number BETWEEN 1002 AND 1005"))
    assert stored == TEXTS
    assert world.posync.scalar("SELECT count(*) FROM vouchers WHERE customer_id LIKE '%not UTF-8%'") == 0
    assert_invariants(world)


@pytest.mark.fault(19)
def test_the_business_date_decides_at_midnight_and_the_mismatch_is_reported(world: World) -> None:
    world.sql("caja1",
              # sold at 23:59:59.999 on the 25th, booked on the 26th (the register closes its day late)
              f"UPDATE vouchers SET issued_at = '{DAY0} 23:59:59.999' WHERE voucher_code = 'FV1' AND number = 1001",
              f"UPDATE vouchers SET issued_at = '{DAY1} 00:00:00' WHERE voucher_code = 'FV1' AND number = 1002",
              # sold at 23:59:59.999 on the 26th, booked on the 27th: not part of the 26th
              f"UPDATE vouchers SET date = '2026-11-27', issued_at = '{DAY1} 23:59:59.999' "
              "WHERE voucher_code = 'FV1' AND number = 1011")

    code, report, counts = import_json(world)

    assert code == 0
    (mismatch,) = findings(report, "date_mismatch")
    assert mismatch["severity"] == "warning" and mismatch["registers"] == ["caja1"] and mismatch["rows"] == 1
    assert "(first: FV1-1001); the business date decides" in mismatch["message"]
    rows = dict(world.posync.rows("SELECT number, issued_at FROM vouchers WHERE voucher_code = 'FV1'"))
    # the register's wall-clock time (America/Bogota, no DST) is kept as is, to the millisecond
    assert rows[1001] == dt.datetime(2026, 11, 25, 23, 59, 59, 999000)
    assert rows[1002] == dt.datetime(2026, 11, 26, 0, 0, 0)
    assert 1011 not in rows and counts["caja1"]["inserted"] == 11
    if dt.date.today() >= dt.date(2026, 11, 27):
        code, _, counts = import_json(world, "--remote", "caja1", date="2026-11-27")
        assert code == 0 and counts["caja1"]["inserted"] == 1
        assert world.posync.scalar("SELECT date FROM vouchers WHERE number = 1011") == dt.date(2026, 11, 27)
    assert_invariants(world)


@pytest.mark.fault(20)
def test_clock_skew_future_dates_are_rejected_and_1970_is_noted(world: World) -> None:
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    world.sql("caja1", f"UPDATE vouchers SET date = '{tomorrow}', issued_at = '{tomorrow} 09:00:00' "
                       "WHERE voucher_code = 'FV1' AND number = 1011")
    world.sql("caja2", "UPDATE vouchers SET issued_at = '1970-01-01 00:00:00' WHERE voucher_code = 'FV2' "
                       "AND number = 1005",
              "UPDATE vouchers SET date = '1970-01-01' WHERE voucher_code = 'FV2' AND number = 1006")

    code, report, counts = import_json(world)

    assert code == 0
    (skew,) = findings(report, "date_mismatch")
    assert skew["registers"] == ["caja2"] and skew["rows"] == 1  # 1970 clock noted; the business date decides
    gap = [f for f in findings(report, "numbering_gap") if f["voucher_code"] == "FV2"]
    assert gap and gap[0]["message"].startswith("FV2 1006 missing")  # dated 1970: reported, not lost silently
    assert counts["caja1"]["inserted"] == 11 and counts["caja2"]["inserted"] == 11

    future = world.posync("import", "--remote", "caja1", "--date", tomorrow.isoformat())

    assert future.exit_code == 2  # a day that has not happened yet is not imported at all: a usage error
    assert f"{tomorrow} is after today ({dt.date.today()})" in future.output
    assert world.posync.scalar("SELECT count(*) FROM vouchers WHERE date > current_date") == 0
    assert_invariants(world)
