"""The validation report: one Report rendered as stable JSON, terminal/cron-mail text, or one HTML file.

Pure functions only. The JSON shape is versioned (`schema_version`) and described by
`report.schema.json` beside this file; the text and HTML forms are for people and may change.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import functools
import html
import json
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from etl import i18n
from etl.i18n import N_, _, format_amount, format_number, ngettext
from etl.results import RegisterSummary, Report
from validators.findings import OWNERSHIP_CHECKS, Finding, Severity

SCHEMA_VERSION = 2  # 2: registers[].samples_missing (always empty in 1) removed; "hold" added
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
CSS_PATH = Path(__file__).with_name("report.css")
FORMATS = ("text", "json", "html")
STATUSES = ("accepted", "partial", "rejected", "error", "identical")
PROBLEM_STATUSES = ("rejected", "partial", "error")
TEXT_SAMPLES = 3  # samples shown per rejection in text
TEXT_WARNINGS_PER_CHECK = 10  # warning messages shown per check in text
TEXT_VALUE_WIDTH = 60  # longer sample values are cut in text

# Each check as a reader names it, and what to change at the register when it holds vouchers back.
CHECK_TITLES = {
    "code_in_two_registers": N_("Voucher code used by two registers"),
    "code_owned_by_other": N_("Voucher code that belongs to another register"),
    "duplicate_number": N_("Voucher number sent twice"),
    "orphan_rows": N_("Lines or payments without their voucher"),
    "empty_voucher": N_("Voucher without lines"),
    "bad_values": N_("Missing or unreadable values"),
    "date_mismatch": N_("Voucher issued on another day than its business date"),
    "totals": N_("Total that differs from its lines or payments"),
    "negative_amounts": N_("Negative or zero amounts"),
    "no_sales": N_("Register without sales for the day"),
    "numbering_gap": N_("Gap in the voucher numbering"),
    "numbering_range": N_("Number outside the authorised DIAN range"),
    "prefix_number_twice": N_("DIAN prefix and number used twice"),
    "number_reused": N_("Voucher number already used for another sale"),
}
FIXES = {
    "code_in_two_registers": N_("At %(registers)s: give each register its own voucher code for %(code)s in the "
                                "POS settings (one code per register; `posync codes list` shows who owns what), "
                                "then run `posync validate --date %(date)s` again."),
    "code_owned_by_other": N_("At %(registers)s: %(code)s is another register's code; set this register's own "
                              "voucher code in the POS settings (or give it the code with `posync codes assign "
                              "%(code)s REGISTER --reason \"…\"` if it replaced the owner), then run "
                              "`posync validate --date %(date)s` again."),
    "duplicate_number": N_("At %(registers)s: each voucher number may be sent once; remove or renumber the "
                           "duplicates in the POS, then run `posync validate --date %(date)s` again."),
    "orphan_rows": N_("At %(registers)s: the lines or payments have no voucher; finish or remove the incomplete "
                      "sale in the POS, then run `posync validate --date %(date)s` again."),
    "bad_values": N_("At %(registers)s: fill in or correct the values named in the sample rows in the POS, then "
                     "run `posync validate --date %(date)s` again."),
    "numbering_range": N_("At %(registers)s: number the vouchers inside the authorised DIAN range (`posync "
                          "numbering list`), then run `posync validate --date %(date)s` again."),
    "prefix_number_twice": N_("At %(registers)s: a DIAN prefix and number may be issued once; correct the "
                              "numbering in the POS, then run `posync validate --date %(date)s` again."),
    "number_reused": N_("At %(registers)s: the number was already issued for another sale; correct the "
                        "numbering in the POS, then run `posync validate --date %(date)s` again."),
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BACKTICKS = re.compile(r"`([^`]+)`")


# ---------------------------------------------------------------- small pure helpers


def json_safe(value: Any) -> Any:
    """Return `value` as plain JSON data: Decimal as an exact string, dates ISO, containers recursively.

    >>> json_safe({"total": decimal.Decimal("12.50"), "date": dt.date(2026, 11, 26), "keys": (1, 2)})
    {'total': '12.50', 'date': '2026-11-26', 'keys': [1, 2]}
    >>> json_safe(dt.datetime(2026, 11, 26, 9, 30)), json_safe(float("nan")), json_safe(b"\\x01")
    ('2026-11-26T09:30:00', 'nan', '01')
    """
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, set | frozenset):
        return [json_safe(v) for v in sorted(value, key=repr)]
    return str(value)


def long_date(day: dt.date) -> str:
    """A date as people say it, in the reader's language (not the machine's locale).

    >>> long_date(dt.date(2026, 11, 26))
    'Thursday 26 November 2026'
    """
    return i18n.format_date(day)


def check_title(check: str) -> str:
    """A check's readable title in the reader's language (the check's name when it has none).

    >>> check_title("code_in_two_registers")
    'Voucher code used by two registers'
    """
    return _(CHECK_TITLES[check]) if check in CHECK_TITLES else check


def finding_text(finding: Finding) -> str:
    """A finding's message for people: as stored (English) in English, else translated from its template."""
    if i18n.language() == i18n.DEFAULT or not finding.template:
        return finding.message
    params = {k: i18n.join_and(v) if isinstance(v, tuple) else v for k, v in finding.params}
    if finding.check == "bad_values":  # the first sample's problem, its reasons in words
        params["first"] = problem_text(params["first"])
    if finding.plural:
        return i18n.ngettext(finding.template, finding.plural, int(params.pop("num")), **params)
    return _(finding.template, **params)


@functools.cache
def _reasons() -> tuple[re.Pattern[str], dict[str, re.Pattern[str]]]:
    """The reasons a sample's problem ends each part with: one pattern for all, and one per template."""
    from etl.casts import REASONS
    from validators.integrity import PROBLEMS

    each = {t: re.compile(re.escape(t).replace(re.escape("%(n)s"), r"(?P<n>\d+)")) for t in (*REASONS, *PROBLEMS)}
    anywhere = "|".join(p.pattern for p in sorted(each.values(), key=lambda p: -len(p.pattern)))
    return re.compile(rf"(?<= )(?:{anywhere.replace('(?P<n>', '(?:')})(?=; |$)"), each


def problem_text(text: str) -> str:
    """Check 5's problem of a sample ("total: '1.234,56' is not a number; date: missing") with its reasons said
    in the reader's language; the column names and the register's own values stay as they are.

    >>> problem_text("total: '1.234,56' is not a number; price: '1.5' has more than 0 decimals")
    "total: '1.234,56' is not a number; price: '1.5' has more than 0 decimals"
    """
    if i18n.language() == i18n.DEFAULT or not text:
        return text
    found, each = _reasons()

    def said(match: re.Match[str]) -> str:
        for template, pattern in each.items():
            if whole := pattern.fullmatch(match.group()):
                return i18n.word("bad value", template) % whole.groupdict()
        return match.group()

    return found.sub(said, text)


def finding_said(finding: Finding) -> str:
    """A finding's message to keep for later: English as a str, said with finding_text where it is shown."""
    return i18n.Deferred(finding.message, functools.partial(finding_text, finding))


def clean(text: str) -> str:
    """Make data safe to print on a terminal: control characters become visible escapes.

    >>> clean("caja1\\x1b[2J\\nFV1")
    'caja1\\\\x1b[2J\\\\nFV1'
    """
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def value_text(value: Any, width: int | None = None) -> str:
    """One sample value as short plain text (None → "null", Decimal exact), cut at `width`.

    >>> value_text(decimal.Decimal("12.50")), value_text(None), value_text(True), value_text("x" * 9, 5)
    ('12.50', 'null', 'true', 'xxxx…')
    """
    safe = format_amount(value) if isinstance(value, decimal.Decimal) else json_safe(value)
    text = safe if isinstance(safe, str) else json.dumps(safe, ensure_ascii=False)
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def sample_text(sample: Mapping[str, Any]) -> str:
    """A sample row as one line of key=value pairs, safe for a terminal.

    >>> sample_text({"voucher_code": "FV1", "number": 1001, "total": decimal.Decimal("8.10")})
    'voucher_code=FV1, number=1001, total=8.10'
    """
    return clean(", ".join(f"{k}={value_text(problem_text(v) if k == 'problem' else v, TEXT_VALUE_WIDTH)}"
                           for k, v in sample.items()))


def held_back(finding: Finding) -> int:
    """Vouchers a finding holds back: its rejected keys when listed, else its rows; 0 for a warning."""
    if not finding.is_rejection:
        return 0
    return len(finding.rejected_keys) or finding.rows


def names_by_status(report: Report) -> dict[str, list[str]]:
    """Register names grouped under every known status (unknown statuses are kept too)."""
    groups: dict[str, list[str]] = {s: [] for s in STATUSES}
    for reg in report.registers:
        groups.setdefault(reg.status, []).append(reg.name)
    return groups


def total_held_back(report: Report) -> int:
    """Vouchers held back across registers, from each register's import plan."""
    return sum(r.plan.held_back for r in report.registers)


def level(report: Report) -> str:
    """Overall state: "red" when data is held back or unreadable, "amber" for warnings only, else "green"."""
    if report.has_rejections or any(r.status in PROBLEM_STATUSES for r in report.registers):
        return "red"
    return "amber" if report.warnings else "green"


def headline_parts(report: Report) -> list[str]:
    """The phrases of the headline, most serious first."""
    total = len(report.registers)
    if not total:
        return [_("no registers were checked")]
    groups = names_by_status(report)
    more = {"rejected": N_("%(n)s rejected"), "partial": N_("%(n)s partly held back"),
            "error": N_("%(n)s could not be read")}
    problems = [status for status in ("rejected", "partial", "error") if groups[status]]
    if problems:
        head, *rest = problems
        parts = [_first_problem(head, len(groups[head]), total),
                 *(_(more[status], n=len(groups[status])) for status in rest)]
    else:
        parts = [_("the register was accepted") if total == 1 else _("all %(n)s registers accepted", n=total)]
    if held := total_held_back(report):
        parts.append(ngettext("%(num)s voucher held back", "%(num)s vouchers held back", held))
    parts.append(ngettext("%(num)s warning", "%(num)s warnings", len(report.warnings)) if report.warnings
                 else _("no warnings"))
    return parts


def _first_problem(status: str, n: int, total: int) -> str:
    """The most serious problem of the headline, said against the number of registers."""
    if status == "rejected":
        return ngettext("%(n)s of %(num)s register rejected", "%(n)s of %(num)s registers rejected", total, n=n)
    if status == "partial":
        return ngettext("%(n)s of %(num)s register partly held back", "%(n)s of %(num)s registers partly held back",
                        total, n=n)
    return ngettext("%(n)s of %(num)s register could not be read", "%(n)s of %(num)s registers could not be read",
                    total, n=n)


def headline(report: Report) -> str:
    """One line for a terminal or a mail subject, e.g. "2026-11-26: 2 of 4 registers rejected, …"."""
    return f"{report.process_date.isoformat()}: {', '.join(headline_parts(report))}"  # dates ISO: a mail subject


def next_steps(report: Report) -> list[str]:
    """What the operator should do now, in plain words; commands are in `backticks`."""
    day = report.process_date.isoformat()
    groups = names_by_status(report)
    steps: list[str] = []
    if report.has_rejections:
        steps.append(_("Fix the data at the register and run `posync validate --date %(day)s` again; accepted "
                       "registers can be imported with `posync import --date %(day)s`.", day=day))
        steps += fixes(report)
        if report.all_or_nothing:
            steps.append(
                _("--all-or-nothing is on: nothing from any register is imported while anything is rejected.")
            )
        elif report.hold == "register" and any(f.check in OWNERSHIP_CHECKS for f in report.findings):
            steps.append(_("A voucher-code clash holds back whole registers: `posync import --date %(day)s --hold "
                           "code` imports their other codes now and holds back only the clashing code.", day=day))
    if groups["error"]:
        steps.append(_("Could not read %(registers)s: check that the register is on and its folder is reachable "
                       "(`posync remote list`), then validate again.", registers=", ".join(groups["error"])))
    if changed := sum(r.plan.changed_at_source for r in report.registers):
        steps.append(ngettext(
            "%(num)s voucher changed at the register after import; `posync import --date %(day)s --overwrite` "
            "would update them.",
            "%(num)s vouchers changed at the register after import; `posync import --date %(day)s --overwrite` "
            "would update them.", changed, day=day))
    if missing := sum(r.plan.missing_at_register for r in report.registers):
        steps.append(ngettext(
            "%(num)s voucher imported earlier is no longer at the register; it stays in main. Ask the shop why.",
            "%(num)s vouchers imported earlier are no longer at the register; they stay in main. Ask the shop why.",
            missing))
    if not report.has_rejections and not groups["error"]:
        steps.append(
            _("Nothing is held back: import with `posync import --date %(day)s`.", day=day)
            + (" " + _("Warnings change nothing; review them with the shop.") if report.warnings else "")
        )
    return steps


def fixes(report: Report) -> list[str]:
    """For each rejecting check, what to change at which registers, and the command to run after.

    With --hold code a voucher-code clash holds back only that code, and the step says so too.
    """
    day = report.process_date.isoformat()
    found: dict[str, tuple[list[str], list[str]]] = {}
    for f in rejections(report):
        registers, codes = found.setdefault(f.check, ([], []))
        at = f.registers[:1] if f.check == "code_owned_by_other" else f.registers  # the intruder, not the owner
        registers += [r for r in at if r not in registers]
        codes += [f.voucher_code] if f.voucher_code and f.voucher_code not in codes else []
    return [_(FIXES[check], registers=i18n.join_and(registers), code=", ".join(codes), date=day)
            for check, (registers, codes) in found.items() if check in FIXES]


def _code_held(report: Report, finding: Finding) -> bool:
    return report.hold == "code" and finding.check in OWNERSHIP_CHECKS and not report.all_or_nothing


def rejections(report: Report) -> list[Finding]:
    """Rejection findings, whole-register ones first, then by check."""
    order = {Severity.REJECT_REGISTER: 0, Severity.REJECT_ROWS: 1}
    return sorted((f for f in report.findings if f.is_rejection), key=lambda f: (order[f.severity], f.check))


def warnings_by_check(report: Report) -> dict[str, list[Finding]]:
    """Warning findings grouped by check name, checks in alphabetical order."""
    groups: dict[str, list[Finding]] = {}
    for finding in sorted(report.warnings, key=lambda f: f.check):
        groups.setdefault(finding.check, []).append(finding)
    return groups


# ---------------------------------------------------------------- JSON


def to_json(report: Report) -> dict[str, Any]:
    """The report as the stable JSON document described by report.schema.json."""
    groups = names_by_status(report)
    return {
        "schema_version": SCHEMA_VERSION,
        "process_date": report.process_date.isoformat(),
        "generated_at": report.generated_at.isoformat(),
        "all_or_nothing": report.all_or_nothing,
        "hold": report.hold,
        "summary": {
            "registers": len(report.registers),
            "accepted": groups["accepted"],
            "partial": groups["partial"],
            "rejected": groups["rejected"],
            "errors": groups["error"],
            "identical": groups["identical"],
            "rejections": sum(1 for f in report.findings if f.is_rejection),
            "warnings": len(report.warnings),
            "vouchers_held_back": total_held_back(report),
        },
        "registers": [_register_json(r) for r in report.registers],
        "findings": [_finding_json(f) for f in report.findings],
    }


def _register_json(reg: RegisterSummary) -> dict[str, Any]:
    """One register's entry in the JSON document."""
    plan = reg.plan
    return {
        "name": reg.name,
        "status": reg.status,
        "read": {"vouchers": reg.vouchers, "lines": reg.lines, "payments": reg.payments},
        "plan": {
            "new": plan.new,
            "unchanged": plan.unchanged,
            "changed_at_source": plan.changed_at_source,
            "missing_at_register": plan.missing_at_register,
            "held_back": plan.held_back,
            "overwrite_would_update": plan.overwrite_would_update,
        },
        "error": reg.error,
    }


def _finding_json(finding: Finding) -> dict[str, Any]:
    """One finding's entry in the JSON document; rejected_keys are summarised by `rows`, not listed."""
    return {
        "check": finding.check,
        "severity": finding.severity.value,
        "registers": list(finding.registers),
        "voucher_code": finding.voucher_code,
        "rows": finding.rows,
        "message": finding.message,
        "samples": [json_safe(s) for s in finding.samples],
    }


# ---------------------------------------------------------------- text

_REGISTER_COLUMNS: tuple[tuple[str, ...], ...] = (  # each header's English lines; translated whole, see text_table
    ("register",),
    ("status",),
    ("vouchers",),
    ("lines",),
    ("payments",),
    ("new",),
    ("unchanged",),
    ("changed", "at source"),
    ("missing", "at register"),
    ("held", "back"),
)
_HEADERS = (N_("register"), N_("status"), N_("vouchers"), N_("lines"), N_("payments"), N_("new"), N_("unchanged"),
            N_("changed at source"), N_("missing at register"), N_("held back"))


def to_text(report: Report) -> str:
    """The report as plain text for a terminal or a cron mail: rejections first, then the registers."""
    sections = [
        [
            _("posync validation report for %(date)s", date=long_date(report.process_date)),
            clean(headline(report)),
            _("generated %(at)s", at=report.generated_at.isoformat(sep=" ", timespec="seconds")),
        ],
        _text_rejections(report),
        _text_registers(report),
        _text_warnings(report),
        [_("WHAT TO DO NEXT"), *(wrap(step, "  - ", "    ") for step in next_steps(report))],
    ]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def wrap(text: str, first: str, rest: str, width: int = 100) -> str:
    """Wrap a sentence for a mail, never breaking inside a `command`.

    >>> print(wrap("run `posync import --date 2026-11-26` now", "- ", "  ", width=20))
    - run
      `posync import --date 2026-11-26`
      now
    """
    glued = _BACKTICKS.sub(lambda m: m.group().replace(" ", "\x00"), text)
    lines = textwrap.wrap(glued, width, initial_indent=first, subsequent_indent=rest, break_long_words=False)
    return "\n".join(lines).replace("\x00", " ")


def _text_rejections(report: Report) -> list[str]:
    """REJECTIONS: each rejection's plain sentence, where it applies, and up to three samples."""
    found = rejections(report)
    if not found:
        return [_("REJECTIONS"), "  " + _("none: nothing is held back")]
    lines = [_("REJECTIONS (%(n)s): held back, not imported", n=len(found))]
    for finding in found:
        lines.append(f"  x {clean(finding_text(finding))}")
        check = finding.check if i18n.language() == i18n.DEFAULT else f"{finding.check} " \
            f"({check_title(finding.check)})"
        where = [_("check %(check)s", check=check), _("registers %(names)s", names=", ".join(finding.registers))]
        if finding.voucher_code:
            where.append(_("voucher code %(code)s", code=finding.voucher_code))
        scope = (_("that code only (--hold code)") if _code_held(report, finding) else _("whole register")) \
            if finding.severity is Severity.REJECT_REGISTER else _("these vouchers")
        where.append(ngettext("%(num)s voucher held back (%(scope)s)", "%(num)s vouchers held back (%(scope)s)",
                              held_back(finding), scope=scope))
        lines.append(f"      {clean(' | '.join(where))}")
        lines.extend(f"        {sample_text(s)}" for s in finding.samples[:TEXT_SAMPLES])
        if (more := len(finding.samples) - TEXT_SAMPLES) > 0:
            lines.append("        " + ngettext("… and %(num)s more sample", "… and %(num)s more samples", more))
    if report.all_or_nothing:
        lines.append("  " + _("--all-or-nothing is on: the whole batch is held back."))
    return lines


def _text_register_row(reg: RegisterSummary) -> list[str]:
    """One register's cells for the text table, in _REGISTER_COLUMNS order."""
    plan = reg.plan
    counts = (
        reg.vouchers,
        reg.lines,
        reg.payments,
        plan.new,
        plan.unchanged,
        plan.changed_at_source,
        plan.missing_at_register,
        plan.held_back,
    )
    shown = ("-",) * len(counts) if reg.status == "error" else (format_number(n) for n in counts)
    return [clean(reg.name), clean(i18n.word("status", reg.status)), *shown]


def text_table(headers: Sequence[tuple[str, ...]], rows: Sequence[Sequence[str]], left: int = 2) -> list[str]:
    """Align cells in columns: the first `left` columns flush left, the rest right; headers may wrap.

    >>> print("\\n".join(text_table([("name",), ("held", "back")], [["caja1", "412"]], left=1)))
    name   held
           back
    caja1   412
    """
    if i18n.language() != i18n.DEFAULT:  # a translated header is split after its first word
        headers = [tuple(_(joined).split(" ", 1)) if len(h) > 1 else (_(h[0]),)
                   for h, joined in ((h, " ".join(h)) for h in headers)]
    depth = max(len(h) for h in headers)
    head = [[*h, *[""] * (depth - len(h))] for h in headers]
    widths = [max(len(c) for c in [*head[i], *(r[i] for r in rows)]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line([h[d] for h in head]) for d in range(depth)] + [line(r) for r in rows]


def _text_registers(report: Report) -> list[str]:
    """REGISTERS: one row per register with what was read and what an import would do."""
    if not report.registers:
        return [_("REGISTERS"), "  " + _("none")]
    table = text_table(_REGISTER_COLUMNS, [_text_register_row(r) for r in report.registers])
    lines = [_("REGISTERS"), *(f"  {row}" for row in table)]
    lines.extend(f"  {clean(r.name)}: {clean(i18n.shown(r.error))}" for r in report.registers if r.error)
    return lines


def _text_warnings(report: Report) -> list[str]:
    """WARNINGS grouped by check, with counts; they change nothing."""
    groups = warnings_by_check(report)
    if not groups:
        return [_("WARNINGS"), "  " + _("none")]
    lines = [_("WARNINGS (%(n)s): reported only, nothing is changed or held back", n=len(report.warnings))]
    for check, found in groups.items():
        rows = sum(f.rows for f in found)
        name = check if i18n.language() == i18n.DEFAULT else f"{check} ({check_title(check)})"
        lines.append(f"  {clean(name)}: {_counts(len(found), rows)}")
        lines.extend(f"    - {clean(finding_text(f))}" for f in found[:TEXT_WARNINGS_PER_CHECK])
        if (more := len(found) - TEXT_WARNINGS_PER_CHECK) > 0:
            lines.append("    " + _("… and %(n)s more", n=more))
    return lines


def _counts(findings: int, rows: int) -> str:
    """ "3 findings, 12 rows" in the reader's language."""
    return ngettext("%(num)s finding", "%(num)s findings", findings) + ", " + ngettext("%(num)s row", "%(num)s rows",
                                                                                         rows)


# ---------------------------------------------------------------- HTML

_BANNERS = {
    "red": (N_("Action needed"), N_("Some sales are held back and will not be imported until they are fixed.")),
    "amber": (N_("Ready to import, with warnings"), N_("Nothing is held back; the warnings below change nothing.")),
    "green": (N_("All clear"), N_("Every register passed every check.")),
}
_SCOPES = {Severity.REJECT_REGISTER: N_("whole register held back"), Severity.REJECT_ROWS: N_("only these vouchers")}
_REGISTER_LABELS = (N_("Vouchers"), N_("Lines"), N_("Payments"), N_("Add as new"), N_("Skip, unchanged"),
                    N_("Changed at source"), N_("Missing at register"), N_("Hold back"))


def _register_head() -> str:
    """The registers table's two header rows, in the reader's language."""
    register, status, read, would = (e(_("Register")), e(_("Status")), e(_("Read for the day")),
                                     e(_("An import would")))
    labels = [e(_(label)) for label in _REGISTER_LABELS]
    return (
        f'<tr><th rowspan="2">{register}</th><th rowspan="2">{status}</th>'
        f'<th colspan="3" class="group">{read}</th><th colspan="5" class="group">{would}</th></tr>'
        + "<tr>"
        + "".join(f'<th class="num">{label}</th>' for label in labels)
        + "</tr>"
    )


@functools.cache
def stylesheet() -> str:
    """The report's CSS, read once from templates/report.css."""
    return CSS_PATH.read_text(encoding="utf-8")


def e(value: Any) -> str:
    """HTML-escape any value, quotes included, after making it plain text.

    >>> e('<script>alert("x")</script>'), e(decimal.Decimal("1.50")), e(None)
    ('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;', '1.50', 'null')
    """
    return html.escape(value_text(value), quote=True)


def prose(text: str) -> str:
    """Escape a sentence and show its `backticked` commands as code.

    >>> prose("run `posync import --date 2026-11-26` <now>")
    'run <code>posync import --date 2026-11-26</code> &lt;now&gt;'
    """
    return _BACKTICKS.sub(r"<code>\1</code>", html.escape(text, quote=True))


def identifier(name: str) -> str:
    """Escape an identifier and let it wrap after its underscores.

    >>> identifier("code_in_two_registers")
    'code_<wbr>in_<wbr>two_<wbr>registers'
    """
    return e(name).replace("_", "_<wbr>")


def _table(table_id: str, head: str, rows: Sequence[str], empty: str, columns: int) -> str:
    """A table with an id (also its class), a header row block and body rows, or one 'empty' row."""
    body = rows or [f'<tr class="empty"><td colspan="{columns}">{e(empty)}</td></tr>']
    return "\n".join(
        [
            '<div class="scroll">',
            f'<table id="{table_id}" class="{table_id}">',
            f"<thead>{head}</thead>",
            "<tbody>",
            *body,
            "</tbody>",
            "</table>",
            "</div>",
        ]
    )


def _section(title: str, lead: str, *parts: str) -> str:
    """A titled section with a one-line explanation."""
    intro = f'<p class="lead">{e(lead)}</p>' if lead else ""
    return "\n".join(["<section>", f"<h2>{e(title)}</h2>", intro, *parts, "</section>"])


def _head(*labels: str) -> str:
    """One header row; labels starting with '#' are numeric columns."""
    cells = (f'<th class="num">{e(x[1:])}</th>' if x.startswith("#") else f"<th>{e(x)}</th>" for x in labels)
    return f"<tr>{''.join(cells)}</tr>"


def to_html(report: Report) -> str:
    """The report as one self-contained HTML page (inline CSS, no scripts, nothing fetched)."""
    day = report.process_date
    generated = report.generated_at.isoformat(sep=" ", timespec="minutes")
    subtitle = ngettext("Vouchers (comprobantes) of %(num)s register (caja), checked before import · generated "
                        "%(at)s", "Vouchers (comprobantes) of %(num)s registers (cajas), checked before import · "
                        "generated %(at)s", len(report.registers), at=generated)
    title = e(_("Validation report"))
    body = [
        "<header>",
        f'<h1>{title} <span class="date">{e(long_date(day))}</span></h1>',
        f'<p class="subtitle">{e(subtitle)}</p>',
        "</header>",
        _html_banner(report),
        _html_conflicts(report),
        _html_registers(report),
        _html_warnings(report),
        _html_samples(report),
        "<footer>" + e(_("posync · report schema v%(version)s · process date %(date)s", version=str(SCHEMA_VERSION),
                         date=day.isoformat())) + "</footer>",
    ]
    return (
        f'<!DOCTYPE html>\n<html lang="{i18n.language()}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        + "<title>" + e(_("posync validation report — %(date)s", date=day.isoformat())) + "</title>\n"
        + f"<style>\n{stylesheet()}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


def _html_banner(report: Report) -> str:
    """The big status banner: colour and words for the overall state, the numbers, the next steps."""
    colour = level(report)
    title, meaning = (_(x) for x in _BANNERS[colour])
    groups = names_by_status(report)
    accepted = len(groups["accepted"]) + len(groups["identical"])
    stats = [
        (_("registers accepted"), _("%(n)s of %(total)s", n=accepted, total=len(report.registers))),
        (_("vouchers held back"), format_number(total_held_back(report))),
        (_("rejections"), format_number(len(report.findings) - len(report.warnings))),
        (_("warnings"), format_number(len(report.warnings))),
    ]
    return "\n".join(
        [
            f'<section class="banner {colour}" role="status">',
            f'<p class="state"><span class="icon" aria-hidden="true"></span>{e(title)}</p>',
            f'<p class="headline">{e(_sentence(", ".join(headline_parts(report))))}. {e(meaning)}</p>',
            '<dl class="stats">',
            *(f"<div><dt>{e(label)}</dt><dd>{e(value)}</dd></div>" for label, value in stats),
            "</dl>",
            '<h2 class="next">' + e(_("What to do next")) + "</h2>",
            '<ul class="next">',
            *(f"<li>{prose(step)}</li>" for step in next_steps(report)),
            "</ul>",
            "</section>",
        ]
    )


def _sentence(text: str) -> str:
    """Upper-case the first letter only."""
    return text[:1].upper() + text[1:]


def _badges(names: Sequence[str]) -> str:
    """Register names as small badges."""
    return " ".join(f'<span class="reg">{e(n)}</span>' for n in names)


def _sample_link(finding: Finding, index: int) -> str:
    """A link to the finding's sample rows further down, when it has any."""
    if not finding.samples:
        return ""
    count = ngettext("%(num)s sample row", "%(num)s sample rows", len(finding.samples))
    return f' <a class="more" href="#sample-{index}">{e(count)} ↓</a>'


def _check_cell(check: str) -> str:
    """A check's readable title, with its name (what --json and the log say) under it."""
    return f'<span class="title">{e(check_title(check))}</span><br><code>{identifier(check)}</code>'


def _conflict_row(finding: Finding, index: int) -> str:
    """One rejection: check, registers, voucher code, vouchers held back, what it means."""
    scope = e(_(_SCOPES[finding.severity]))
    return (
        f"<tr><td>{_check_cell(finding.check)}</td><td>{_badges(finding.registers)}</td>"
        f'<td class="code">{e(finding.voucher_code or "—")}</td>'
        f'<td class="num strong">{format_number(held_back(finding))}</td>'
        f'<td>{e(finding_text(finding))}<br><span class="scope">{scope}</span>'
        f"{_sample_link(finding, index)}</td></tr>"
    )


def _html_conflicts(report: Report) -> str:
    """Conflicts and rejections, shown first."""
    index = {id(f): i for i, f in enumerate(report.findings)}
    rows = [_conflict_row(f, index[id(f)]) for f in rejections(report)]
    note = ""
    if report.all_or_nothing and report.has_rejections:
        note = (
            '<p class="note">' + e(_("--all-or-nothing is on: because something is rejected, nothing is imported."))
            + "</p>"
        )
    head = _head(_("Check"), _("Registers"), _("Voucher code"), "#" + _("Vouchers held back"), _("What it means"))
    return _section(
        _("Conflicts and rejections"),
        _("Held-back vouchers are not imported until they are fixed. Nothing is overwritten or dropped."),
        note,
        _table("conflicts", head, rows, _("No conflicts: nothing is held back."), 5),
    )


def _html_register_row(reg: RegisterSummary) -> str:
    """One register: name (and error), status badge, what was read, what an import would do."""
    plan = reg.plan
    status = reg.status if reg.status in STATUSES else "unknown"
    shown = i18n.word("status", reg.status)
    badge = f'<td><span class="badge {status}">{e(shown)}</span></td>'
    if reg.status == "error":
        error = e(i18n.shown(reg.error) if reg.error else _("could not be read"))
        return f'<tr><th scope="row">{e(reg.name)}</th>{badge}<td colspan="8" class="error">{error}</td></tr>'
    note = f'<div class="error">{e(i18n.shown(reg.error))}</div>' if reg.error else ""
    cells = [
        (reg.vouchers, ""),
        (reg.lines, ""),
        (reg.payments, ""),
        (plan.new, ""),
        (plan.unchanged, ""),
        (plan.changed_at_source, " attention"),
        (plan.missing_at_register, " attention"),
        (plan.held_back, " strong"),
    ]
    numbers = "".join(f'<td class="num{flag if n else ""}">{format_number(n)}</td>' for n, flag in cells)
    return f'<tr><th scope="row">{e(reg.name)}{note}</th>{badge}{numbers}</tr>'


def _html_registers(report: Report) -> str:
    """Per-register counts."""
    rows = [_html_register_row(r) for r in report.registers]
    lead = _("What each register (caja) sent for the day, and what an import would do with it.")
    return _section(
        _("Registers"), lead, _table("registers", _register_head(), rows, _("No registers were checked."), 10)
    )


def _html_warnings(report: Report) -> str:
    """Warnings grouped by check, with counts."""
    index = {id(f): i for i, f in enumerate(report.findings)}
    rows: list[str] = []
    for check, found in warnings_by_check(report).items():
        count = _counts(len(found), sum(f.rows for f in found))
        rows.append(
            f'<tr class="check"><th colspan="4">{_check_cell(check)} '
            f'<span class="count">{e(count)}</span></th></tr>'
        )
        rows.extend(
            f'<tr><td>{_badges(f.registers)}</td><td class="code">{e(f.voucher_code or "—")}</td>'
            f'<td class="num">{format_number(f.rows)}</td><td>{e(finding_text(f))}'
            f"{_sample_link(f, index[id(f)])}</td></tr>"
            for f in found
        )
    head = _head(_("Registers"), _("Voucher code"), "#" + _("Rows"), _("What it means"))
    lead = _("Reported only: warnings never hold data back and never change it.")
    return _section(_("Warnings"), lead, _table("warnings", head, rows, _("No warnings."), 4))


def _sample_table(samples: Sequence[Mapping[str, Any]]) -> str:
    """Sample rows as a table whose columns are the union of their keys."""
    keys = list(dict.fromkeys(k for s in samples for k in s))
    head = "".join(f"<th>{e(k)}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{e(problem_text(s[k]) if k == 'problem' else s[k]) if k in s else ''}</td>"
                         for k in keys) + "</tr>" for s in samples
    )
    table = f'<table class="samples"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f'<div class="scroll">{table}</div>'


def _details(anchor: str, badge: str, kind: str, title: str, samples: Sequence[Mapping[str, Any]]) -> str:
    """One collapsible block of sample rows."""
    ident = f' id="{anchor}"' if anchor else ""
    count = e(ngettext("%(num)s row", "%(num)s rows", len(samples)))
    return (
        f'<details{ident}><summary><span class="badge {badge}">{e(kind)}</span> {e(title)} '
        f'<span class="count">{count}</span></summary>{_sample_table(samples)}</details>'
    )


def _html_samples(report: Report) -> str:
    """Sample rows of every finding, rejections first, then vouchers no longer at a register."""
    ordered = sorted(enumerate(report.findings), key=lambda pair: not pair[1].is_rejection)
    blocks = [
        _details(
            f"sample-{i}",
            "rejected" if f.is_rejection else "warning",
            _("rejection") if f.is_rejection else _("warning"),
            finding_text(f),
            f.samples,
        )
        for i, f in ordered
        if f.samples
    ]
    if not blocks:
        return ""
    return _section(
        _("Sample rows"), _("A few of the rows behind each finding, as read from the register."), *blocks
    )


# ---------------------------------------------------------------- dispatch


def render(report: Report, fmt: str) -> str:
    """Render the report as "text", "json" (indent 2, UTF-8 kept, key order kept) or "html"."""
    if fmt == "text":
        return to_text(report)
    if fmt == "json":
        return json.dumps(to_json(report), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    if fmt == "html":
        return to_html(report)
    raise ValueError(f"unknown report format {fmt!r}; expected one of: {', '.join(FORMATS)}")
