"""posync in Spanish: the catalogs are complete and compiled, the language is chosen as documented, the demo
speaks no English the catalog translates, --json does not change with the language, and the HTML report is
Spanish in a real browser."""

from __future__ import annotations

import ast
import gettext
import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from click.testing import CliRunner

from etl import i18n
from etl.cli import cli
from sample_data import SampleSpec, generate
from tests.conftest import DAY1, Posync, sqlite_exec
from tests.test_catalogs_support import make_register, product

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "etl" / "locale"
# as `make i18n` extracts (checked against the Makefile below)
KEYWORDS = ("-k", "N_", "-k", "NP_:1c,2", "-k", "Said", "-k", "Nn_:1,2")
SPANISH = {"POSYNC_LANG": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "es_CO.UTF-8"}
PLACEHOLDER = re.compile(r"%\(\w+\)[sr]")


def po(language: str) -> Any:
    with (LOCALES / language / "LC_MESSAGES" / "posync.po").open("rb") as f:
        return read_po(f)


def template(tmp_path: Path) -> Any:
    """The catalog template extracted from the sources now, exactly as `make i18n` does."""
    pot = tmp_path / "posync.pot"
    CommandLineInterface().run(["pybabel", "--quiet", "extract", "-F", str(ROOT / "babel.cfg"), "--no-location",
                                *KEYWORDS, "-o", str(pot), str(ROOT)])
    with pot.open("rb") as f:
        return read_po(f)


def test_the_makefile_extracts_with_the_keywords_this_test_uses() -> None:
    assert " ".join(KEYWORDS) in (ROOT / "Makefile").read_text()


def test_every_message_of_the_sources_has_a_spanish_translation_neither_missing_nor_fuzzy(tmp_path: Path) -> None:
    es = po("es")
    problems = []
    for message in template(tmp_path):
        if not message.id:
            continue
        found = es.get(message.id, context=message.context)
        strings = found.string if found is not None and isinstance(found.string, tuple) else \
            (found.string,) if found is not None else ()
        if found is None:
            problems.append(f"missing: {message.id!r}")
        elif found.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        elif not strings or not all(strings):
            problems.append(f"untranslated: {message.id!r}")
        else:
            english = message.id[-1] if isinstance(message.id, tuple) else message.id
            wanted = set(PLACEHOLDER.findall(english)) - {"%(num)s"}
            problems += [f"placeholders differ: {message.id!r} → {s!r}" for s in strings
                         if not wanted <= set(PLACEHOLDER.findall(s))
                         or set(PLACEHOLDER.findall(s)) - set(PLACEHOLDER.findall(english))]
    assert not problems, "run `make i18n` and translate etl/locale/es/LC_MESSAGES/posync.po:\n" + "\n".join(problems)
    assert not es.fuzzy, "the Spanish catalog's header is marked fuzzy"


def test_no_message_is_marked_inside_an_f_string_where_extraction_cannot_see_it() -> None:
    """pybabel reads an f-string as one token: a `_("…")` inside one never reaches the catalog (nor this test)."""
    import tokenize

    call = re.compile(r"(?<![\w.])(_|ngettext|N_|Nn_|NP_|Said)\(")
    found = []
    for path in sorted([*(ROOT / "etl").rglob("*.py"), *(ROOT / "validators").rglob("*.py")]):
        with path.open("rb") as f:
            for token in tokenize.tokenize(f.readline):
                prefix = re.match(r"[A-Za-z]*", token.string)
                if token.type == tokenize.STRING and prefix and "f" in prefix.group().lower() \
                        and call.search(token.string):
                    found.append(f"{path.relative_to(ROOT)}:{token.start[0]}: {token.string[:70]}")
    assert not found, "mark these outside the f-string:\n" + "\n".join(found)


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_shipped_mo_is_compiled_from_the_po_as_it_is_now(language: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, po(language))
    compiled.seek(0)
    fresh = gettext.GNUTranslations(compiled)
    with (LOCALES / language / "LC_MESSAGES" / "posync.mo").open("rb") as f:
        shipped = gettext.GNUTranslations(f)
    assert shipped._catalog == fresh._catalog, "run `make i18n`: the .mo is older than the .po"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("option", "environ", "expected"), [
    ("es", {"POSYNC_LANG": "en", "LANG": "en_US.UTF-8"}, "es"),  # --lang first
    ("en", {"LANG": "es_CO.UTF-8"}, "en"),
    (None, {"POSYNC_LANG": "es", "LANG": "en_US.UTF-8"}, "es"),  # then POSYNC_LANG
    (None, {"LANG": "es_CO.UTF-8"}, "es"),  # then the locale
    (None, {"LC_ALL": "es_ES.UTF-8", "LANG": "en_US.UTF-8"}, "es"),  # LC_ALL before LANG
    (None, {"LC_ALL": "C", "LANG": "es_CO.UTF-8"}, "en"),  # cron's C locale: English
    (None, {"LANG": "POSIX"}, "en"),
    (None, {"LANG": "fr_FR.UTF-8"}, "en"),  # a language posync does not speak
    (None, {}, "en"),
])
def test_the_language_is_chosen_from_the_option_then_posync_lang_then_the_locale(
        option: str | None, environ: dict[str, str], expected: str) -> None:
    assert i18n.set_language(option, environ) == expected


