"""SQL templates: constant SQL text parsed once by sqlglot, whose placeholders are replaced by trees.

A placeholder is a name between double underscores: `__x__` as a column (an expression, or a list
of projections spliced into a SELECT) or `__t__` as a table (keeping the template's alias). Names,
values and expressions reach the SQL only as sqlglot nodes, never as text pasted into a string.

>>> tree = fill("SELECT __cols__, 1 AS n FROM __t__ AS s WHERE s.__k__ = __v__", dialect="sqlite",
...             cols=[exp.column("a"), exp.column("b")], t=exp.to_table("x"),
...             k=exp.to_identifier("key y", quoted=True), v=exp.Literal.string("it's"))
>>> tree.sql("sqlite")
'SELECT a, b, 1 AS n FROM x AS s WHERE s."key y" = \\'it\\'\\'s\\''
"""

from __future__ import annotations

import functools
from typing import Any

import sqlglot
from sqlglot import exp


@functools.cache
def _parsed(sql: str, dialect: str) -> exp.Expr:
    return sqlglot.parse_one(sql, read=dialect)


def _key(name: str) -> str | None:
    return name[2:-2] if len(name) > 4 and name.startswith("__") and name.endswith("__") else None


def fill(sql: str, dialect: str = "duckdb", **values: Any) -> exp.Expr:
    """The template with each placeholder replaced (expressions, identifiers, tables, or projection lists)."""
    tree = _parsed(sql, dialect).copy()
    for select in tree.find_all(exp.Select):  # splice projection lists first
        spliced: list[exp.Expr] = []
        for projection in select.expressions:
            key = _key(projection.name) if isinstance(projection, exp.Column) else None
            if key is not None and isinstance(values.get(key), list):
                spliced += [v.copy() for v in values[key]]
            else:
                spliced.append(projection)
        select.set("expressions", spliced)

    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and (key := _key(node.name)) in values:
            table: exp.Expr = values[key].copy()
            if node.args.get("alias") is not None:
                table.set("alias", node.args["alias"].copy())
            return table
        if isinstance(node, exp.Column) and (key := _key(node.name)) in values:
            value = values[key]
            if isinstance(value, exp.Identifier):  # a column name: keep the template's qualifier
                return exp.column(value.copy(), table=node.args.get("table"))
            copied: exp.Expr = value.copy()
            return copied
        return node

    return tree.transform(swap)
