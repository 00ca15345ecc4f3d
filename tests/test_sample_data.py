"""Tests for sample_data: real register files under tmp_path, read back with DuckDB and sqlite3."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from etl.mapping import MAPPINGS_DIR
from etl.schema import TABLES
from sample_data import FAULTS, SampleSpec, build_ready, generate, load_sqlite_extension
from sample_data.__main__ import main
from sample_data.engines import sql_literal
from sample_data.layouts import quote_ident

ROOT = Path(__file__).resolve().parents[1]
SMALL = SampleSpec(days=3, vouchers_per_day=40, products=30, customers=12)
CATALOGS = ("products", "customers", "taxes", "payment_methods", "commercial_rules")
Rows = dict[str, list[tuple[Any, ...]]]


def read_mapped(path: Path, flavour: str = "canonical") -> Rows:
    """Every canonical table of a register, read through etl/mappings/<flavour>.json, cast to canonical types."""
    mapping = json.loads((MAPPINGS_DIR / f"{flavour}.json").read_text(encoding="utf-8"))
    options = "(TYPE sqlite, READ_ONLY)" if path.suffix == ".db" else "(READ_ONLY)"
    with closing(duckdb.connect()) as con:
        load_sqlite_extension(con)
        con.execute(f"ATTACH {sql_literal(str(path))} AS r {options}")
        rows: Rows = {}
        for table, spec in mapping["tables"].items():
            exprs = {
                col: src["expr"] if isinstance(src, dict) else quote_ident(src) for col, src in spec["columns"].items()
            }
            cols = [f"CAST({expr} AS {TABLES[table].type_of(col)})" for col, expr in exprs.items()]
            assert tuple(spec["columns"]) == TABLES[table].column_names
            sql = f"SELECT {', '.join(cols)} FROM r.{quote_ident(spec['source'])} ORDER BY ALL"
            rows[table] = con.execute(sql).fetchall()
        return rows


def sqlite_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Raw rows straight from SQLite (storage classes as stored)."""
    with closing(sqlite3.connect(path)) as db:
        return db.execute(sql).fetchall()


def as_dicts(rows: Rows, table: str) -> list[dict[str, Any]]:
    return [dict(zip(TABLES[table].column_names, row, strict=True)) for row in rows[table]]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> list[Rows]:
    """Three clean canonical registers, 3 days x 40 vouchers, read through the canonical mapping."""
    paths = generate(tmp_path_factory.mktemp("clean"), SMALL)
    return [read_mapped(p) for p in paths]


def test_same_spec_gives_identical_contents(tmp_path: Path) -> None:
    spec = replace(SMALL, faults=frozenset(FAULTS))
    first, second = generate(tmp_path / "a", spec), generate(tmp_path / "b", spec)
    assert [p.name for p in first] == ["caja1.db", "caja2.db", "caja3.db"]
    for a, b in zip(first, second, strict=True):
        assert sqlite_rows(a, "SELECT * FROM vouchers") == sqlite_rows(b, "SELECT * FROM vouchers")
        assert a.read_bytes() == b.read_bytes()  # even the file is identical: rows go in key order


def test_another_seed_gives_other_sales(tmp_path: Path) -> None:
    (a,) = generate(tmp_path / "a", replace(SMALL, registers=1))
    (b,) = generate(tmp_path / "b", replace(SMALL, registers=1, seed=8))
    assert read_mapped(a)["voucher_lines"] != read_mapped(b)["voucher_lines"]


def test_vouchers_per_day_and_times_inside_the_day(clean: list[Rows]) -> None:
    dates = [SMALL.start + timedelta(days=d) for d in range(SMALL.days)]
    for rows in clean:
        vouchers = as_dicts(rows, "vouchers")
        assert Counter(v["date"] for v in vouchers) == dict.fromkeys(dates, SMALL.vouchers_per_day)
        for v in vouchers:
            assert isinstance(v["issued_at"], datetime)
            assert v["issued_at"].date() == v["date"]
            assert time(7) <= v["issued_at"].time() <= time(21, 59, 59)
            assert v["updated_at"] == v["issued_at"]
            assert v["status"] in ("issued", "void")