def test_numbers_and_dates_are_written_as_the_reader_writes_them() -> None:
    import datetime as dt
    import decimal

    i18n.set_language("es", {})
    assert i18n.format_number(1234567) == "1.234.567"
    assert i18n.format_number(3050) == "3.050"
    assert i18n.format_amount(decimal.Decimal("1234567.89")) == "1.234.567,89"
    assert i18n.format_date(dt.date(2026, 11, 27)) == "viernes, 27 de noviembre de 2026"
    i18n.set_language("en", {})
    assert (i18n.format_number(3050), i18n.format_date(dt.date(2026, 11, 27))) == ("3,050", "Friday 27 November 2026")


def test_help_speaks_the_language_asked_for_and_english_stays_as_it_was() -> None:
    runner = CliRunner()
    spanish = runner.invoke(cli, ["--lang", "es", "import", "--help"])
    assert spanish.exit_code == 0
    text = " ".join(spanish.output.split())  # as wrapped for the terminal
    assert "Importar los comprobantes de una fecha" in text
    assert "Actualizar los comprobantes que ya están en la central (sobrescribiendo)." in text
    assert text.startswith("Uso: cli import") and "Opciones:" in text and "Mostrar este mensaje y salir." in text
    assert "[por defecto: register]" in text  # --hold's default, in click's brackets
    by_locale = runner.invoke(cli, ["validate", "--help"], env=SPANISH)
    assert "Hacer todas las verificaciones de una importación" in by_locale.output
    english = runner.invoke(cli, ["--lang", "en", "import", "--help"])
    assert "Import the vouchers of a date (or a range)" in english.output
    assert "Importar" not in english.output


def test_an_error_is_said_in_spanish_with_the_same_exit_code(posync: Posync) -> None:
    result = posync("--lang", "es", "validate", "--date", "2999-01-01")
    assert result.exit_code == 2
    assert "es posterior a hoy" in result.output
    english = posync("validate", "--date", "2999-01-01")
    assert english.exit_code == 2 and "is after today" in english.output
    posync("remote", "add", "caja1", str(posync.db.parent / "caja1.db"), "--no-check")
    unknown = posync("--lang", "es", "remote", "open", "caja9")  # raised deep in the library, said at the top
    assert unknown.exit_code == 2
    assert unknown.output == "error: no hay ninguna caja llamada caja9. Registradas: caja1.\n"
    assert posync("remote", "open", "caja9").output == "error: no register named caja9. Registered: caja1.\n"


# ---------------------------------------------------------------- --json does not change with the language

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d)?")
BATCH = re.compile(r"b-[0-9a-f]{12}")


def _volatile(text: str) -> str:
    """What differs between two runs whatever the language: when they ran, and the batch ids they made.

    Everything else must be byte for byte the same: a translated word anywhere would show.
    """
    return BATCH.sub("b-…", TIMESTAMP.sub("…", text))


@pytest.fixture
def two_worlds(tmp_path: Path) -> tuple[Posync, Posync]:
    """Two identical main stores, each with caja1..caja3 (caja2 also issues FV1: a rejection to report)."""
    worlds = []
    for name in ("es", "en"):
        folder = tmp_path / name
        paths = generate(folder / "registers", SampleSpec(registers=3, vouchers_per_day=20,
                                                          faults=frozenset({"code_conflict"})))
        posync = Posync(folder / "main.duckdb")
        for path in paths:
            assert posync("remote", "add", path.stem, str(path)).exit_code == 0
        worlds.append(posync)
    return worlds[0], worlds[1]


