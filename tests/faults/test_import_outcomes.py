"""What an import decides around main's state (FAULTS 11, 12, 21-24, 39): ownership of voucher codes,
empty days, vouchers that changed or vanished at the register after their import, reruns, and DIAN
numbering. Each case checks exit code, message, main, and that a rerun converges.
"""

from __future__ import annotations

import re
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
    imported,
)

KEYED = ("vouchers", "voucher_lines", "payments")


def _recode(world: World, register: str, old: str, new: str, where: str = "1 = 1") -> None:
    world.sql(register, *[f"UPDATE {t} SET voucher_code = '{new}' WHERE voucher_code = '{old}' AND {where}"
                          for t in KEYED])


def _register(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in report["registers"] if r["name"] == name)


@pytest.mark.fault(11)
def test_one_code_on_two_registers_rejects_both_before_any_merge(world: World, reference: dict[str, Any]) -> None:
    _recode(world, "caja2", "FV2", "FV1", "number <= 1002")  # caja2 issues caja1's FV1-1001 and FV1-1002 too

    code, report, counts = import_json(world)

    assert code == 3
    (conflict,) = findings(report, "code_in_two_registers")
    assert conflict["voucher_code"] == "FV1" and conflict["registers"] == ["caja1", "caja2"]
    assert conflict["message"] == "FV1 was issued by both caja1 and caja2 on 2026-11-26: 24 vouchers held back"
    assert {(s["register"], s["number"]) for s in conflict["samples"]} >= {("caja1", 1001), ("caja2", 1001)}
    assert [(r["name"], r["status"]) for r in report["registers"]] == [
        ("caja1", "rejected"), ("caja2", "rejected"), ("caja3", "accepted")]
    assert imported(world) == ["caja3"]  # neither side merged: FV1-1001 never overwritten
    assert world.posync.scalar("SELECT count(*) FROM voucher_code_owners WHERE voucher_code IN ('FV1', 'FV2')") == 0
    assert counts["caja1"]["rejected"] == counts["caja2"]["rejected"] == 12

    _recode(world, "caja2", "FV1", "FV2")  # the POS of caja2 is given its own code back
    assert_converges(world, reference, ledger=False)


@pytest.mark.fault(12)
def test_a_code_owned_by_caja1_showing_up_at_caja3_rejects_caja3_only(world: World, reference: dict[str, Any]) -> None:
    assert world.posync("import", "--date", DAY1, "--remote", "caja1").exit_code == 0  # caja1 owns FV1
    owned = world.content()["vouchers"]
    world.sql("caja3", *[f"UPDATE {t} SET voucher_code = 'FV1', number = number + 900000 "
                         "WHERE voucher_code = 'FV3' AND number IN (1003, 1004)" for t in KEYED])

    code, report, _ = import_json(world)

    assert code == 3
    (stolen,) = findings(report, "code_owned_by_other")
    assert stolen["message"] == ("FV1 belongs to caja1 but caja3 issued 2 of them on 2026-11-26 "
                                 "(numbers 901003–901004): all 12 vouchers of caja3 held back")
    assert [(r["name"], r["status"]) for r in report["registers"]] == [
        ("caja1", "identical"), ("caja2", "accepted"), ("caja3", "rejected")]
    assert imported(world) == ["caja1", "caja2"]
    assert [v for v in world.content()["vouchers"] if v[0] == "caja1"] == owned  # the owner is unaffected
    assert world.posync.scalar("SELECT register FROM voucher_code_owners WHERE voucher_code = 'FV1'") == "caja1"

    world.sql("caja3", *[f"UPDATE {t} SET voucher_code = 'FV3', number = number - 900000 "
                         "WHERE voucher_code = 'FV1'" for t in KEYED])
    assert_converges(world, reference, ledger=False)


