"""Malformed mapping files (FAULTS 34): every mutation of a mapping's JSON either loads or fails with one
line naming the file and the JSON path (exit 2 at the CLI); never a stack trace.

A hypothesis fuzz mutates the built-in mappings (values of any JSON type at any path, deleted keys,
unknown keys, SQL-ish expressions, broken JSON text) and loads each through `load_mapping`, the
function every command uses; a few named cases go through the CLI end to end.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.errors import ConfigError
from etl.mapping import MAPPINGS_DIR, Mapping, load_mapping
from tests.faults.conftest import World

BASES = {name: json.loads((MAPPINGS_DIR / f"{name}.json").read_text(encoding="utf-8"))
         for name in ("canonical", "legacy_es")}

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
TOKENS = ["total", "subtotal", "fecha", "+", "-", "*", "/", "(", ")", "'", "''", ";", "SELECT", "FROM", "CASE",
          "WHEN", "THEN", "ELSE", "END", "CAST(", "AS", "DECIMAL(18,2)", "try_strptime(", ",", "'%Y%m%d'", "NULL",
          "1e308", "--", "/*", "*/", '"', "read_csv(", "::", "[", "]", "{", "}", "?", "$1", "\\", "ñ", "->", "x",
          "OVER", "sum(", "COLUMNS(", "EXCLUDE", "getenv(", "m.vouchers.total", "IN", "(SELECT 1)", "NOT", "0x1F",
          "INTERVAL", "DATE", "'2026-11-26'", "lambda", "|", "||", "%", "TRY_CAST(", "CURRENT_DATE", "\x00", "😀"]
EXPRESSIONS = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8).map(" ".join) | st.text(max_size=40)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON document (keys and list indexes), the root excluded."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((*prefix, i))
            out += _paths(value, (*prefix, i))
    return out


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        document = document[part]
    return document


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Any]:
    """A built-in mapping with 1-3 mutations; the document may end up any JSON value at all."""
    base = draw(st.sampled_from(sorted(BASES)))
    document: Any = copy.deepcopy(BASES[base])
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(document)
        kind = draw(st.sampled_from(["replace", "delete", "add", "expr", "column", "root"] if paths else ["root"]))
        if kind == "root":
            document = draw(JSON)
            continue
        path = draw(st.sampled_from(paths))
        parent = _parent(document, path)
        if kind == "replace":
            parent[path[-1]] = draw(JSON)
        elif kind == "delete":
            del parent[path[-1]]
        elif kind == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(JSON)
        elif kind in ("expr", "column") and isinstance(parent, dict):
            text = draw(EXPRESSIONS)
            parent[path[-1]] = {"expr": text} if kind == "expr" else text
    return base, document


def _assert_loads_or_one_line(path: Path) -> None:
    try:
        loaded = load_mapping(str(path))
    except ConfigError as err:
        message = str(err)
        assert "\n" not in message and "\r" not in message, message
        assert message.startswith(f"mapping {path.name}: "), message
        assert "$" in message or "not valid JSON" in message, message
        assert len(message) < 600, message
    else:
        assert isinstance(loaded, Mapping)
        assert {"vouchers", "voucher_lines", "payments"} <= set(loaded.tables)


@pytest.mark.fault(34)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated())
def test_every_mutation_of_a_mapping_loads_or_fails_with_one_line_naming_the_json_path(case: tuple[str, Any]) -> None:
    _, document = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.json"
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        _assert_loads_or_one_line(path)


@pytest.mark.fault(34)
@settings(max_examples=60, deadline=None)
@given(cut=st.integers(0, 4000), junk=st.binary(max_size=8))
def test_a_mapping_file_that_is_not_json_fails_with_one_line(cut: int, junk: bytes) -> None:
    text = (MAPPINGS_DIR / "legacy_es.json").read_bytes()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "broken.json"
        path.write_bytes(text[:cut] + junk)
        _assert_loads_or_one_line(path)


NAMED = [  # FAULTS 34's own examples, through the CLI: (mutation, the one line after "error: mapping bad.json: ")
    (lambda d: d["tables"]["vouchers"].__setitem__("columns", ["total"]),
     "$.tables.vouchers.columns: ['total'] is not of type 'object'."),
    (lambda d: d["tables"]["vouchers"]["columns"].__setitem__("total", 12),
     "$.tables.vouchers.columns.total: 12 is not valid under any of the given schemas."),
    (lambda d: d["tables"].__setitem__("ventas", {"source": "ventas", "columns": {"x": "x"}}),
     "$.tables: Additional properties are not allowed ('ventas' was unexpected)."),
    (lambda d: d["tables"].pop("payments"), "$.tables: 'payments' is a required property."),
    (lambda d: d["tables"]["vouchers"]["columns"].pop("total"),
     "$.tables.vouchers.columns.total: required column is not mapped; map it to a source column."),
    (lambda d: d["tables"]["vouchers"]["columns"].__setitem__("propina", "propina"),
     "$.tables.vouchers.columns.propina: vouchers has no column propina"),
]


@pytest.mark.fault(34)
@pytest.mark.parametrize(("mutate", "message"), NAMED, ids=["wrong-type", "wrong-value-type", "unknown-table",
                                                            "missing-table", "missing-column", "unknown-column"])
def test_the_cli_refuses_a_malformed_mapping_with_exit_2_and_one_line(
    world: World, tmp_path: Path, mutate: Any, message: str
) -> None:
    document = copy.deepcopy(BASES["canonical"])
    mutate(document)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    result = world.posync("remote", "add", "caja4", str(world.reg("caja1")), "--mapping", str(path))

    assert result.exit_code == 2
    assert result.output.startswith(f"error: mapping bad.json: {message}"), result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert world.posync.scalar("SELECT count(*) FROM remotes") == 3