@pytest.mark.parametrize("command", [
    ("validate", "--date", DAY1, "--format", "json"),
    ("import", "--date", DAY1, "--json"),
    ("status", "--json"),
    ("codes", "list", "--json"),
    ("batches", "list", "--json"),
    ("remote", "list", "--json"),
    ("log", "--json"),
], ids=lambda c: c[0] if c[0] not in ("codes", "batches", "remote") else "-".join(c[:2]))
def test_json_output_is_the_same_in_spanish_and_english(two_worlds: tuple[Posync, Posync],
                                                         command: tuple[str, ...]) -> None:
    es, en = two_worlds
    for world in two_worlds:  # something in main to list
        world("import", "--date", DAY1, "--hold", "code")
    spanish, english = es("--lang", "es", *command), en("--lang", "en", *command)
    assert spanish.exit_code == english.exit_code
    assert spanish.stdout.startswith(("{", "["))
    here = (es.db.parent, en.db.parent)  # each world's own folder, named in paths
    assert _volatile(spanish.stdout.replace(str(here[0]), "…")) == _volatile(english.stdout.replace(str(here[1]), "…"))


# ---------------------------------------------------------------- the demo in Spanish

SQL_LINE = re.compile(r"^(-- |\.bail |BEGIN|COMMIT|INSERT |UPDATE |DELETE |WITH |\(')")
COMMAND = re.compile(r"`[^`]*`|--[a-z][a-z-]*( (code|register|partial|replace|total))?")


def _fragments(english: str) -> list[str]:
    """The literal pieces of a msgid between its placeholders that are worth looking for: two words or more."""
    pieces = (p.strip(" :;,.(") for p in PLACEHOLDER.split(COMMAND.sub(" ", english)))
    return [p for p in pieces if len(re.findall(r"[A-Za-z]{2,}", p)) >= 2]


def _english_left(output: str, stored: set[str]) -> list[str]:
    """Every English text of the catalog (whose Spanish differs) still found in Spanish output."""
    catalog = [m for m in po("es") if m.id]
    lines = [line for line in output.splitlines() if not line.startswith("$ posync") and not SQL_LINE.match(line)]
    for message in stored:  # the log's stored messages are data, shown as stored (English)
        lines = [line.replace(message, "") for line in lines]
    text = COMMAND.sub(" ", "\n".join(lines))
    found = []
    for m in catalog:
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        for english in ids:
            if english in strings:
                continue
            found += [f"{piece!r} (from {english!r})" for piece in _fragments(english)
                      if not any(piece in spanish for spanish in strings)  # a name both say ("posync watch")
                      and re.search(rf"(?<![\w-]){re.escape(piece)}(?![\w-])", text)]
    headers = [line for line, rule in zip(lines, lines[1:], strict=False) if re.fullmatch(r"[- ]+", rule or "x")]
    words = {m.id: m.string for m in catalog if isinstance(m.id, str) and " " not in m.id and m.id != m.string}
    found += [f"header {cell!r} in {line!r}" for line in headers for cell in re.split(r"\s{2,}", line.strip())
              if cell in words]
    return sorted(set(found))


