"""The docs keep their promises: every example runs and prints what its page shows, the generated parts are
current, every command and option is documented, and nothing points outside the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from docs import examples, gen

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PROSE = [p for p in sorted(DOCS.glob("*.md")) if p.name != "cli.md"]  # cli.md is --help, generated


@pytest.mark.parametrize("page", examples.pages(), ids=lambda p: p.name)
def test_every_example_prints_what_its_page_shows(page: Path) -> None:
    mismatches = examples.check_page(page)
    assert not mismatches, "\n\n".join(map(str, mismatches)) + "\n\n(`python -m docs.examples --update` rewrites them)"


def test_the_pages_have_examples_to_run() -> None:
    assert {p.name for p in examples.pages()} >= {"getting-started.md", "registers.md", "importing.md", "catalogs.md",
                                                  "loyalty-and-rules.md", "every-night.md", "monitoring.md"}


def test_the_generated_parts_are_current() -> None:
    assert gen.stale() == [], "run `make docs-cli` (python -m docs.gen) and commit the pages"


def test_every_command_and_option_is_documented_on_a_page() -> None:
    from etl.cli import cli

    pages = {p.name: p.read_text(encoding="utf-8") for p in PROSE}
    missing = [f"posync {o}" for param in cli.params for o in param.opts
               if o.startswith("--") and not any(o in text for text in pages.values())]
    for name, command in gen.commands():
        mentioning = [text for text in pages.values() if re.search(rf"`(posync )?{re.escape(name)}\b", text)]
        if not mentioning:
            missing.append(f"posync {name}")
            continue
        for param in command.params:
            if isinstance(param, click.Option):
                flags = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
                if flags and not any(f in text for f in flags for text in mentioning):
                    missing.append(f"posync {name} {flags[0]}")
    assert missing == [], "documented nowhere (say what it does on the page that describes the command)"


def test_every_column_of_the_schema_has_a_meaning_and_no_meaning_is_left_over() -> None:
    from etl.schema import TABLES

    columns = {f"{t.name}.{c}" for t in TABLES.values() for c in t.column_names}
    assert set(gen.MEANINGS) == columns


def test_the_canonical_mapping_reads_the_schema_as_is() -> None:
    import json

    from etl.schema import TABLES

    tables = json.loads((REPO / "etl" / "mappings" / "canonical.json").read_text(encoding="utf-8"))["tables"]
    assert {name: (t["source"], t["columns"]) for name, t in tables.items()} == {
        t.name: (t.name, {c: c for c in t.column_names}) for t in TABLES.values()}


def test_every_fault_row_is_on_the_guarantees_page_and_proved_by_a_test() -> None:
    page = (DOCS / "guarantees.md").read_text(encoding="utf-8")
    rows = {int(m.group(1)) for line in page.splitlines() if (m := gen.FAULT_ROW.match(line))}
    marked = set(gen.fault_tests())
    assert rows == marked
    assert rows == set(range(1, max(rows) + 1))


LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")


@pytest.mark.parametrize("document", [REPO / "README.md", REPO / "ARCHITECTURE.md", *sorted(DOCS.glob("*.md"))],
                         ids=lambda p: p.name)
def test_links_point_at_files_of_the_repository_and_nothing_outside_it(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    broken = [target for target, _ in LINK.findall(text)
              if "://" not in target and not target.startswith("mailto:")
              and not (document.parent / target).resolve().exists()]
    outside = [target for target, _ in LINK.findall(text) if "://" not in target
               and REPO not in (document.parent / target).resolve().parents]
    assert broken == [] and outside == []
    assert re.findall(r"\.\./shared|FAULTS\.md|SPEC\.md", text) == []


def test_the_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir",
                            str(tmp_path / "site")], cwd=REPO, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "site" / "guarantees" / "index.html").is_file()


@pytest.mark.parametrize("tool", ["bench", "sample_data"])
def test_tools_answer_help_without_doing_anything(tool: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", tool, "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.lower().startswith("usage:")
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert "posync benchmarks:" not in done.stdout


def test_bench_refuses_an_argument_it_does_not_know(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--scale", "2"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert done.returncode == 2
    assert "takes no arguments (got --scale 2)" in done.stderr and done.stdout == ""