@pytest.mark.fault(21)
def test_a_day_without_sales_is_a_success_that_is_logged(world: World) -> None:
    code, report, counts = import_json(world, date=DAY0)

    assert code == 0 and report["findings"] == []
    assert {name: (c["read"], c["inserted"]) for name, c in counts.items()} == {
        "caja1": (0, 0), "caja2": (0, 0), "caja3": (0, 0)}
    logged = world.posync.rows("SELECT register, status, read, inserted FROM sync_log WHERE action = 'import' "
                               "ORDER BY register")
    assert logged == [("caja1", "ok", 0, 0), ("caja2", "ok", 0, 0), ("caja3", "ok", 0, 0)]
    assert world.posync.scalar("SELECT count(*) FROM vouchers") == 0

    again = world.posync("import", "--date", DAY0)
    assert again.exit_code == 0 and "identical" in again.output


@pytest.mark.fault(22)
def test_a_voucher_voided_after_import_is_reported_and_updated_only_with_overwrite(world: World) -> None:
    assert world.posync("import", "--date", DAY1).exit_code == 0
    world.sql("caja1", "UPDATE vouchers SET status = 'void', updated_at = '2026-11-27 08:00:00' "
                       "WHERE voucher_code = 'FV1' AND number = 1004")
    before = world.content()

    code, report, counts = import_json(world)

    assert code == 0
    assert _register(report, "caja1")["plan"]["changed_at_source"] == 1
    assert counts["caja1"]["updated"] == 0 and counts["caja1"]["skipped"] == 12
    assert world.content()["vouchers"] == before["vouchers"]
    assert world.posync.scalar("SELECT message FROM sync_log WHERE register = 'caja1' ORDER BY logged_at DESC "
                               "LIMIT 1") == (
        "new 0, unchanged 11, changed at the register since their import, not applied: 1 voided (FV1 1004); apply "
        "with `posync import --date 2026-11-26 --remote caja1 --overwrite`, or accept with `posync changes accept "
        "--date 2026-11-26 --remote caja1 --reason \"…\"`")

    code, _, counts = import_json(world, "--overwrite")

    assert code == 0 and counts["caja1"]["updated"] == 1 and counts["caja1"]["inserted"] == 0
    assert world.posync.scalar("SELECT status FROM vouchers WHERE voucher_code = 'FV1' AND number = 1004") == "void"
    lines = world.reg_rows("caja1", "SELECT count(*) FROM voucher_lines WHERE voucher_code = 'FV1' AND number = 1004")
    assert world.posync.scalar("SELECT count(*) FROM voucher_lines WHERE voucher_code = 'FV1' "
                               "AND number = 1004") == lines[0][0]  # replaced, not doubled
    assert_invariants(world)

    code, _, counts = import_json(world, "--overwrite")  # converged: nothing left to update
    assert code == 0 and counts["caja1"]["updated"] == 0


@pytest.mark.fault(23)
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_voucher_gone_from_the_register_is_reported_never_deleted(world: World, overwrite: bool) -> None:
    assert world.posync("import", "--date", DAY1).exit_code == 0
    before = world.content()
    world.sql("caja2", *[f"DELETE FROM {t} WHERE voucher_code = 'FV2' AND number = 1003" for t in KEYED])

    code, report, _ = import_json(world, *(["--overwrite"] if overwrite else []))

    assert code == 0
    assert _register(report, "caja2")["plan"]["missing_at_register"] == 1
    assert world.content()["vouchers"] == before["vouchers"]
    assert world.content()["voucher_lines"] == before["voucher_lines"]
    message = world.posync.scalar("SELECT message FROM sync_log WHERE register = 'caja2' ORDER BY logged_at DESC "
                                  "LIMIT 1")
    assert message.endswith("not applied: 1 gone from the register (FV2 1003); a voucher gone from the register is "
                            "never deleted; once checked, accept with `posync changes accept --date 2026-11-26 "
                            "--remote caja2 --reason \"…\"`")