@pytest.fixture(scope="module")
def spanish_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("demo-es") / "demo"
    result = CliRunner().invoke(cli, ["demo", "--dir", str(folder)], env=SPANISH, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    yield result.output, folder
    i18n.set_language("en")


def test_the_demo_in_spanish_leaves_no_english_text_the_catalog_translates(spanish_demo: tuple[str, Path]) -> None:
    output, folder = spanish_demo
    with duckdb.connect(str(folder / "posync.duckdb"), read_only=True) as con:
        stored = {row[0] for row in con.execute("SELECT DISTINCT message FROM sync_log WHERE message <> ''").fetchall()}
    assert "demostración de posync" in output and "Código de comprobante usado en dos cajas" in output
    assert "3.050" in output  # a customer's points, as Colombia writes them
    assert "informe de validación de posync del miércoles, 25 de noviembre de 2026" in output
    left = _english_left(output, stored)
    assert not left, "English left in the Spanish demo:\n" + "\n".join(left)


def test_the_check_catches_an_english_sentence_left_in_spanish_output() -> None:
    """The demo check itself: it finds a translated msgid left in English, and accepts its Spanish."""
    english = "no registers yet; add one with `posync remote add NAME PATH`."
    assert _english_left(f"hola\n{english}\n", set())
    assert not _english_left("aún no hay cajas; agregue una con `posync remote add NOMBRE RUTA`.\n", set())
    assert _english_left("caja  estado\n----  ------\n", set()) == []
    assert _english_left("register  estado\n--------  ------\n", set())


# ---------------------------------------------------------------- the HTML report in a real browser


@pytest.fixture
def spanish_browser() -> Iterator[Any]:
    from tests.console.test_browser import chromium

    with chromium("es-CO") as browser:
        yield browser


def test_the_html_report_in_spanish_shows_spanish_check_titles_in_a_real_browser(
        spanish_browser: Any, two_worlds: tuple[Posync, Posync], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    es, en = two_worlds
    report = tmp_path / "informe.html"
    assert es("--lang", "es", "validate", "--date", DAY1, "--output", str(report)).exit_code == 3
    spanish_browser.get(report.as_uri())
    html = spanish_browser.find_element(By.TAG_NAME, "html")
    assert html.get_attribute("lang") == "es"
    conflicts = spanish_browser.find_element(By.ID, "conflicts").text
    assert "Código de comprobante usado en dos cajas" in conflicts
    assert "VERIFICACIÓN" in conflicts.upper() and "QUÉ SIGNIFICA" in conflicts.upper()  # CSS upper-cases headers
    page = spanish_browser.find_element(By.TAG_NAME, "body").text
    assert "Informe de validación" in page and "Qué hacer ahora".upper() in page.upper()
    assert "configuración del POS" in page  # what to change at the register
    assert "Voucher code used by two registers" not in page

    english = tmp_path / "report.html"
    assert en("validate", "--date", DAY1, "--output", str(english)).exit_code == 3
    spanish_browser.get(english.as_uri())
    assert spanish_browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert "Voucher code used by two registers" in spanish_browser.find_element(By.ID, "conflicts").text


# ---------------------------------------------------------------- findings and library errors in Spanish


def _spanish_of(english: str) -> str:
    """The Spanish of an English sentence posync said, from the catalog: the msgid that says the most of it,
    its values carried over into the msgstr (the singular or plural form the English used)."""
    best: tuple[int, str] | None = None
    for m in po("es"):
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        for form, msgid in enumerate(ids):
            if not msgid or "%(" not in msgid or msgid in strings:
                continue
            seen: set[str] = set()
            pattern = ""
            for piece in re.split(r"(%\(\w+\)s)", msgid):
                name = piece[2:-2] if PLACEHOLDER.fullmatch(piece) else None
                pattern += re.escape(piece) if name is None else f"(?P={name})" if name in seen else f"(?P<{name}>.+?)"
                seen |= {name} if name else set()
            found = re.fullmatch(pattern, english)
            literal = len(PLACEHOLDER.sub("", msgid))
            if found and (best is None or literal > best[0]):
                best = (literal, strings[min(form, len(strings) - 1)] % found.groupdict())
    assert best is not None, f"no msgid in the catalog says {english!r}"
    return best[1]


def test_findings_of_a_numbering_gap_and_a_bad_value_are_said_in_spanish(
        posync: Posync, make_registers: Any) -> None:
    paths = make_registers(registers=3, vouchers_per_day=20, faults=frozenset({"bad_types"}))
    for path in paths:
        assert posync("remote", "add", path.stem, str(path)).exit_code == 0
    sqlite_exec(paths[0], *[f"DELETE FROM {t} WHERE voucher_code = 'FV1' AND number BETWEEN 1004 AND 1006"
                            for t in ("voucher_lines", "payments", "vouchers")])
    english = posync("validate", "--date", DAY1, "--format", "json")
    findings = json.loads(english.stdout)["findings"]
    said = {f["check"]: f["message"] for f in findings if f["check"] in ("numbering_gap", "bad_values")}
    assert set(said) == {"numbering_gap", "bad_values"}, findings
    spanish = posync("--lang", "es", "validate", "--date", DAY1)
    assert spanish.exit_code == english.exit_code
    reason = po("es").get("is not a number", context="bad value").string  # the sample's reason, said too
    for check, message in said.items():
        expected = _spanish_of(message).replace(" is not a number", f" {reason}")
        assert expected != message and expected in spanish.output, (check, expected, spanish.output)
        assert message not in spanish.output
    assert "a FV1 le faltan 1004–1006" in spanish.output  # the catalog's words, read by a person once
    assert "total: '1.234,56' no es un número" in spanish.output and "is not a number" not in spanish.output
    again = posync("--lang", "es", "validate", "--date", DAY1, "--format", "json")
    assert [f["message"] for f in json.loads(again.stdout)["findings"]] == \
        [f["message"] for f in findings]  # --json stays English


def test_a_push_refused_by_the_delete_guard_is_said_in_spanish_english_in_json_and_the_log(
        posync: Posync, tmp_path: Path) -> None:
    path = make_register(tmp_path / "caja1.db", rows={"products": [product(f"P{i}") for i in range(4)]})
    assert posync("remote", "add", "caja1", str(path)).exit_code == 0
    (tmp_path / "products.csv").write_text("product_id,name\nP1,x\n", encoding="utf-8")
    assert posync("catalogs", "load", "products", str(tmp_path / "products.csv")).exit_code == 0
    english_text = ("would delete 3 of 4 products on caja1: refused; check main's catalog, or rerun with --force if "
                    "that is intended (the rows are backed up first).")
    refusal = po("es").get("would delete %(n)s of %(total)s %(table)s on %(register)s").string
    sentence = po("es").get("%(refusals)s: refused; check main's catalog, or rerun with --force if that is intended "
                            "(the rows are backed up first).").string
    spanish_text = sentence % {"refusals": refusal % {"n": "3", "total": "4", "table": "products",
                                                      "register": "caja1"}}

    spanish = posync("--lang", "es", "catalogs", "push", "--mode", "replace")
    english = posync("--lang", "en", "catalogs", "push", "--mode", "replace")
    as_json = posync("--lang", "es", "catalogs", "push", "--mode", "replace", "--json")

    assert spanish.exit_code == english.exit_code == as_json.exit_code == 2
    assert f"  caja1: {spanish_text}\n" in spanish.stdout and "would delete" not in spanish.stdout
    assert f"  caja1: {english_text}\n" in english.stdout
    assert english_text in as_json.stdout and spanish_text not in as_json.stdout
    logged = posync.rows("SELECT message FROM sync_log WHERE action = 'push' ORDER BY logged_at")
    assert logged == [(english_text,)] * 3


# ---------------------------------------------------------------- every error people meet is said in their language

SAYING = {"Said", "_", "ngettext"}  # what makes an error's sentence translatable where it is shown
MESSAGE_AT = {"BadOptionUsage": 1, "NoSuchOption": 1}  # click errors whose message is not their first argument
# Errors raised with English text on purpose, each for a reason: nobody using posync reads them. Keyed by file and
# message (placeholders as {}), so a new English raise in the same file is not let through.
INTERNAL = {
    ("etl/casts.py", "no cast rule to {}"): "a type the code itself never asks for: a programming error",
    ("etl/render.py", "not JSON serialisable: {}"): "json.dumps' default: a value posync never puts in a document",
    ("etl/report.py", "unknown report format {}; expected one of: {}"):
        "render(): the CLI and the console pass only FORMATS (click.Choice, the suffix table)",
    ("etl/paths.py", "path {} escapes {}"):
        "confined() is a guard: ids and file names are checked, and said, before they reach it",
    ("etl/faults.py", "injected failure at stage {} (POSYNC_FAIL_AT)."): "a failure the fault tests inject",
    ("etl/faults.py", "injected crash at stage {} (POSYNC_CRASH_AT)"): "a crash the fault tests inject",
}


def _is_text(node: ast.AST | None) -> bool:
    """A sentence written in English right there: a literal, an f-string, or one built from them."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return _is_text(node.left) or _is_text(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join"):
        return _is_text(node.func.value) or any(_is_text(a) for a in node.args)
    if isinstance(node, ast.IfExp):
        return _is_text(node.body) or _is_text(node.orelse)
    return False


def _shape(node: ast.AST) -> str:
    """A message's literal text, each placeholder as {}: what INTERNAL is keyed by."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_shape(v) if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp):
        return _shape(node.left) + _shape(node.right)
    return "{}"


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _error_classes(trees: list[ast.Module]) -> set[str]:
    """Names of exception classes: *Error and *Exception, and every class posync derives from one of them."""
    classes = {c for t in trees for c in ast.walk(t) if isinstance(c, ast.ClassDef)}
    names: set[str] = set()
    while True:
        more = {c.name for c in classes if c.name not in names and any(
            _name(b).endswith(("Error", "Exception")) or _name(b) in names for b in c.bases)}
        if not more:
            return names
        names |= more


def english_errors(sources: dict[str, str]) -> list[str]:
    """Every error made with an English sentence not said through the catalog (file:line: the sentence), and every
    Said/_/ngettext whose template extraction cannot see (not a literal)."""
    trees = {path: ast.parse(text) for path, text in sources.items()}
    errors = _error_classes(list(trees.values()))
    found = []
    for path, tree in trees.items():
        texts: dict[str, list[ast.expr]] = {}  # name → the values assigned to it (one function or module: enough)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(target, ast.Name):
                        texts.setdefault(target.id, []).append(node.value)
        raised = {id(n.exc) for n in ast.walk(tree) if isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            if name in SAYING and node.args:
                template = node.args[0]
                seen = (isinstance(template, ast.Constant) and isinstance(template.value, str)) or (
                    name == "Said" and isinstance(template, ast.Call) and _name(template.func) == "Nn_"
                    and all(isinstance(a, ast.Constant) for a in template.args)) or (
                    isinstance(template, ast.Attribute) and template.attr == "template")  # the same Said, re-said
                if not seen and _is_text(template):
                    found.append(f"{path}:{node.lineno}: {name}() of a built string: {ast.unparse(template)[:80]}")
            if id(node) not in raised and name not in errors and not name.endswith(("Error", "Exception")):
                continue
            at = MESSAGE_AT.get(name, 0)
            message = node.args[at] if len(node.args) > at else next(
                (k.value for k in node.keywords if k.arg == "message"), None)
            if isinstance(message, ast.Name):
                message = next((v for v in texts.get(message.id, []) if _is_text(v)), message)
            if message is None or not _is_text(message) or (path, _shape(message)) in INTERNAL:
                continue
            found.append(f"{path}:{node.lineno}: {name}({ast.unparse(message)[:80]})")
    return found


def test_every_error_people_meet_is_said_through_the_catalog() -> None:
    """An error raised with an English f-string reaches a Spanish reader in English: each must be a Said (English
    in str(), the log and --json; translated where shown), a _() or an ngettext(), or be listed in INTERNAL."""
    sources = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8")
               for p in sorted([*(ROOT / "etl").rglob("*.py"), *(ROOT / "validators").rglob("*.py")])}
    found = english_errors(sources)
    assert not found, "say these with Said(…), _(…) or ngettext(…), or list them in INTERNAL with why:\n" + \
        "\n".join(found)
    left = {key for key in INTERNAL if not any(
        isinstance(n, ast.Call) and n.args and _is_text(n.args[0]) and _shape(n.args[0]) == key[1]
        for n in ast.walk(ast.parse(sources[key[0]])))}
    assert not left, f"INTERNAL lists errors that are gone: {sorted(left)}"


def test_the_error_check_catches_each_way_of_raising_english() -> None:
    """The check above, fed the ways an English error can be written, finds each one and lets the said ones go."""
    english = '''
class LocalError(ConfigError):
    pass

def f(x, err):
    raise ConfigError(f"--from {x} is after --to")
    raise PosyncError("no registers to sync")
    raise StoreLocked("another run holds " + x)
    raise LocalError("a class of this module")
    raise click.BadOptionUsage("sql_dir", "--sql-dir goes with --dry-run")
    raise ConfigError("one {}".format(x))
    raise ConfigError("a" if x else f"b {x}")
    message = f"mapping {x} has no table"
    raise ConfigError(message)
    return TransientError(f"built here, raised elsewhere {x}")
    raise ConfigError(Said(f"extraction can't see {x}"))
    raise ConfigError(_("%(x)s is " + x))
'''
    said = '''
def f(x, err):
    raise ConfigError(Said("--from %(x)s is after --to", x=x))
    raise ConfigError(_("no registers to sync"))
    raise ConfigError(ngettext("%(num)s row", "%(num)s rows", x))
    raise ConfigError(Said(Nn_("%(num)s row", "%(num)s rows"), num=x))
    raise ConfigError(said_of(err))
    raise click.BadOptionUsage("sql_dir", _("--sql-dir goes with --dry-run"))
    raise ConfigError(Said(said.template, **said.params))
    raise ValueError(f"no cast rule to {x}")
'''
    found = english_errors({"etl/x.py": english})
    assert sorted(int(f.split(":")[1]) for f in found) == [6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17], "\n".join(found)
    assert english_errors({"etl/x.py": said}) == ["etl/x.py:10: ValueError(f'no cast rule to {x}')"]
    assert english_errors({"etl/casts.py": said}) == []  # allowed where INTERNAL says, only there


def test_refusals_raised_deep_in_the_library_are_said_in_spanish_by_the_cli(
        posync: Posync, make_registers: Any) -> None:
    """The catch-up range, a code refusal (a plural said of a count) and the log's unknown register: Spanish with
    --lang es, English as it was with --lang en, the same exit code."""
    paths = make_registers(registers=2, vouchers_per_day=20)
    for path in paths:
        assert posync("remote", "add", path.stem, str(path)).exit_code == 0
    assert posync("import", "--date", DAY1).exit_code == 0
    owner = posync.scalar("SELECT register FROM voucher_code_owners ORDER BY voucher_code LIMIT 1")
    code = posync.scalar("SELECT voucher_code FROM voucher_code_owners ORDER BY voucher_code LIMIT 1")
    held = posync.scalar("SELECT count(*) FROM vouchers WHERE voucher_code = ?", [code])
    assert 1 < held < 1000  # a plural, written the same in both languages
    names = sorted(p.stem for p in paths)
    other = next(name for name in names if name != owner)
    cases = [
        (("import", "--from", "2026-11-10", "--to", "2026-11-01"),
         "error: --from 2026-11-10 is after --to 2026-11-01; give the earlier date first.\n",
         "error: --from 2026-11-10 es posterior a --to 2026-11-01; indique primero la fecha más temprana.\n"),
        (("codes", "assign", code, other, "--reason", "caja nueva"),
         f"error: {code} would be shared: main holds {held} vouchers of {code} from {owner}, which is still a "
         f"register. If {other} replaces {owner}, rename it instead (`posync remote rename {owner} {other}`), or "
         f"remove {owner} first (`posync remote remove {owner}`); nothing was changed.\n",
         f"error: {code} quedaría compartido: la central tiene {held} comprobantes de {code} de {owner}, que sigue "
         f"siendo una caja. Si {other} reemplaza a {owner}, mejor renómbrela (`posync remote rename {owner} "
         f"{other}`), o quite primero {owner} (`posync remote remove {owner}`); no se cambió nada.\n"),
        (("log", "--remote", "caja9"),
         f"error: no register named caja9 has ever been in this store; registers: {', '.join(names)}.\n",
         f"error: nunca ha habido en esta base una caja llamada caja9; cajas: {', '.join(names)}.\n"),
    ]
    for args, english, spanish in cases:
        in_spanish, in_english = posync("--lang", "es", *args), posync("--lang", "en", *args)
        assert in_spanish.exit_code == in_english.exit_code == 2, (args, in_spanish.output)
        assert in_spanish.output == spanish, args
        assert in_english.output == english, args


def test_the_real_posync_says_a_range_error_in_the_language_asked_for(tmp_path: Path) -> None:
    """The installed console script, in its own process: the language comes from --lang, then the locale."""
    exe = shutil.which("posync", path=str(Path(sys.executable).parent))
    assert exe is not None
    db = str(tmp_path / "main.duckdb")
    env = {k: v for k, v in os.environ.items() if k not in ("POSYNC_LANG", "LC_ALL", "LC_MESSAGES")}

    def run(*args: str, lang: str = "C.UTF-8") -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, "--db", db, *args], capture_output=True, text=True, timeout=120,
                              env={**env, "LANG": lang})

    assert run("remote", "add", "caja1", str(tmp_path / "caja1.db"), "--no-check").returncode == 0
    spanish = run("--lang", "es", "import", "--from", "2026-11-10", "--to", "2026-11-01")
    by_locale = run("import", "--from", "2026-11-10", "--to", "2026-11-01", lang="es_CO.UTF-8")
    english = run("--lang", "en", "import", "--from", "2026-11-10", "--to", "2026-11-01", lang="es_CO.UTF-8")
    assert spanish.returncode == by_locale.returncode == english.returncode == 2
    assert spanish.stderr == by_locale.stderr == \
        "error: --from 2026-11-10 es posterior a --to 2026-11-01; indique primero la fecha más temprana.\n"
    assert english.stderr == "error: --from 2026-11-10 is after --to 2026-11-01; give the earlier date first.\n"
