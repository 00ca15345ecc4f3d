"""Main never silently differs from the registers (issue 12), through the CLI on real files.

Exact money on DuckDB and PostgreSQL main stores and through a catalog push; changes at the source
surfaced by import, sync and status until applied or accepted; bad values shown as the register holds
them in text, JSON and HTML; catalogs main never loaded left alone; dates that cannot have sales
refused; warnings about the register's own sequence only.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from sample_data import SampleSpec, generate
from tests.conftest import DAY1, sqlite_exec
from tests.test_postgres import Main

KEYED = ("vouchers", "voucher_lines", "payments")


@pytest.fixture
def world(tmp_path: Path) -> tuple[Main, list[Path]]:
    """Two registers (caja1, caja2; one day, DAY1) added to a DuckDB main store."""
    paths = generate(tmp_path / "registers", SampleSpec(registers=2, vouchers_per_day=10, products=30, customers=8))
    main = Main(tmp_path / "main.duckdb")  # type: ignore[arg-type]
    for path in paths:
        assert main("remote", "add", path.stem, str(path)).exit_code == 0
    return main, paths


# --- money keeps its digits --------------------------------------------------------------------------------


PRICES = [(1, "0.001", Decimal("0.0010")), (2, "12.3456", Decimal("12.3456")),
          (3, "0.1 + 0.2", Decimal("0.3000"))]  # the last a REAL with float noise: 0.30000000000000004


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_unit_prices_keep_their_digits_in_main(engine: str, tmp_path: Path, request: pytest.FixtureRequest,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    paths = generate(tmp_path / "registers", SampleSpec(registers=1, vouchers_per_day=10, min_lines=3))
    sqlite_exec(paths[0], *[f"UPDATE voucher_lines SET unit_price = {v} WHERE voucher_code = 'FV1' AND number = 1001 "
                            f"AND line_no = {line}" for line, v, _ in PRICES])
    if engine == "postgres":
        monkeypatch.setenv("POSYNC_HOME", str(tmp_path / "home"))
        main = Main(request.getfixturevalue("pg_database")())  # type: ignore[arg-type]
    else:
        main = Main(tmp_path / "main.duckdb")  # type: ignore[arg-type]
    assert main("remote", "add", "caja1", str(paths[0])).exit_code == 0

    result = main("import", "--date", DAY1)

    assert result.exit_code == 0, result.output
    stored = main.rows("SELECT line_no, unit_price FROM voucher_lines WHERE voucher_code = 'FV1' AND number = 1001 "
                       "AND line_no <= 3 ORDER BY 1")
    assert stored == [(line, value) for line, _, value in PRICES]
    assert main("import", "--date", DAY1, "--reread").exit_code == 0  # the normalised value reads as unchanged
    assert main.rows("SELECT count(*) FROM sync_log WHERE action = 'import' AND updated > 0") == [(0,)]


def test_a_catalog_price_of_0_001_loads_and_pushes_exactly(world: tuple[Main, list[Path]], tmp_path: Path) -> None:
    main, paths = world
    csv = tmp_path / "products.csv"
    rows = sqlite3.connect(paths[0]).execute("SELECT product_id, name FROM products ORDER BY 1").fetchall()
    csv.write_text("product_id,name,price\n" + "".join(f"{p},{n},{'0.001' if i == 0 else '12.3456'}\n"
                                                        for i, (p, n) in enumerate(rows)))

    loaded = main("catalogs", "load", "products", str(csv))
    pushed = main("catalogs", "push", "--mode", "partial", "--table", "products", "--remote", "caja1")

    assert loaded.exit_code == 0, loaded.output
    assert main.rows("SELECT price FROM products ORDER BY product_id LIMIT 2") == [(Decimal("0.0010"),),
                                                                                  (Decimal("12.3456"),)]
    assert pushed.exit_code == 0, pushed.output
    at_register = sqlite3.connect(paths[0]).execute("SELECT price FROM products ORDER BY product_id LIMIT 2").fetchall()
    assert at_register == [(0.001,), (12.3456,)]


# --- changes at the source ---------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_a_void_at_the_register_is_named_until_applied_and_a_gone_voucher_until_accepted(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = generate(tmp_path / "registers", SampleSpec(registers=2, vouchers_per_day=10))
    if engine == "postgres":
        monkeypatch.setenv("POSYNC_HOME", str(tmp_path / "home"))
        main = Main(request.getfixturevalue("pg_database")())  # type: ignore[arg-type]
    else:
        main = Main(tmp_path / "main.duckdb")  # type: ignore[arg-type]
    for path in paths:
        assert main("remote", "add", path.stem, str(path)).exit_code == 0
    assert main("import", "--date", DAY1).exit_code == 0
    sqlite_exec(paths[0], "UPDATE vouchers SET status = 'void', updated_at = '2026-11-26 21:00:00' "
                          "WHERE voucher_code = 'FV1' AND number = 1003",
                *[f"DELETE FROM {t} WHERE voucher_code = 'FV1' AND number = 1005" for t in KEYED])
    sentence = ("caja1: changed at the register since their import, not applied: 1 voided (FV1 1003), 1 gone from "
                "the register (FV1 1005); apply with `posync import --date 2026-11-26 --remote caja1 --overwrite`, "
                "or accept with `posync changes accept --date 2026-11-26 --remote caja1 --reason \"…\"`")

    plain = main("import", "--date", DAY1)
    rerun = main("import", "--date", DAY1, "--json")
    status = main("status", "--json", "--quiet-days", "100000")
    cycle = main("sync", "--date", DAY1, "--catalogs", "none")

    assert plain.exit_code == 0 and f"  {sentence}" in plain.output
    document = json.loads(rerun.stdout)
    assert document["changes_at_source"]["caja1"]["counts"] == {"void": 1, "gone": 1}
    assert document["report"]["registers"][0]["status"] == "identical"  # nothing new, and still said
    logged = main.rows("SELECT message FROM sync_log WHERE action = 'import' AND register = 'caja1' "
                       "AND status = 'ok' ORDER BY logged_at DESC LIMIT 1")[0][0]
    assert logged.endswith(sentence.removeprefix("caja1: "))
    assert status.exit_code == 1
    (item,) = json.loads(status.stdout)["items"]
    assert (item["kind"], item["register"], item["count"]) == ("source_changes", "caja1", 2)
    assert "posync import --date 2026-11-26 --remote caja1 --overwrite" in item["command"]
    assert cycle.exit_code == 0 and f"caja1: import: {sentence.removeprefix('caja1: ')}" in cycle.output
    assert main.rows("SELECT status FROM vouchers WHERE voucher_code = 'FV1' AND number = 1003") == [("issued",)]

    applied = main("import", "--date", DAY1, "--overwrite")
    assert applied.exit_code == 0 and "1 gone from the register (FV1 1005)" in applied.output
    assert "voided" not in applied.output
    assert main.rows("SELECT status FROM vouchers WHERE voucher_code = 'FV1' AND number = 1003") == [("void",)]
    accepted = main("changes", "accept", "--date", DAY1, "--remote", "caja1", "--reason", "anulada en papel")
    assert accepted.exit_code == 0, accepted.output
    assert main("status", "--quiet-days", "100000").exit_code == 0
    assert main.rows("SELECT count(*) FROM vouchers WHERE voucher_code = 'FV1' AND number = 1005") == [(1,)]
    assert main.rows("SELECT message FROM sync_log WHERE action = 'changes accept'") == [
        ("1 difference accepted as deliberate: anulada en papel",)]

    sqlite_exec(paths[0], "UPDATE vouchers SET total = total + 1 WHERE voucher_code = 'FV1' AND number = 1004")
    again = main("import", "--date", DAY1)
    assert "1 changed (FV1 1004)" in again.output and "FV1 1005" not in again.output  # accepted stays accepted


# --- bad values shown as they are --------------------------------------------------------------------------


def test_a_value_that_does_not_cast_is_shown_as_the_register_holds_it_in_text_json_and_html(
    world: tuple[Main, list[Path]], tmp_path: Path
) -> None:
    main, paths = world
    sqlite_exec(paths[0], "UPDATE vouchers SET total = '1.234,56' WHERE voucher_code = 'FV1' AND number = 1002",
                "UPDATE vouchers SET date = '2026-02-30' WHERE voucher_code = 'FV1' AND number = 1003")
    html = tmp_path / "report.html"

    text = main("validate", "--date", DAY1)
    as_json = main("validate", "--date", DAY1, "--format", "json")
    as_html = main("validate", "--date", DAY1, "--format", "html", "--output", str(html))

    assert text.exit_code == as_json.exit_code == as_html.exit_code == 3
    assert "total: '1.234,56' is not a number" in text.output and "total=null" not in text.output
    problems = [s["problem"] for f in json.loads(as_json.stdout)["findings"] for s in f["samples"] if "problem" in s]
    assert problems == ["total: '1.234,56' is not a number", "date: '2026-02-30' is not a date"]
    page = html.read_text()
    assert "total: &#x27;1.234,56&#x27; is not a number" in page


# --- catalogs main never loaded ----------------------------------------------------------------------------


def test_a_fresh_install_that_only_imports_has_green_push_sync_and_watch(world: tuple[Main, list[Path]]) -> None:
    main, _ = world
    note = ("taxes, payment_methods, customers, products: never loaded into main, so not pushed (a catalog main "
            "never loaded is not an empty one); load it with `posync catalogs load TABLE FILE`.")

    push = main("catalogs", "push", "--mode", "partial")
    diff = main("catalogs", "diff", "--remote", "caja1")
    sync = main("sync", "--date", DAY1)
    watch = main("watch", "--every", "0.01", "--max-runs", "2", "--date", DAY1)

    assert push.exit_code == 0 and f"note: {note}" in push.output
    assert diff.exit_code == 0 and f"note: {note}" in diff.stderr
    assert sync.exit_code == 0 and f"catalogs: note: {note}" in sync.output
    assert watch.exit_code == 0, watch.output
    assert main.rows("SELECT count(*) FROM pushes") == [(0,)]
    for path in world[1]:
        assert sqlite3.connect(path).execute("SELECT count(*) FROM products").fetchone()[0] > 0  # untouched


def test_a_loaded_catalog_that_becomes_tiny_keeps_the_delete_guard(world: tuple[Main, list[Path]],
                                                                   tmp_path: Path) -> None:
    main, paths = world
    products = sqlite3.connect(paths[0]).execute("SELECT product_id, name, price FROM products").fetchall()
    full, tiny = tmp_path / "products.csv", tmp_path / "tiny.csv"
    full.write_text("product_id,name,price\n" + "".join(f"{p},{n},{v}\n" for p, n, v in products))
    tiny.write_text("product_id,name,price\n" + "".join(f"{p},{n},{v}\n" for p, n, v in products[:1]))
    assert main("catalogs", "load", "products", str(full)).exit_code == 0
    assert main("catalogs", "push", "--mode", "partial", "--table", "products").exit_code == 0
    assert main("catalogs", "load", "products", str(tiny)).exit_code == 0

    refused = main("catalogs", "push", "--mode", "partial", "--table", "products", "--remote", "caja1")

    assert refused.exit_code == 2 and "refused" in refused.output


# --- dates that cannot have sales --------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("import",), ("validate",), ("sync",)])
def test_a_date_after_today_is_a_usage_error_naming_today(world: tuple[Main, list[Path]],
                                                          command: tuple[str, ...]) -> None:
    main, _ = world
    tomorrow, today = dt.date.today() + dt.timedelta(days=1), dt.date.today()

    result = main(*command, "--date", tomorrow.isoformat())

    assert result.exit_code == 2
    assert f"{tomorrow} is after today ({today}): a day that has not happened has no sales to import." in result.output
    assert main.rows("SELECT count(*) FROM sync_log WHERE action IN ('import', 'validate', 'sync')") == [(0,)]


def test_a_register_that_stops_selling_is_warned_about_and_status_shows_it(world: tuple[Main, list[Path]]) -> None:
    main, _ = world
    assert main("import", "--date", DAY1).exit_code == 0
    next_day = "2026-11-27"

    result = main("import", "--date", next_day, "--json")
    status = main("status", "--json", "--quiet-days", "100000")

    assert result.exit_code == 0
    warnings = [f["message"] for f in json.loads(result.stdout)["report"]["findings"] if f["check"] == "no_sales"]
    assert warnings == [f"caja1: no vouchers on {next_day}; last sales {DAY1} (is the register on, and recording "
                        "its sales?)", f"caja2: no vouchers on {next_day}; last sales {DAY1} (is the register on, "
                        "and recording its sales?)"]
    kinds = [(i["kind"], i["register"]) for i in json.loads(status.stdout)["items"]]
    assert kinds == [("no_sales", "caja1"), ("no_sales", "caja2")]
    listed = {r["name"]: r["last_sales"] for r in json.loads(main("remote", "list", "--json").stdout)}
    assert listed == {"caja1": DAY1, "caja2": DAY1}  # the empty day does not move it


# --- warnings about the register's own sequence ------------------------------------------------------------


def test_an_intruder_number_does_not_make_a_gap_in_the_owners_sequence(world: tuple[Main, list[Path]]) -> None:
    main, paths = world
    assert main("import", "--date", DAY1, "--remote", "caja1").exit_code == 0  # caja1 owns FV1
    sqlite_exec(paths[1], *[f"UPDATE {t} SET voucher_code = 'FV1', number = 5001 WHERE voucher_code = 'FV2' "
                            "AND number = 1001" for t in KEYED])

    result = main("validate", "--date", DAY1, "--format", "json")

    report = json.loads(result.stdout)
    assert [f["check"] for f in report["findings"] if f["severity"] != "warning"] == ["code_owned_by_other"]
    gaps = [f["message"] for f in report["findings"] if f["check"] == "numbering_gap"]
    assert not any("5000" in g for g in gaps), gaps
    text = main("validate", "--date", DAY1).output
    assert "(s)" not in text