@pytest.mark.fault(24)
def test_reruns_with_and_without_overwrite_change_nothing_but_the_log(world: World, reference: dict[str, Any]) -> None:
    assert world.posync("import", "--date", DAY1).exit_code == 0
    logged = "SELECT count(*) FROM sync_log WHERE action = 'import'"
    assert world.posync.scalar(logged) == 3

    plain = world.posync("import", "--date", DAY1)

    assert plain.exit_code == 0 and world.content() == reference
    assert world.posync.scalar(logged) == 6  # one more log row per register, nothing else
    assert world.posync.scalar("SELECT count(*) FROM sync_log WHERE message = "
                               "'already imported, identical snapshot'") == 3

    code, _, counts = import_json(world, "--overwrite")

    assert code == 0
    assert all((c["inserted"], c["updated"], c["skipped"]) == (0, 0, 12) for c in counts.values())
    assert world.content()["vouchers"] == reference["vouchers"]
    assert world.content()["voucher_lines"] == reference["voucher_lines"]
    assert world.posync.scalar(logged) == 9
    assert_invariants(world)


@pytest.mark.fault(39)
def test_dian_numbers_outside_the_range_or_dates_are_flagged_and_held_back_when_enforced(world: World) -> None:
    assert world.posync("numbering", "set", "FV1", "--prefix", "SETT", "--from", "1001", "--to", "1008").exit_code == 0
    assert world.posync("numbering", "set", "FV2", "--prefix", "SETP", "--from", "1", "--to", "99999",
                        "--valid-to", DAY0).exit_code == 0  # expired the day before
    assert world.posync("numbering", "set", "FV3", "--prefix", "SETQ", "--from", "1001", "--to", "1009",
                        "--enforce").exit_code == 0

    code, report, counts = import_json(world)

    assert code == 3
    ranges = {f["registers"][0]: f for f in findings(report, "numbering_range")}
    assert (ranges["caja1"]["severity"], ranges["caja1"]["rows"]) == ("warning", 3)  # 1009-1011: flagged, imported
    assert (ranges["caja2"]["severity"], ranges["caja2"]["rows"]) == ("warning", 10)  # resolution expired
    assert (ranges["caja3"]["severity"], ranges["caja3"]["rows"]) == ("reject_rows", 1)  # FV3-1010: held back
    assert counts["caja1"]["inserted"] == 12 and counts["caja3"]["rejected"] == 1
    assert world.posync.scalar("SELECT count(*) FROM vouchers WHERE voucher_code = 'FV3' AND number = 1010") == 0

    again, _, _ = import_json(world)  # still outside: held back again on every rerun
    assert again == 3


@pytest.mark.fault(39)
def test_the_same_dian_prefix_and_number_on_two_registers_is_always_held_back(world: World) -> None:
    for code in ("FV1", "FV2"):
        assert world.posync("numbering", "set", code, "--prefix", "FE", "--from", "1", "--to", "999999").exit_code == 0
    world.sql("caja1", *[f"DELETE FROM {t} WHERE voucher_code = 'FV1' AND number BETWEEN 1004 AND 1006"
                         for t in KEYED])

    code, report, counts = import_json(world)

    assert code == 3
    twice = {f["registers"][0]: f["rows"] for f in findings(report, "prefix_number_twice")}
    assert twice == {"caja1": 7, "caja2": 7}  # FE1001-FE1003 and FE1007-FE1010 on both
    gap = [f for f in findings(report, "numbering_gap") if f["voucher_code"] == "FV1"]
    assert gap and re.match(r"FV1 1004–1006 missing", gap[0]["message"])
    assert world.posync.scalar("SELECT count(*) FROM vouchers v JOIN vouchers w ON v.number = w.number "
                               "AND v.voucher_code = 'FV1' AND w.voucher_code = 'FV2'") == 0
    assert counts["caja2"]["inserted"] == 12 - 7
    assert_invariants(world)

    again, _, _ = import_json(world)
    assert again == 3 and world.posync.scalar("SELECT count(*) FROM vouchers v JOIN vouchers w "
                                              "ON v.number = w.number AND v.voucher_code = 'FV1' "
                                              "AND w.voucher_code = 'FV2'") == 0
