"""The layering and the test suite keep their promises: validators needs only etl.schema, no test skips
itself because one of posync's own modules fails to import (a broken import must fail, not skip), and no
SQL leans on a DuckDB window known to fail."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OWN = ("etl", "validators", "sample_data", "bench", "tests")


def _imports(source: Path) -> list[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"))
    return [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names] + \
        [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]


def test_validators_depends_on_nothing_of_etl_but_its_schema() -> None:
    reached = {f"{f.name}: {m}" for f in (REPO / "validators").glob("*.py") for m in _imports(f)
               if m.partition(".")[0] == "etl" and m != "etl.schema"}
    assert reached == set()


def test_no_test_importorskips_posyncs_own_modules() -> None:
    skipping = []
    for source in (REPO / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "importorskip" and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and str(node.args[0].value).partition(".")[0] in OWN):
                skipping.append(f"{source.relative_to(REPO)}:{node.lineno} {node.args[0].value}")
    assert skipping == []


def test_no_total_is_an_aggregate_over_an_empty_window() -> None:
    """`count(*) OVER ()` intermittently fails in DuckDB 1.5.5's parallel window and invalidates the database
    (duckdb/duckdb#25713): a total beside sample rows is a scalar subquery (see etl.catalogs.load.SAMPLES)."""
    import re

    window = re.compile(r"\b(count|sum|min|max|avg)\s*\([^()]*\)\s+OVER\s*\(\s*\)", re.IGNORECASE)
    found = [f"{f.relative_to(REPO)}:{text.count(chr(10), 0, m.start()) + 1}"
             for root in ("etl", "validators") for f in (REPO / root).rglob("*.py")
             for text in [f.read_text(encoding="utf-8")] for m in window.finditer(text)]
    assert found == []
