"""Load a register mapping (etl/mappings/*.json): JSON Schema first, then every expression through sqlglot.

A mapping says, for each canonical table, which source table to read and, for each canonical
column, a source column, a single scalar SQL expression over that table's columns, or null.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import TokenType

from etl.errors import ConfigError
from etl.i18n import Said
from etl.schema import TABLES

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"  # package data: inside the installed package
SCHEMA_PATH = MAPPINGS_DIR / "mapping.schema.json"

# Nodes that make an expression more than one scalar value per source row.
_FORBIDDEN = (exp.Query, exp.Subquery, exp.Table, exp.Star, exp.AggFunc, exp.Window, exp.DDL, exp.DML,
              exp.Command, exp.Placeholder, exp.Parameter, exp.Lambda)
# Table functions and functions that reach outside the row.
_FORBIDDEN_FUNCTIONS = ("read_", "query", "getenv", "glob", "current_setting", "sql_", "parquet_", "delta_")


@dataclass(frozen=True)
class TableMapping:
    """How one canonical table is read from one source table."""

    canonical: str
    source: str
    columns: dict[str, exp.Expr | None]  # canonical column -> expression over source columns

    def source_columns(self) -> dict[str, str]:
        """Each source column the mapping reads -> the canonical column that needs it."""
        needed: dict[str, str] = {}
        for canonical, expression in self.columns.items():
            for column in expression.find_all(exp.Column) if expression else ():
                needed.setdefault(column.name, canonical)
        return needed

    def plain_column(self, canonical: str) -> str | None:
        """The source column a canonical column is a plain copy of, else None (an expression)."""
        expression = self.columns.get(canonical)
        return expression.name if isinstance(expression, exp.Column) else None


@dataclass(frozen=True)
class Mapping:
    name: str
    path: Path
    tables: dict[str, TableMapping]
    digest: str  # sha256 of the file: part of an import's snapshot identity (FAULTS 44)

    @property
    def file(self) -> str:
        return self.path.name

    def json_path(self, table: str, column: str | None = None) -> str:
        """JSON path of a table or column in the mapping file, for error messages.

        >>> load_mapping("canonical").json_path("vouchers", "total")
        '$.tables.vouchers.columns.total'
        """
        return f"$.tables.{table}" + (f".columns.{column}" if column else "")


def mapping_path(name_or_path: str) -> Path:
    """A built-in mapping name (canonical, legacy_es) or a path to a JSON file."""
    if name_or_path.endswith(".json") or "/" in name_or_path or "\\" in name_or_path:
        return Path(name_or_path).resolve()
    return MAPPINGS_DIR / f"{name_or_path}.json"


def builtin_mappings() -> list[str]:
    return sorted(p.stem for p in MAPPINGS_DIR.glob("*.json") if p != SCHEMA_PATH)


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _json_path(parts: Any) -> str:
    """$.a.b[0] from a jsonschema error's absolute_path.

    >>> _json_path(["tables", "vouchers", "columns", 0])
    '$.tables.vouchers.columns[0]'
    """
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _printable(text: str) -> str:
    r"""Control characters escaped, so an error quoting a hostile key or value stays one line.

    >>> _printable("columns.\r\nx: bad")
    'columns.\\r\\nx: bad'
    """
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], text)


def load_mapping(name_or_path: str) -> Mapping:
    """Read, validate and parse a mapping; ConfigError naming the file and JSON path on any fault."""
    try:
        return _load_mapping(name_or_path)
    except ConfigError as err:
        said = err.args[0] if len(err.args) == 1 and isinstance(err.args[0], Said) else None
        if said is not None:  # the same sentence, said in the reader's language, its values printable
            raise ConfigError(Said(said.template, sep=said.sep, **{k: _printable(v) if isinstance(v, str) else v
                                                                     for k, v in said.params.items()})) from None
        raise ConfigError(_printable(str(err))) from None


def _load_mapping(name_or_path: str) -> Mapping:
    path = mapping_path(name_or_path)
    if not path.is_file():
        known = ", ".join(builtin_mappings())
        raise ConfigError(Said("mapping %(name)s: no such mapping file (%(path)s); built-in mappings: %(known)s.",
                               name=name_or_path, path=str(path), known=known))
    raw = path.read_bytes()
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(Said("mapping %(name)s: not valid JSON (%(why)s); fix the file.", name=path.name,
                               why=str(err))) from None
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        message = first.message if len(first.message) < 200 else first.message[:200] + "…"
        raise ConfigError(Said("mapping %(name)s: %(where)s: %(why)s.", name=path.name,
                               where=_json_path(first.absolute_path), why=message))
    tables = {
        canonical: _table_mapping(path.name, canonical, spec) for canonical, spec in document["tables"].items()
    }
    return Mapping(document["name"], path, tables, hashlib.sha256(raw).hexdigest())


def _table_mapping(file: str, canonical: str, spec: dict[str, Any]) -> TableMapping:
    known = TABLES[canonical].column_names
    for column in spec["columns"]:
        if column not in known:
            raise ConfigError(Said(
                "mapping %(file)s: %(where)s: %(table)s has no column %(column)s (canonical columns: %(known)s).",
                file=file, where=f"$.tables.{canonical}.columns.{column}", table=canonical, column=column,
                known=", ".join(known)))
    columns: dict[str, exp.Expr | None] = {}
    for column in known:
        where = f"mapping {file}: $.tables.{canonical}.columns.{column}"
        if column not in spec["columns"]:
            if column in TABLES[canonical].required:
                raise ConfigError(Said("%(where)s: required column is not mapped; map it to a source column.",
                                       where=where))
            columns[column] = None
            continue
        value = spec["columns"][column]
        if value is None:
            columns[column] = None
        elif isinstance(value, str):
            columns[column] = exp.column(value, quoted=True)
        else:
            columns[column] = parse_expression(value["expr"], where)
    return TableMapping(canonical, spec["source"], columns)


def parse_expression(text: str, where: str) -> exp.Expr:
    """Parse one scalar expression over the source row, refusing anything else.

    >>> parse_expression("valor_total / 100", "x").sql("duckdb")
    'valor_total / 100'
    >>> parse_expression("(SELECT 1)", "x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    etl.errors.ConfigError: x: expression must be one scalar expression over the source table's ...
    """
    try:
        if any(token.token_type == TokenType.SEMICOLON for token in sqlglot.tokenize(text, read="duckdb")):
            raise ConfigError(Said("%(where)s: expression must not contain ';' (one expression, no statements).",
                                   where=where))
        parsed = sqlglot.parse(text, read="duckdb")
    except (ParseError, TokenError) as err:
        detail = str(err).splitlines()[0][:160]
        raise ConfigError(Said("%(where)s: expression does not parse as SQL (%(why)s).", where=where,
                               why=detail)) from None
    if len(parsed) != 1 or parsed[0] is None:
        raise ConfigError(Said("%(where)s: expression must be exactly one SQL expression.", where=where))
    tree = parsed[0]
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN):
            if isinstance(node, exp.Query | exp.Subquery):
                raise ConfigError(Said("%(where)s: expression must be one scalar expression over the source "
                                       "table's columns; found a subquery.", where=where))
            raise ConfigError(Said("%(where)s: expression must be one scalar expression over the source table's "
                                   "columns; found %(kind)s.", where=where, kind=node.key.upper()))
        if isinstance(node, exp.Func):
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            if name.lower().startswith(_FORBIDDEN_FUNCTIONS):
                raise ConfigError(Said("%(where)s: function %(name)s is not allowed in a mapping expression.",
                                       where=where, name=name))
        if isinstance(node, exp.Column) and node.table:
            raise ConfigError(Said("%(where)s: refer to columns without a table prefix (%(column)s).", where=where,
                                   column=node.sql()))
    return tree
