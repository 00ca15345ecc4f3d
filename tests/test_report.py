"""The validation report: stable JSON (checked against its schema), text for cron mail, one HTML file."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from etl.report import SCHEMA_PATH, render, to_html, to_json, to_text
from etl.results import Plan, RegisterSummary, Report
from validators.findings import Finding, Severity

DAY = dt.date(2026, 11, 26)
HOSTILE = "<script>alert(1)</script>"
FV1_MESSAGE = "FV1 was issued by both caja1 and caja2 on 2026-11-26: 412 vouchers held back"


def _fv1_sample(register: str, number: int) -> dict[str, Any]:
    """A voucher header as the extract step hands it over."""
    return {
        "register": register,
        "voucher_code": "FV1",
        "number": number,
        "date": DAY,
        "issued_at": dt.datetime(2026, 11, 26, 9, 15, 3),
        "total": Decimal("118000.50"),
    }


@pytest.fixture
def report() -> Report:
    """A bad night: a FV1 conflict, duplicate numbers, warnings and a register that could not be read."""
    conflict = Finding(
        check="code_in_two_registers",
        severity=Severity.REJECT_REGISTER,
        registers=("caja1", "caja2"),
        message=FV1_MESSAGE,
        rows=412,
        voucher_code="FV1",
        samples=(
            _fv1_sample("caja1", 1001),
            _fv1_sample("caja2", 1001),
            _fv1_sample("caja1", 1002),
            _fv1_sample("caja2", 1002),
        ),
    )
    duplicate = Finding(
        check="duplicate_number",
        severity=Severity.REJECT_ROWS,
        registers=("caja3",),
        message="FV3 3001 and FV3 3002 appear twice in caja3: 2 vouchers held back",
        rows=2,
        voucher_code="FV3",
        samples=(
            {"voucher_code": "FV3", "number": 3001, "customer": HOSTILE, "total": Decimal("10.00")},
            {"voucher_code": "FV3", "number": 3001, "customer": "Peña & Hijos", "total": Decimal("12.50")},
        ),
        rejected_keys=(("caja3", "FV3", 3001), ("caja3", "FV3", 3002)),
    )
    totals = Finding(
        check="totals",
        severity=Severity.WARNING,
        registers=("caja3",),
        message="FV3 3050: header total 99.00 but its lines add up to 98.50 (caja3)",
        rows=1,
        voucher_code="FV3",
        samples=({"number": 3050, "total": Decimal("99.00"), "lines_total": Decimal("98.50")},),
    )
    totals2 = Finding(
        check="totals",
        severity=Severity.WARNING,
        registers=("caja3",),
        message="FV3 3051: header total 20.00 but its lines add up to 19.90 (caja3)",
        rows=1,
        voucher_code="FV3",
    )
    negative = Finding(
        check="negative_values",
        severity=Severity.WARNING,
        registers=("caja3",),
        message="2 invoice lines in caja3 have a negative quantity",
        rows=2,
        voucher_code="FV3",
    )
    registers = (
        RegisterSummary("caja1", "rejected", 200, 640, 215, Plan(new=200, held_back=200)),
        RegisterSummary("caja2", "rejected", 212, 700, 230, Plan(new=212, held_back=212)),
        RegisterSummary(
            "caja3",
            "partial",
            150,
            480,
            160,
            Plan(new=140, unchanged=5, changed_at_source=3, missing_at_register=1, held_back=2),
        ),
        RegisterSummary(
            "caja4", "error", error='cannot copy \\\\srv\\caja4\\pos.db: <timeout> after 30 s & "retry"'
        ),
    )
    return Report(
        process_date=DAY,
        generated_at=dt.datetime(2026, 11, 27, 2, 0, 5),
        registers=registers,
        findings=(totals, conflict, duplicate, negative, totals2),
    )


@pytest.fixture
def schema() -> dict[str, Any]:
    """The published JSON Schema of the report."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _clean_report() -> Report:
    """A quiet night: one register, everything accepted."""
    reg = RegisterSummary("caja1", "accepted", 10, 30, 10, Plan(new=10))
    return Report(DAY, dt.datetime(2026, 11, 27, 2, 0), (reg,), ())


# ---------------------------------------------------------------- JSON


