"""`posync validate` and `posync import`: the rule that matters most, and the semantics around it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import duckdb

from tests.conftest import DAY1, Posync, content_sql, sqlite_exec

COUNTS = "SELECT register, count(*) FROM vouchers GROUP BY register ORDER BY register"


def _add(posync: Posync, paths: list[Path], mapping: str = "canonical") -> None:
    for path in paths:
        result = posync("remote", "add", path.stem, str(path), "--mapping", mapping)
        assert result.exit_code == 0, result.output


def _register_vouchers(path: Path, day: str = DAY1) -> int:
    con = duckdb.connect()
    try:
        from etl.engines import load_extension

        load_extension(con, "sqlite_scanner")
        return int(con.execute(
            "SELECT count(*) FROM sqlite_scan(?, 'vouchers') WHERE CAST(date AS DATE) = ?", [str(path), day]
        ).fetchone()[0])
    finally:
        con.close()


def test_fv1_on_two_registers_rejects_exactly_those_two(posync: Posync, make_registers: Callable) -> None:
    paths = make_registers(registers=4, faults={"code_conflict"})
    _add(posync, paths)

    result = posync("import", "--date", DAY1)

    assert result.exit_code == 3
    assert "FV1 was issued by both caja1 and caja2 on 2026-11-26" in result.output
    held = _register_vouchers(paths[0]) + _register_vouchers(paths[1])
    assert f"{held} vouchers held back" in result.output
    assert posync.rows(COUNTS) == [("caja3", _register_vouchers(paths[2])), ("caja4", _register_vouchers(paths[3]))]
    statuses = dict(posync.rows("SELECT register, status FROM import_batches"))
    assert statuses == {"caja1": "rejected", "caja2": "rejected", "caja3": "ok", "caja4": "ok"}
    assert posync.rows("SELECT voucher_code, register FROM voucher_code_owners WHERE voucher_code LIKE 'FV%' "
                       "ORDER BY 1") == [("FV3", "caja3"), ("FV4", "caja4")]


def test_validate_reports_the_conflict_and_merges_nothing(posync: Posync, make_registers: Callable) -> None:
    _add(posync, make_registers(registers=3, faults={"code_conflict"}))

    result = posync("validate", "--date", DAY1, "--format", "json")

    assert result.exit_code == 3
    report = json.loads(result.stdout)
    conflict = next(f for f in report["findings"] if f["check"] == "code_in_two_registers")
    assert conflict["registers"] == ["caja1", "caja2"] and conflict["voucher_code"] == "FV1"
    assert sorted(report["summary"]["rejected"]) == ["caja1", "caja2"]
    caja3 = next(r for r in report["registers"] if r["name"] == "caja3")
    assert caja3["plan"]["new"] == caja3["read"]["vouchers"] > 0
    assert posync.scalar("SELECT count(*) FROM vouchers") == 0
    assert posync.scalar("SELECT count(*) FROM voucher_code_owners") == 0


def test_code_owned_by_caja1_showing_up_at_caja3_later_rejects_caja3_only(
    posync: Posync, make_registers: Callable
) -> None:
    paths = make_registers(registers=3, days=8, start=dt.date(2026, 11, 18))
    _add(posync, paths)
    assert posync("import", "--date", "2026-11-18").exit_code == 0
    week_later = "2026-11-25"
    sqlite_exec(paths[2], f"UPDATE vouchers SET voucher_code = 'FV1', number = number + 900000 "
                          f"WHERE date = '{week_later}' AND voucher_code = 'FV3'")

    result = posync("import", "--date", week_later)

    assert result.exit_code == 3
    assert "FV1 belongs to caja1 but caja3 issued" in result.output
    statuses = dict(posync.rows("SELECT register, status FROM import_batches WHERE process_date = ?", [week_later]))
    assert statuses == {"caja1": "ok", "caja2": "ok", "caja3": "rejected"}
    assert posync.scalar("SELECT count(*) FROM vouchers WHERE register = 'caja3' AND date = ?", [week_later]) == 0
    assert posync.scalar("SELECT count(*) FROM vouchers WHERE register = 'caja1' AND date = ?", [week_later]) > 0


def _main_digest(db: Path) -> str:
    """A digest of every data table's full contents, in key order."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        digest = hashlib.sha256()
        for table in ("vouchers", "voucher_lines", "payments", "voucher_code_owners", "voucher_types"):
            rows = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            digest.update(repr(rows).encode())
        return digest.hexdigest()
    finally:
        con.close()


