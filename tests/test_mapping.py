"""Mapping files: JSON Schema, sqlglot-checked expressions, errors that name the file and JSON path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.errors import ConfigError
from etl.mapping import MAPPINGS_DIR, load_mapping
from etl.schema import TABLES


@pytest.mark.parametrize("name", ["canonical", "legacy_es"])
def test_builtin_mappings_load_and_cover_every_voucher_table(name: str) -> None:
    mapping = load_mapping(name)
    for table in ("vouchers", "voucher_lines", "payments"):
        assert set(mapping.tables[table].columns) == set(TABLES[table].column_names)


def test_canonical_reads_the_canonical_schema_unchanged() -> None:
    mapping = load_mapping("canonical")
    for name, tm in mapping.tables.items():
        assert tm.source == name
        assert all(tm.plain_column(c) == c for c in TABLES[name].column_names)


def _write(tmp_path: Path, document: object) -> str:
    path = tmp_path / "custom.json"
    path.write_text(json.dumps(document))
    return str(path)


def _canonical() -> dict:
    return json.loads((MAPPINGS_DIR / "canonical.json").read_text())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["tables"].pop("vouchers"), "custom.json: $.tables: 'vouchers' is a required property"),
        (lambda d: d["tables"]["vouchers"].update(source=7), "$.tables.vouchers.source: 7 is not of type 'string'"),
        (lambda d: d.update(extra=1), "Additional properties are not allowed ('extra' was unexpected)"),
        (lambda d: d["tables"]["vouchers"]["columns"].update(colour="x"), "$.tables.vouchers.columns.colour: "
                                                                           "vouchers has no column colour"),
        (lambda d: d["tables"]["vouchers"]["columns"].pop("total"), "$.tables.vouchers.columns.total: required column"),
    ],
)
def test_load_errors_name_the_file_and_json_path(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    document = _canonical()
    mutate(document)
    with pytest.raises(ConfigError) as err:
        load_mapping(_write(tmp_path, document))
    assert message in str(err.value)


@pytest.mark.parametrize(
    "expression",
    [
        "1; DROP TABLE vouchers",
        "x'; DROP TABLE vouchers; --",
        "(SELECT max(total) FROM vouchers)",
        "total IN (SELECT 1)",
        "sum(total)",
        "row_number() OVER ()",
        "read_csv('/etc/passwd')",
        "getenv('HOME')",
        "vouchers.total",
        "*",
        "",
    ],
)
def test_hostile_or_non_scalar_expressions_are_refused(tmp_path: Path, expression: str) -> None:
    document = _canonical()
    document["tables"]["vouchers"]["columns"]["total"] = {"expr": expression}
    with pytest.raises(ConfigError) as err:
        load_mapping(_write(tmp_path, document))
    assert "custom.json: $.tables.vouchers.columns.total" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_scalar_expression_is_accepted(tmp_path: Path) -> None:
    document = _canonical()
    document["tables"]["vouchers"]["columns"]["total"] = {"expr": "round(CAST(total AS DECIMAL(18,2)) * 1, 2)"}
    mapping = load_mapping(_write(tmp_path, document))
    assert mapping.tables["vouchers"].source_columns()["total"] == "total"


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _paths(document: object, prefix: tuple = ()) -> list[tuple]:  # type: ignore[type-arg]
    out = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            out += _paths(value, (*prefix, key))
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_mutation_loads_or_fails_with_one_line_naming_the_json_path(tmp_path: Path, data: st.DataObject) -> None:
    document = json.loads((MAPPINGS_DIR / "legacy_es.json").read_text())
    path = data.draw(st.sampled_from(_paths(document)[1:]))
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()):
        parent[path[-1]] = data.draw(_json)
    else:
        del parent[path[-1]]
    try:
        load_mapping(_write(tmp_path, document))
    except ConfigError as err:
        text = str(err)
        assert "\n" not in text and text.startswith("mapping custom.json: ")
        assert "$" in text or "no such mapping" in text