def test_each_register_issues_only_its_own_codes(clean: list[Rows]) -> None:
    for i, rows in enumerate(clean, start=1):
        assert rows["voucher_types"] == [
            (f"FV{i}", f"Factura de venta caja {i}", "invoice"),
            (f"NC{i}", f"Nota crédito caja {i}", "credit_note"),
        ]
        codes = Counter(v[0] for v in rows["vouchers"])
        assert set(codes) <= {f"FV{i}", f"NC{i}"}
        assert codes[f"FV{i}"] > codes[f"NC{i}"] >= 1


def test_numbers_are_consecutive_per_code_across_days(clean: list[Rows]) -> None:
    for rows in clean:
        by_code: dict[str, list[tuple[datetime, int]]] = {}
        for v in as_dicts(rows, "vouchers"):
            by_code.setdefault(str(v["voucher_code"]), []).append((v["issued_at"], v["number"]))
        for code, issued in by_code.items():
            numbers = [n for _, n in sorted(issued)]
            first = 1001 if code.startswith("FV") else 1
            assert numbers == list(range(first, first + len(numbers))), code


def test_header_totals_equal_lines_and_payments(clean: list[Rows]) -> None:
    for rows in clean:
        lines: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for line in as_dicts(rows, "voucher_lines"):
            lines.setdefault((line["voucher_code"], line["number"]), []).append(line)
        paid = Counter[tuple[Any, ...]]()
        for p in as_dicts(rows, "payments"):
            paid[(p["voucher_code"], p["number"])] += p["amount"]
        for v in as_dicts(rows, "vouchers"):
            key = (v["voucher_code"], v["number"])
            assert v["total"] == sum(x["total"] for x in lines[key]) == paid[key]
            assert v["tax"] == sum(x["tax"] for x in lines[key])
            assert v["subtotal"] + v["tax"] == v["total"]
        assert set(lines) == set(paid) == {(v[0], v[1]) for v in rows["vouchers"]}


def test_lines_are_priced_from_the_catalog(clean: list[Rows]) -> None:
    rows = clean[0]
    rate = {t["tax_id"]: t["rate"] for t in as_dicts(rows, "taxes")}
    product = {p["product_id"]: p for p in as_dicts(rows, "products")}
    kind = {v["code"]: v["kind"] for v in as_dicts(rows, "voucher_types")}
    fractional = 0
    for line in as_dicts(rows, "voucher_lines"):
        qty, price = line["quantity"], line["unit_price"]
        assert isinstance(qty, Decimal) and isinstance(price, Decimal)
        p = product[line["product_id"]]
        assert price == p["price"]
        assert line["tax"] == round(qty * price * rate[p["tax_id"]], 2)
        assert line["total"] == round(qty * price - line["discount"] + line["tax"], 2)
        # returns are real, but only on credit notes
        assert (qty < 0) == (kind[line["voucher_code"]] == "credit_note")
        fractional += qty != qty.to_integral_value()
    assert 0 < fractional < len(rows["voucher_lines"]) / 2  # some weighed goods, mostly units


def test_catalogs_are_identical_on_every_register(clean: list[Rows]) -> None:
    for table in CATALOGS:
        assert clean[0][table] == clean[1][table] == clean[2][table], table
    assert len(clean[0]["products"]) == SMALL.products and len(clean[0]["customers"]) == SMALL.customers
    assert clean[0]["taxes"] == [
        ("EXC", "Excluido", Decimal("0.0000")),
        ("IVA19", "IVA 19%", Decimal("0.1900")),
        ("IVA5", "IVA 5%", Decimal("0.0500")),
    ]
    assert [m[0] for m in clean[0]["payment_methods"]] == ["EF", "TC", "TR"]
    assert any(ch in str(p[1]) for p in clean[0]["products"] for ch in "éñáíóú")
    rules = as_dicts(clean[0], "commercial_rules")
    assert [r["rule_id"] for r in rules] == ["R1", "R2", "R3", "R4", "R5"]
    for r in rules:
        assert isinstance(json.loads(str(r["params"])), dict)
        assert r["kind"] in ("discount", "promo") and r["valid_from"] <= r["valid_to"]