def test_json_validates_against_schema(report: Report, schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(render(report, "json")), schema, cls=jsonschema.Draft202012Validator)
    jsonschema.validate(to_json(_clean_report()), schema, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(
    "breaks",
    [
        pytest.param(lambda d: d.pop("summary"), id="missing-summary"),
        pytest.param(lambda d: d.update(schema_version=1), id="wrong-version"),
        pytest.param(lambda d: d.update(process_date="26/11/2026"), id="bad-date"),
        pytest.param(lambda d: d["findings"][0].update(severity="fatal"), id="unknown-severity"),
        pytest.param(lambda d: d["findings"][0].update(rows=-1), id="negative-rows"),
        pytest.param(lambda d: d["registers"][0].update(status="maybe"), id="unknown-status"),
        pytest.param(lambda d: d["registers"][0]["plan"].pop("held_back"), id="missing-plan-count"),
        pytest.param(lambda d: d["summary"].update(extra=1), id="unexpected-key"),
    ],
)
def test_broken_json_does_not_validate(report: Report, schema: dict[str, Any], breaks: Any) -> None:
    document = to_json(report)
    breaks(document)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema, cls=jsonschema.Draft202012Validator)


def test_schema_describes_every_property(schema: dict[str, Any]) -> None:
    undocumented = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    undocumented.append(f"{path}/{name}")
            for key, sub in node.items():
                walk(sub, f"{path}/{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{path}/{i}")

    walk(schema, "#")
    assert undocumented == []


def test_json_shape_and_values(report: Report) -> None:
    document = to_json(report)
    assert list(document) == [
        "schema_version",
        "process_date",
        "generated_at",
        "all_or_nothing",
        "hold",
        "summary",
        "registers",
        "findings",
    ]
    assert document["hold"] == "register"
    assert document["process_date"] == "2026-11-26"
    assert document["generated_at"] == "2026-11-27T02:00:05"
    assert document["summary"] == {
        "registers": 4,
        "accepted": [],
        "partial": ["caja3"],
        "rejected": ["caja1", "caja2"],
        "errors": ["caja4"],
        "identical": [],
        "rejections": 2,
        "warnings": 3,
        "vouchers_held_back": 414,
    }
    caja3 = document["registers"][2]
    assert caja3["read"] == {"vouchers": 150, "lines": 480, "payments": 160}
    assert caja3["plan"]["overwrite_would_update"] == 3
    assert caja3["plan"]["missing_at_register"] == 1 and "samples_missing" not in caja3
    conflict = document["findings"][1]
    assert conflict["severity"] == "reject_register"
    assert conflict["registers"] == ["caja1", "caja2"]
    assert conflict["samples"][0] == {
        "register": "caja1",
        "voucher_code": "FV1",
        "number": 1001,
        "date": "2026-11-26",
        "issued_at": "2026-11-26T09:15:03",
        "total": "118000.50",
    }
    assert "rejected_keys" not in document["findings"][2]
    assert document["findings"][2]["rows"] == 2


def test_render_json_keeps_order_and_unicode(report: Report) -> None:
    out = render(report, "json")
    assert json.loads(out) == to_json(report)
    assert "Peña & Hijos" in out
    assert out.startswith('{\n  "schema_version": 2,\n  "process_date": "2026-11-26"')


# ---------------------------------------------------------------- text


def test_text_rejections_come_before_the_register_table(report: Report) -> None:
    text = to_text(report)
    lines = text.splitlines()
    assert lines[1] == "2026-11-26: 2 of 4 registers rejected, 1 partly held back, 1 could not be read, " + (
        "414 vouchers held back, 3 warnings"
    )
    rejections, registers = text.index("REJECTIONS"), text.index("REGISTERS")
    assert (
        rejections < text.index(FV1_MESSAGE) < registers < text.index("WARNINGS") < text.index("WHAT TO DO")
    )
    block = text[rejections:registers]
    assert "caja1" in block and "caja2" in block and "412" in block
    assert "registers caja1, caja2 | voucher code FV1 | 412 vouchers held back (whole register)" in block


def test_text_shows_up_to_three_samples_indented(report: Report) -> None:
    text = to_text(report)
    assert "        register=caja1, voucher_code=FV1, number=1001, date=2026-11-26, " in text
    assert "total=118000.50" in text
    assert "number=1002" in text  # third sample
    assert text.count("voucher_code=FV1") == 3
    assert "and 1 more sample" in text


def test_text_register_table_and_errors(report: Report) -> None:
    text = to_text(report)
    table = text[text.index("REGISTERS") : text.index("WARNINGS")].splitlines()
    assert table[1].split() == ["register", "status", "vouchers", "lines", "payments", "new", "unchanged"] + [
        "changed",
        "missing",
        "held",
    ]
    assert table[3].split() == ["caja1", "rejected", "200", "640", "215", "200", "0", "0", "0", "200"]
    assert table[5].split() == ["caja3", "partial", "150", "480", "160", "140", "5", "3", "1", "2"]
    assert "caja4: cannot copy" in text