def test_rerun_changes_nothing_and_says_identical(posync: Posync, three_registers: list[Path]) -> None:
    assert posync("import", "--date", DAY1).exit_code == 0
    before = _main_digest(posync.db)

    again = posync("import", "--date", DAY1)

    assert again.exit_code == 0
    assert _main_digest(posync.db) == before
    assert posync.scalar("SELECT count(*) FROM sync_log WHERE action = 'import' AND status = 'skipped' "
                         "AND message LIKE 'already imported, identical%'") == 3


def test_rerun_of_a_changed_snapshot_inserts_nothing_and_skips_all(posync: Posync, three_registers: list[Path]) -> None:
    posync("import", "--date", DAY1)
    before = _main_digest(posync.db)
    # The POS went on selling the next morning: the file changed, this date's vouchers did not.
    sqlite_exec(three_registers[0], "INSERT INTO payment_methods VALUES ('QR', 'Código QR')")

    again = posync("import", "--date", DAY1, "--json")

    assert again.exit_code == 0
    counts = json.loads(again.stdout)["counts"]["caja1"]
    assert counts["inserted"] == 0 and counts["updated"] == 0 and counts["skipped"] == counts["read"] > 0
    assert _main_digest(posync.db) == before


def test_changed_at_source_is_reported_and_updated_only_with_overwrite(
    posync: Posync, three_registers: list[Path]
) -> None:
    posync("import", "--date", DAY1)
    caja1 = three_registers[0]
    sqlite_exec(caja1, "UPDATE vouchers SET status = 'void' WHERE voucher_code = 'FV1' AND number = 1001",
                "UPDATE voucher_lines SET quantity = quantity + 1 WHERE voucher_code = 'FV1' AND number = 1002")

    plain = posync("import", "--date", DAY1, "--remote", "caja1", "--json")
    assert plain.exit_code == 0
    document = json.loads(plain.stdout)
    assert document["report"]["registers"][0]["plan"]["changed_at_source"] == 2
    assert document["counts"]["caja1"]["updated"] == 0
    assert posync.scalar("SELECT status FROM vouchers WHERE voucher_code = 'FV1' AND number = 1001") == "issued"

    forced = posync("import", "--date", DAY1, "--remote", "caja1", "--overwrite", "--json")
    assert forced.exit_code == 0
    assert json.loads(forced.stdout)["counts"]["caja1"]["updated"] == 2
    assert posync.scalar("SELECT status FROM vouchers WHERE voucher_code = 'FV1' AND number = 1001") == "void"
    lines = posync.rows("SELECT count(*), count(DISTINCT line_no) FROM voucher_lines "
                        "WHERE voucher_code = 'FV1' AND number = 1002")
    assert lines[0][0] == lines[0][1]  # lines replaced, not doubled

    again = posync("import", "--date", DAY1, "--remote", "caja1", "--overwrite", "--json")
    assert json.loads(again.stdout)["counts"]["caja1"]["updated"] == 0


def test_voucher_gone_from_the_register_is_reported_never_deleted(
    posync: Posync, three_registers: list[Path]
) -> None:
    posync("import", "--date", DAY1)
    sqlite_exec(three_registers[1], "DELETE FROM voucher_lines WHERE voucher_code = 'FV2' AND number = 1001",
                "DELETE FROM payments WHERE voucher_code = 'FV2' AND number = 1001",
                "DELETE FROM vouchers WHERE voucher_code = 'FV2' AND number = 1001")

    result = posync("import", "--date", DAY1, "--overwrite", "--json")

    assert result.exit_code == 0
    caja2 = next(r for r in json.loads(result.stdout)["report"]["registers"] if r["name"] == "caja2")
    assert caja2["plan"]["missing_at_register"] == 1
    assert posync.scalar("SELECT count(*) FROM vouchers WHERE voucher_code = 'FV2' AND number = 1001") == 1


def test_all_or_nothing_rejects_the_whole_batch(posync: Posync, make_registers: Callable) -> None:
    _add(posync, make_registers(registers=3, faults={"code_conflict"}))

    result = posync("import", "--date", DAY1, "--all-or-nothing")

    assert result.exit_code == 3
    assert posync.scalar("SELECT count(*) FROM vouchers") == 0
    assert posync.scalar("SELECT count(*) FROM import_batches WHERE status = 'rejected'") == 3