def test_one_loyalty_movement_per_voucher_with_a_customer(clean: list[Rows]) -> None:
    for i, rows in enumerate(clean, start=1):
        with_customer = [v for v in as_dicts(rows, "vouchers") if v["customer_id"] is not None]
        expected = sorted(
            (
                f"caja{i}-{v['voucher_code']}-{v['number']}",
                v["customer_id"],
                v["date"],
                int(v["total"] / 1000),
                v["voucher_code"],
                v["number"],
            )
            for v in with_customer
        )
        assert rows["loyalty_movements"] == expected
        assert 0 < len(with_customer) < len(rows["vouchers"])


def test_amounts_are_stored_as_numbers_that_read_back_exactly(tmp_path: Path) -> None:
    (path,) = generate(tmp_path, replace(SMALL, registers=1))
    stored = sqlite_rows(path, "SELECT DISTINCT typeof(total), typeof(date), typeof(issued_at) FROM vouchers")
    assert {s[0] for s in stored} <= {"real", "integer"} and {s[1:] for s in stored} == {("text", "text")}
    for (total,) in sqlite_rows(path, "SELECT total FROM vouchers UNION ALL SELECT amount FROM payments"):
        assert Decimal(repr(total)).as_tuple().exponent >= -2


def test_clean_registers_have_no_defects(clean: list[Rows]) -> None:
    seen_codes: dict[str, int] = {}
    for i, rows in enumerate(clean, start=1):
        keys = [(v[0], v[1]) for v in rows["vouchers"]]
        assert len(keys) == len(set(keys))
        assert {(x[0], x[1]) for x in rows["voucher_lines"]} == set(keys)
        assert {(x[0], x[1]) for x in rows["payments"]} == set(keys)
        for code in {k[0] for k in keys}:
            assert seen_codes.setdefault(str(code), i) == i


def test_fault_code_conflict(tmp_path: Path, clean: list[Rows]) -> None:
    paths = generate(tmp_path, replace(SMALL, faults=frozenset({"code_conflict"})))
    caja1, caja2, caja3 = (read_mapped(p) for p in paths)
    fv1_at_2 = [v for v in as_dicts(caja2, "vouchers") if v["voucher_code"] == "FV1"]
    first_day = [v for v in as_dicts(caja2, "vouchers") if v["date"] == SMALL.start]
    assert {v["date"] for v in fv1_at_2} == {SMALL.start}
    assert len(first_day) / 5 < len(fv1_at_2) < len(first_day) / 2  # about a third
    overlap = {v["number"] for v in fv1_at_2} & {v[1] for v in caja1["vouchers"] if v[0] == "FV1"}
    assert len(overlap) == len(fv1_at_2)  # every one of them would overwrite a caja1 sale
    assert len(caja2["vouchers"]) == SMALL.days * SMALL.vouchers_per_day
    assert ("FV1", "Factura de venta caja 1", "invoice") in caja2["voucher_types"]
    # nothing else is wrong: caja1 and caja3 are exactly as without the fault
    assert (caja1, caja3) == (clean[0], clean[2])
    assert len({(v[0], v[1]) for v in caja2["vouchers"]}) == len(caja2["vouchers"])


def test_fault_duplicate_number(tmp_path: Path, clean: list[Rows]) -> None:
    paths = generate(tmp_path, replace(SMALL, faults=frozenset({"duplicate_number"})))
    caja1 = read_mapped(paths[0])
    twice = [k for k, n in Counter((v[0], v[1]) for v in caja1["vouchers"]).items() if n > 1]
    assert len(twice) == 1 and twice[0][0] == "FV1"
    copies = [v for v in as_dicts(caja1, "vouchers") if (v["voucher_code"], v["number"]) == twice[0]]
    assert copies[0] != copies[1] and {c["date"] for c in copies} == {SMALL.start}
    assert Counter(v[2] for v in caja1["vouchers"])[SMALL.start] == SMALL.vouchers_per_day + 1
    # only vouchers lost its key, and only on caja1
    assert sqlite_rows(paths[0], "SELECT name FROM pragma_index_list('vouchers')") == []
    assert sqlite_rows(paths[0], "SELECT count(*) FROM pragma_index_list('voucher_lines')") == [(1,)]
    assert sqlite_rows(paths[1], "SELECT count(*) FROM pragma_index_list('vouchers')") == [(1,)]
    assert {k: v for k, v in caja1.items() if k != "vouchers"} == {k: v for k, v in clean[0].items() if k != "vouchers"}
    assert sorted([*clean[0]["vouchers"], tuple(copies[1].values())]) == caja1["vouchers"]