def test_text_groups_warnings_by_check_with_counts(report: Report) -> None:
    text = to_text(report)
    warnings = text[text.index("WARNINGS") : text.index("WHAT TO DO")]
    assert "WARNINGS (3)" in warnings
    assert "  negative_values: 1 finding, 2 rows" in warnings
    assert "  totals: 2 findings, 2 rows" in warnings
    assert warnings.index("negative_values") < warnings.index("totals:")


def test_text_says_what_to_do_next(report: Report) -> None:
    text = to_text(report)
    assert "`posync validate --date 2026-11-26` again" in text
    assert "`posync import --date 2026-11-26`" in text
    assert "`posync import --date 2026-11-26 --overwrite`" in text
    assert "Could not read caja4" in text


def test_text_neutralises_terminal_control_characters() -> None:
    reg = RegisterSummary("caja1", "error", error="bad\x1b[2J file\nname")
    text = to_text(Report(DAY, dt.datetime(2026, 11, 27), (reg,), ()))
    assert "\x1b" not in text
    assert "bad\\x1b[2J file\\nname" in text


def test_text_for_a_quiet_night() -> None:
    text = to_text(_clean_report())
    assert text.splitlines()[1] == "2026-11-26: the register was accepted, no warnings"
    assert "none: nothing is held back" in text
    assert "Nothing is held back: import with `posync import --date 2026-11-26`." in text


# ---------------------------------------------------------------- HTML


def test_html_escapes_hostile_values(report: Report) -> None:
    page = to_html(report)
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    assert "&lt;timeout&gt; after 30 s &amp; &quot;retry&quot;" in page
    assert "Peña &amp; Hijos" in page


def test_html_shows_conflicts_first(report: Report) -> None:
    page = to_html(report)
    conflicts = page.index('<table id="conflicts" class="conflicts">')
    assert page.index('class="banner red"') < conflicts
    assert conflicts < page.index('id="registers"') < page.index('id="warnings"') < page.index("<details")
    table = page[conflicts : page.index("</table>", conflicts)].replace("<wbr>", "")
    assert table.index("code_in_two_registers") < table.index("duplicate_number")
    assert ">412<" in table and FV1_MESSAGE in table
    assert '<span class="reg">caja1</span> <span class="reg">caja2</span>' in table


def test_html_is_self_contained(report: Report) -> None:
    page = to_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>posync validation report — 2026-11-26</title>" in page
    assert "Thursday 26 November 2026" in page
    for external in ("http://", "https://", "<link", "@import", "url(", "src="):
        assert external not in page


@pytest.mark.parametrize(
    ("findings", "banner"),
    [
        pytest.param((), "green", id="all-clear"),
        pytest.param(
            (Finding("totals", Severity.WARNING, ("caja1",), "FV1 9: totals differ", 1),), "amber", id="warn"
        ),
    ],
)
def test_html_banner_colour(findings: tuple[Finding, ...], banner: str) -> None:
    report = Report(DAY, dt.datetime(2026, 11, 27), _clean_report().registers, findings)
    page = to_html(report)
    assert f'class="banner {banner}"' in page
    assert "No conflicts: nothing is held back." in page


def test_render_dispatches_and_refuses_unknown_formats(report: Report) -> None:
    assert render(report, "text") == to_text(report)
    assert render(report, "html") == to_html(report)
    with pytest.raises(ValueError, match="unknown report format 'pdf'"):
        render(report, "pdf")


def test_every_format_handles_an_empty_report(schema: dict[str, Any]) -> None:
    empty = Report(DAY, dt.datetime(2026, 11, 27), (), ())
    jsonschema.validate(to_json(empty), schema, cls=jsonschema.Draft202012Validator)
    assert "no registers were checked" in to_text(empty)
    assert "No registers were checked." in to_html(empty)


# ---------------------------------------------------------------- HTML in a real browser


class _TableRows(HTMLParser):
    """Collects the text of each row of the table with a given id."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.depth, self.rows = table_id, 0, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and (self.depth or dict(attrs).get("id") == self.table_id):
            self.depth += 1
        elif tag == "tr" and self.depth:
            self.rows.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth and self.rows:
            self.rows[-1] += data


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Debian's headless Chromium once, isolated from any profile and the network."""
    command = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)


def test_html_renders_in_headless_chromium(report: Report, tmp_path: Path) -> None:
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed; .ci/run installs it")
    page = tmp_path / "report.html"
    page.write_text(to_html(report), encoding="utf-8")

    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    rows = _TableRows("conflicts")
    rows.feed(dom)
    fv1 = [row for row in rows.rows if "FV1" in row]
    assert len(fv1) == 1
    assert "caja1" in fv1[0] and "caja2" in fv1[0] and "412" in fv1[0]
    assert any("caja3" in row and "FV3" in row for row in rows.rows)

    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri())
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert int.from_bytes(data[16:20], "big") == 1200  # IHDR width
    assert len(data) > 20_000