def test_duplicates_orphans_and_bad_types_hold_back_only_those_vouchers(
    posync: Posync, make_registers: Callable
) -> None:
    paths = make_registers(registers=2, faults={"duplicate_number", "orphan_lines", "bad_types"})
    _add(posync, paths)

    result = posync("import", "--date", DAY1, "--json")

    assert result.exit_code == 3
    report = json.loads(result.stdout)["report"]
    checks = {f["check"] for f in report["findings"] if f["severity"] != "warning"}
    assert {"duplicate_number", "orphan_rows", "bad_values"} <= checks
    bad = next(f for f in report["findings"] if f["check"] == "bad_values")
    assert any(s.get("bad_columns") == "total" for s in bad["samples"])
    caja1 = next(r for r in report["registers"] if r["name"] == "caja1")
    assert caja1["status"] == "partial" and caja1["plan"]["held_back"] >= 2
    landed = posync.scalar("SELECT count(*) FROM vouchers WHERE register = 'caja1'")
    assert landed == caja1["plan"]["new"] > 0
    # Nothing coerced: the voucher whose total did not cast is not in main at all.
    assert posync.scalar("SELECT count(*) FROM vouchers WHERE total IS NULL") == 0
    assert posync.scalar("SELECT count(*) FROM import_batches WHERE register = 'caja2'") == 1


def test_legacy_and_canonical_registers_give_identical_main(tmp_path: Path, make_registers: Callable) -> None:
    contents = []
    for flavour in ("canonical", "legacy_es"):
        posync = Posync(tmp_path / f"{flavour}.duckdb")
        _add(posync, make_registers(folder=flavour, registers=2, days=2, flavour=flavour), mapping=flavour)
        for day in (DAY1, "2026-11-27"):
            assert posync("import", "--date", day).exit_code == 0
        contents.append([
            posync.rows(content_sql(t, *(["content_hash"] if t == "vouchers" else [])))
            for t in ("vouchers", "voucher_lines", "payments")
        ] + [posync.rows("SELECT voucher_code, number, content_hash FROM vouchers ORDER BY ALL")])
    assert contents[0] == contents[1]
    assert len(contents[0][0]) == 2 * 2 * 20


def test_a_register_that_cannot_be_read_does_not_stop_the_others(
    posync: Posync, three_registers: list[Path]
) -> None:
    three_registers[1].rename(three_registers[1].with_suffix(".moved"))

    result = posync("import", "--date", DAY1)

    assert result.exit_code == 1
    assert "register caja2: file not found" in result.output
    assert [r[0] for r in posync.rows(COUNTS)] == ["caja1", "caja3"]
    assert posync.rows("SELECT status FROM sync_log WHERE register = 'caja2' AND action = 'import'") == [("error",)]


def test_numbering_gaps_and_enforced_range(posync: Posync, three_registers: list[Path]) -> None:
    sqlite_exec(three_registers[0], *[f"DELETE FROM {t} WHERE voucher_code = 'FV1' AND number BETWEEN 1004 AND 1006"
                                      for t in ("voucher_lines", "payments", "vouchers")])
    assert posync("numbering", "set", "FV2", "--prefix", "SETT", "--from", "1001", "--to", "1010",
                  "--enforce").exit_code == 0

    result = posync("validate", "--date", DAY1, "--format", "json")

    findings = json.loads(result.stdout)["findings"]
    gap = next(f for f in findings if f["check"] == "numbering_gap" and f["voucher_code"] == "FV1")
    assert "FV1 1004–1006 missing" in gap["message"]
    out_of_range = next(f for f in findings if f["check"] == "numbering_range")
    assert out_of_range["severity"] == "reject_rows" and out_of_range["registers"] == ["caja2"]
    assert result.exit_code == 3


def test_prefix_and_number_on_two_registers_is_always_rejected(posync: Posync, three_registers: list[Path]) -> None:
    for code in ("FV1", "FV2"):
        posync("numbering", "set", code, "--prefix", "FE", "--from", "1", "--to", "999999")

    result = posync("import", "--date", DAY1, "--json")

    assert result.exit_code == 3
    findings = json.loads(result.stdout)["report"]["findings"]
    assert {tuple(f["registers"]) for f in findings if f["check"] == "prefix_number_twice"} == {("caja1",), ("caja2",)}
    assert posync.scalar("SELECT count(*) FROM vouchers v JOIN vouchers w ON v.number = w.number "
                         "AND v.voucher_code = 'FV1' AND w.voucher_code = 'FV2'") == 0


def test_html_report_is_written(posync: Posync, three_registers: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = posync("validate", "--date", DAY1, "--format", "html", "--output", str(out))
    assert result.exit_code == 0
    assert "<html" in out.read_text(encoding="utf-8").lower()


def test_failure_while_merging_leaves_main_exactly_as_before(posync: Posync, three_registers: list[Path]) -> None:
    result = posync("import", "--date", DAY1, env={"POSYNC_FAIL_AT": "log"})

    assert result.exit_code != 0
    assert posync.scalar("SELECT count(*) FROM vouchers") == 0
    assert posync.scalar("SELECT count(*) FROM import_batches") == 0
    assert posync("import", "--date", DAY1).exit_code == 0
    assert posync.scalar("SELECT count(DISTINCT register) FROM vouchers") == 3