def test_fault_orphan_lines(tmp_path: Path, clean: list[Rows]) -> None:
    paths = generate(tmp_path, replace(SMALL, faults=frozenset({"orphan_lines"})))
    caja1 = read_mapped(paths[0])
    headers = {(v[0], v[1]) for v in caja1["vouchers"]}
    orphan_lines = [x for x in caja1["voucher_lines"] if (x[0], x[1]) not in headers]
    orphan_payments = [x for x in caja1["payments"] if (x[0], x[1]) not in headers]
    assert len(orphan_lines) == 2 and len(orphan_payments) == 1
    assert orphan_payments[0][4] == sum(x[8] for x in orphan_lines)
    assert caja1["vouchers"] == clean[0]["vouchers"]
    assert sorted(orphan_lines + clean[0]["voucher_lines"]) == caja1["voucher_lines"]
    assert [read_mapped(p) for p in paths[1:]] == clean[1:]


def test_fault_bad_types(tmp_path: Path) -> None:
    paths = generate(tmp_path, replace(SMALL, faults=frozenset({"bad_types"})))
    text_totals = sqlite_rows(paths[0], "SELECT voucher_code, date, total FROM vouchers WHERE typeof(total) = 'text'")
    assert text_totals == [("FV1", SMALL.start.isoformat(), "1.234,56")]
    for path in paths:
        kinds = sqlite_rows(
            path,
            "SELECT typeof(subtotal), typeof(tax) FROM vouchers UNION SELECT typeof(total), typeof(quantity) "
            "FROM voucher_lines UNION SELECT typeof(amount), 'real' FROM payments",
        )
        assert {k for row in kinds for k in row} <= {"real", "integer"}
    assert sqlite_rows(paths[1], "SELECT count(*) FROM vouchers WHERE typeof(total) = 'text'") == [(0,)]


def test_every_fault_shows_even_with_one_voucher_a_day(tmp_path: Path) -> None:
    spec = SampleSpec(registers=2, vouchers_per_day=1, customers=0, faults=frozenset(FAULTS))
    caja1, caja2 = generate(tmp_path, spec)
    assert sqlite_rows(caja2, "SELECT DISTINCT voucher_code FROM vouchers") == [("FV1",)]
    assert sqlite_rows(caja1, "SELECT count(*), count(DISTINCT issued_at) FROM vouchers") == [(2, 2)]
    headers = "SELECT voucher_code, number FROM vouchers"
    assert sqlite_rows(
        caja1, f"SELECT count(*) FROM voucher_lines WHERE (voucher_code, number) NOT IN ({headers})"
    ) == [(2,)]
    assert sqlite_rows(caja1, "SELECT DISTINCT total FROM vouchers") == [("1.234,56",)]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"faults": frozenset({"bad_types"}), "engine": "duckdb"}, "bad_types needs engine 'sqlite'"),
        (
            {"faults": frozenset({"code_conflict"}), "registers": 1},
            "code_conflict needs at least 2 registers",
        ),
        ({"faults": frozenset({"typo"})}, "unknown fault(s) typo"),
        ({"flavour": "klingon"}, "unknown flavour 'klingon'"),
        ({"names": ("caja1", "x/../y")}, "must match"),
        ({"names": ("caja1", "norte1")}, "same voucher codes twice"),
        ({"max_lines": 0}, "max_lines (0) must be >= min_lines (1)"),
    ],
    ids=["bad_types-duckdb", "conflict-one-register", "unknown-fault", "flavour", "name", "codes", "lines"],
)
def test_invalid_specs_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match="invalid sample spec") as err:
        replace(SampleSpec(), **changes)
    assert message in str(err.value)


