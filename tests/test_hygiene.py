"""The layering and the test suite keep their promises: validators needs only etl.schema, and no test skips
itself because one of posync's own modules fails to import (a broken import must fail, not skip)."""

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
