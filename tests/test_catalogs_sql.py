"""The push SQL's pieces: literals escaped like sqlglot escapes them, statement shapes, targets from mappings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from etl.catalogs.plan import Target, refusals, target_for
from etl.catalogs.sql import DIALECTS, delete_shape, dialect_for, insert_shape, literal_sql, update_shape
from etl.errors import ConfigError
from etl.mapping import load_mapping

AWKWARD = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
con = duckdb.connect()


def _render(value: object, duck_type: str, dialect: str) -> str:
    row = con.execute(f"SELECT {literal_sql('x', duck_type, DIALECTS[dialect])} FROM (SELECT CAST(? AS {duck_type}) x)",
                      [value]).fetchone()
    assert row is not None
    return str(row[0])


@settings(max_examples=60, deadline=None)
@given(text=AWKWARD, dialect=st.sampled_from(sorted(DIALECTS)))
def test_text_literals_are_escaped_exactly_as_sqlglot_escapes_them(text: str, dialect: str) -> None:
    assert _render(text, "VARCHAR", dialect) == exp.Literal.string(text).sql(dialect)
    # and the dialect reads the literal back as the same text
    parsed = sqlglot.parse_one(f"SELECT {_render(text, 'VARCHAR', dialect)}", read=dialect)
    assert parsed.expressions[0].this == text


@pytest.mark.parametrize(
    ("value", "duck_type", "sqlite", "duckdb_"),
    [
        (None, "VARCHAR", "NULL", "NULL"),
        (True, "BOOLEAN", "1", "TRUE"),
        (False, "BOOLEAN", "0", "FALSE"),
        (None, "BOOLEAN", "NULL", "NULL"),
        (Decimal("-0.50"), "DECIMAL(18,2)", "-0.50", "-0.50"),
        (Decimal("0.0001"), "DECIMAL(6,4)", "0.0001", "0.0001"),
        (dt.datetime(2026, 11, 26, 23, 59, 59, 500000), "TIMESTAMP", "'2026-11-26 23:59:59.5'",
         "'2026-11-26 23:59:59.5'"),
        (dt.date(2026, 1, 2), "DATE", "'2026-01-02'", "'2026-01-02'"),
    ],
)
def test_literals_per_type_and_dialect(value: object, duck_type: str, sqlite: str, duckdb_: str) -> None:
    assert _render(value, duck_type, "sqlite") == sqlite
    assert _render(value, duck_type, "duckdb") == duckdb_


TARGET = Target("products", "productos", (("product_id", "codigo"), ("name", "select"), ("price", "precio")))


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_statement_shapes_quote_every_name(dialect: str) -> None:
    shapes = [insert_shape(TARGET), delete_shape(TARGET), update_shape(TARGET, ("name",))]
    texts = [s.sql(dialect, identify=True) for s in shapes]
    assert texts[0] == 'INSERT INTO "productos" ("codigo", "select", "precio") VALUES POSYNC_ROWS()'
    assert texts[1] == 'DELETE FROM "productos" WHERE "codigo" IN (POSYNC_ROWS())'
    assert texts[2] == ('WITH "v"("codigo", "select") AS (VALUES POSYNC_ROWS()) UPDATE "productos" '
                        'SET "select" = "v"."select" FROM "v" WHERE "productos"."codigo" = "v"."codigo"')


def test_targets_follow_the_mapping() -> None:
    legacy = target_for(load_mapping("legacy_es"), "products", "caja4")
    assert legacy.source == "productos" and legacy.columns[0] == ("product_id", "codigo")
    assert legacy.source_of("active") == "activo"


def test_an_engine_without_a_dialect_is_refused() -> None:
    with pytest.raises(ConfigError, match="register caja7: catalog push to a mssql register is not supported yet"):
        dialect_for("mssql", "caja7")


def test_refusal_names_the_counts() -> None:
    t = Target("products", "products", (("product_id", "product_id"),))
    from etl.catalogs.plan import PushPlan, TablePlan

    half = TablePlan(t, "state", "p", "o", 10, 10, 0, 0, 5)
    more = TablePlan(t, "state", "p", "o", 10, 10, 0, 0, 6)
    assert refusals(PushPlan("caja1", "partial", (half,))) == []
    assert refusals(PushPlan("caja1", "partial", (more,))) == ["would delete 6 of 10 products on caja1"]