def test_legacy_flavour_holds_the_same_logical_data(tmp_path: Path) -> None:
    spec = replace(SMALL, days=2, faults=frozenset({"code_conflict", "orphan_lines"}))
    canonical = generate(tmp_path / "canonical", spec)
    legacy = generate(tmp_path / "legacy", replace(spec, flavour="legacy_es"))
    tables = sqlite_rows(legacy[0], "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    assert [t[0] for t in tables] == sorted(
        s["source"] for s in json.loads((MAPPINGS_DIR / "legacy_es.json").read_text())["tables"].values()
    )
    assert sqlite_rows(
        legacy[0], "SELECT DISTINCT length(fecha), typeof(fecha), anulado IN (0, 1) FROM comprobantes"
    ) == [(8, "text", 1)]
    for c, leg in zip(canonical, legacy, strict=True):
        assert read_mapped(c) == read_mapped(leg, "legacy_es")


def test_duckdb_engine_holds_the_same_logical_data(tmp_path: Path) -> None:
    spec = replace(SMALL, days=2, faults=frozenset({"duplicate_number", "orphan_lines"}))
    duck = generate(tmp_path / "duck", replace(spec, engine="duckdb"))
    lite = generate(tmp_path / "lite", spec)
    assert [p.name for p in duck] == ["caja1.duckdb", "caja2.duckdb", "caja3.duckdb"]
    for d, s in zip(duck, lite, strict=True):
        assert read_mapped(d) == read_mapped(s)
    legacy = generate(tmp_path / "duck_legacy", replace(spec, engine="duckdb", flavour="legacy_es"))
    assert read_mapped(legacy[2], "legacy_es") == read_mapped(lite[2])


def test_named_registers_take_codes_from_trailing_digits(tmp_path: Path) -> None:
    paths = generate(tmp_path, replace(SMALL, names=("caja4", "norte")))
    assert [p.name for p in paths] == ["caja4.db", "norte.db"]
    assert [{v[0] for v in read_mapped(p)["voucher_types"]} for p in paths] == [
        {"FV4", "NC4"},
        {"FV2", "NC2"},
    ]


def test_rerun_overwrites_files_and_handles_odd_paths(tmp_path: Path) -> None:
    out = tmp_path / "caja's ñ folder"
    generate(out, replace(SMALL, vouchers_per_day=50))
    (out / "caja1.db-journal").write_bytes(b"stale")
    (path,) = generate(out, replace(SMALL, registers=1, days=1, vouchers_per_day=5))
    assert len(read_mapped(path)["vouchers"]) == 5
    assert not (out / "caja1.db-journal").exists()


def test_cli_writes_and_prints_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["--out", str(out), "--registers", "2", "--days", "2", "--start", "2026-12-01", "--vouchers", "7"]
    result = CliRunner().invoke(main, [*args, "--fault", "orphan_lines", "--flavour", "legacy_es"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [str(out / "caja1.db"), str(out / "caja2.db")]
    rows = read_mapped(out / "caja2.db", "legacy_es")
    assert Counter(v[2] for v in rows["vouchers"]) == {date(2026, 12, 1): 7, date(2026, 12, 2): 7}


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--out", str(tmp_path), "--engine", "duckdb", "--fault", "bad_types"])
    assert result.exit_code == 2
    assert "bad_types needs engine 'sqlite'" in result.output
    assert CliRunner().invoke(main, ["--out", str(tmp_path), "--fault", "nope"]).exit_code == 2
    assert FAULTS == ("code_conflict", "duplicate_number", "orphan_lines", "bad_types")


def test_ready_set_is_current_and_small(tmp_path: Path) -> None:
    ready = ROOT / "sample_data" / "ready"
    rebuilt = build_ready(tmp_path)
    assert [p.name for p in rebuilt] == ["caja1.db", "caja2.db", "caja3.db", "caja4_legacy.db"]
    assert sum((ready / p.name).stat().st_size for p in rebuilt) < 1_000_000
    for p in rebuilt[:3]:
        assert read_mapped(p) == read_mapped(ready / p.name)
    assert read_mapped(rebuilt[3], "legacy_es") == read_mapped(ready / "caja4_legacy.db", "legacy_es")
    caja2 = read_mapped(ready / "caja2.db")
    assert {v[0] for v in caja2["vouchers"] if v[2] == date(2026, 11, 25)} >= {"FV1", "FV2"}
    assert {v[0] for v in read_mapped(ready / "caja4_legacy.db", "legacy_es")["voucher_types"]} == {
        "FV4",
        "NC4",
    }
