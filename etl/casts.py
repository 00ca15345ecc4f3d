"""Strict casts from what a register stores to posync's canonical types, as DuckDB SQL.

A register's value is accepted only in a plain form: decimal numbers without exponents, hex,
underscores or thousands separators; ISO dates and times with valid fields; at most as many
decimals as the canonical column keeps (money keeps 4: a unit price of 0.001 is real). Anything
else is a bad value: never rounded, guessed or coerced to NULL, but held back with the
register's own text and the reason in words (FAULTS 10, 17, 52).

A binary float (a SQLite REAL) carries noise: 2327332.2499995814 is 2327332.25 summed in floating
point. A float within 1e-9, or one part in 10^12 for large amounts, of a value with the column's
decimals is that value; further away it has more decimals than main keeps, and is held back.

Each rule is two SQL templates over a placeholder column `__x__`: the value (a TRY_CAST that never
fails) and the reason (NULL when the value is good), filled with the source expression by
etl.sqltemplate, so every cast is one sqlglot tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from etl.i18n import NP_
from etl.sqltemplate import fill

PLACEHOLDER = "__x__"
FLOAT_NOISE = ("1e-9", "1e-12")  # absolute, relative: what a float may be away from its decimal value

_NUMBER = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)"
_WHOLE = r"[+-]?[0-9]+"
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
_DATETIME = f"{_DATE}([ T]{_TIME})?"
_BOOLEANS = ("'0'", "'1'", "'true'", "'false'")

INTEGERS = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT",
            "UTINYINT", "UHUGEINT")
FLOATS = ("DOUBLE", "FLOAT", "REAL")
TEXTS = ("VARCHAR", "TEXT", "STRING")

# Why a value is bad, as the SQL here and in etl.extract words it: stored in English (a sample's "problem", the
# --json report), said in the reader's language where a report shows it (etl.report.problem_text).
REASONS = (NP_("bad value", "is not a number"), NP_("bad value", "has more than %(n)s decimals"),
           NP_("bad value", "is out of range"), NP_("bad value", "is not a whole number"),
           NP_("bad value", "is not a date"), NP_("bad value", "is not a date and time"),
           NP_("bad value", "is not true or false"), NP_("bad value", "is not a finite number"),
           NP_("bad value", "is not UTF-8"), NP_("bad value", "gave no text"))


@dataclass(frozen=True)
class Decimal:
    precision: int
    scale: int

    @property
    def sql(self) -> str:
        return f"DECIMAL({self.precision},{self.scale})"


def decimal_of(type_: str) -> Decimal | None:
    """DECIMAL(p,s) parsed, else None.

    >>> decimal_of("DECIMAL(18, 4)"), decimal_of("VARCHAR")
    (Decimal(precision=18, scale=4), None)
    """
    match = re.fullmatch(r"(?:DECIMAL|NUMERIC)\((\d+),\s*(\d+)\)", type_.upper().replace(" ", ""))
    return Decimal(int(match.group(1)), int(match.group(2))) if match else None


def kind(type_: str) -> str:
    """The family of a DuckDB type: text, blob, integer, float, decimal, date, timestamp, boolean, other.

    >>> [kind(t) for t in ("VARCHAR", "BIGINT", "DOUBLE", "DECIMAL(18,2)", "TIMESTAMP WITH TIME ZONE", "BLOB")]
    ['text', 'integer', 'float', 'decimal', 'timestamp', 'blob']
    """
    upper = type_.upper().strip()
    if upper in TEXTS or upper.startswith("VARCHAR"):
        return "text"
    if upper in ("BLOB", "BYTEA", "VARBINARY"):
        return "blob"
    if upper in INTEGERS:
        return "integer"
    if upper in FLOATS:
        return "float"
    if decimal_of(upper) or upper in ("DECIMAL", "NUMERIC"):
        return "decimal"
    if upper == "DATE":
        return "date"
    if upper.startswith("TIMESTAMP") or upper == "DATETIME":
        return "timestamp"
    if upper == "BOOLEAN":
        return "boolean"
    return "other"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _text_rule(target: str) -> tuple[str, str]:
    """From text: only the plain forms. (value, reason) templates over a trimmed text `t`."""
    t = f"trim({PLACEHOLDER})"
    if target in ("VARCHAR",):
        return PLACEHOLDER, "NULL"
    if (dec := decimal_of(target)) is not None:
        fraction = f"length(rtrim(regexp_extract({t}, '\\.([0-9]*)$', 1), '0'))"
        whole = f"length(ltrim(regexp_extract({t}, '^[+-]?([0-9]*)', 1), '0'))"
        return (f"TRY_CAST({t} AS {dec.sql})",
                f"CASE WHEN NOT regexp_full_match({t}, {_lit(_NUMBER)}) THEN 'is not a number' "
                f"WHEN {fraction} > {dec.scale} THEN 'has more than {dec.scale} decimals' "
                f"WHEN {whole} > {dec.precision - dec.scale} THEN 'is out of range' END")
    if target in INTEGERS:
        return (f"TRY_CAST({t} AS {target})",
                f"CASE WHEN NOT regexp_full_match({t}, {_lit(_WHOLE)}) THEN 'is not a whole number' "
                f"WHEN TRY_CAST({t} AS {target}) IS NULL THEN 'is out of range' END")
    if target == "DATE":
        return (f"TRY_CAST(left({t}, 10) AS DATE)",
                f"CASE WHEN NOT regexp_full_match({t}, {_lit(_DATETIME)}) OR TRY_CAST({t} AS TIMESTAMP) IS NULL "
                "THEN 'is not a date' END")
    if target == "TIMESTAMP":
        return (f"TRY_CAST({t} AS TIMESTAMP)",
                f"CASE WHEN NOT regexp_full_match({t}, {_lit(_DATETIME)}) OR TRY_CAST({t} AS TIMESTAMP) IS NULL "
                "THEN 'is not a date and time' END")
    if target == "BOOLEAN":
        return (f"CASE lower({t}) WHEN '1' THEN true WHEN 'true' THEN true WHEN '0' THEN false "
                "WHEN 'false' THEN false END",
                f"CASE WHEN lower({t}) NOT IN ({', '.join(_BOOLEANS)}) THEN 'is not true or false' END")
    raise ValueError(f"no cast rule to {target}")


def _float_rule(target: str) -> tuple[str, str]:
    """From a binary float: finite, in range, and within float noise of a value with the column's decimals."""
    x = PLACEHOLDER
    if (dec := decimal_of(target)) is not None:
        limit = f"1e{dec.precision - dec.scale}"
        noise = f"greatest({FLOAT_NOISE[0]}, abs({x}) * {FLOAT_NOISE[1]})"
        return (f"TRY_CAST({x} AS {dec.sql})",
                f"CASE WHEN NOT isfinite({x}) THEN 'is not a finite number' "
                f"WHEN abs({x}) >= {limit} THEN 'is out of range' "
                f"WHEN abs({x} - CAST(TRY_CAST({x} AS {dec.sql}) AS DOUBLE)) > {noise} "
                f"THEN 'has more than {dec.scale} decimals' END")
    if target in INTEGERS:
        return (f"TRY_CAST({x} AS {target})",
                f"CASE WHEN NOT isfinite({x}) OR {x} <> trunc({x}) THEN 'is not a whole number' "
                f"WHEN TRY_CAST({x} AS {target}) IS NULL THEN 'is out of range' END")
    if target == "VARCHAR":
        return f"CAST({x} AS VARCHAR)", "NULL"
    if target == "BOOLEAN":
        return f"{x} <> 0", f"CASE WHEN {x} NOT IN (0, 1) THEN 'is not true or false' END"
    return "NULL", "'is not a date'" if target == "DATE" else "'is not a date and time'"


def _exact_rule(target: str, source: str) -> tuple[str, str]:
    """From integers and decimals: exact when the digits fit, else out of range or too many decimals."""
    x = PLACEHOLDER
    dec, src = decimal_of(target), decimal_of(source)
    if dec is not None:
        too_fine = (f"WHEN {x} <> round({x}, {dec.scale}) THEN 'has more than {dec.scale} decimals' "
                    if src is not None and src.scale > dec.scale else "")
        return (f"TRY_CAST({x} AS {dec.sql})",
                f"CASE {too_fine}WHEN TRY_CAST({x} AS {dec.sql}) IS NULL THEN 'is out of range' END"
                if too_fine or src is None or src.precision - src.scale > dec.precision - dec.scale
                or src.scale > dec.scale else "NULL")
    if target in INTEGERS:
        whole = f"WHEN {x} <> trunc({x}) THEN 'is not a whole number' " if src is not None and src.scale else ""
        return (f"TRY_CAST({x} AS {target})",
                f"CASE {whole}WHEN TRY_CAST({x} AS {target}) IS NULL THEN 'is out of range' END")
    if target == "VARCHAR":
        return f"CAST({x} AS VARCHAR)", "NULL"
    if target == "BOOLEAN":
        return f"{x} <> 0", f"CASE WHEN {x} NOT IN (0, 1) THEN 'is not true or false' END"
    return "NULL", "'is not a date'" if target == "DATE" else "'is not a date and time'"


def _rule(source: str, target: str) -> tuple[str, str]:
    """(value, reason) templates for one (source type, canonical type) pair."""
    family = kind(source)
    if family == "text":
        return _text_rule(target)
    if family == "float":
        return _float_rule(target)
    if family in ("integer", "decimal"):
        return _exact_rule(target, source)
    if family == "blob":
        text, reason = _text_rule(target)
        decoded = f"try(decode({PLACEHOLDER}))"
        return (text.replace(PLACEHOLDER, decoded),
                f"CASE WHEN {decoded} IS NULL THEN 'is not UTF-8' ELSE {reason.replace(PLACEHOLDER, decoded)} END")
    if family == "date":
        if target in ("DATE", "TIMESTAMP"):
            return f"CAST({PLACEHOLDER} AS {target})", "NULL"
        if target == "VARCHAR":
            return f"CAST({PLACEHOLDER} AS VARCHAR)", "NULL"
        return "NULL", "'is a date'"
    if family == "timestamp":
        if target in ("DATE", "TIMESTAMP"):
            return f"CAST({PLACEHOLDER} AS {target})", "NULL"
        if target == "VARCHAR":
            return f"CAST({PLACEHOLDER} AS VARCHAR)", "NULL"
        return "NULL", "'is a date and time'"
    if family == "boolean":
        if target == "BOOLEAN":
            return PLACEHOLDER, "NULL"
        if target == "VARCHAR" or target in INTEGERS:
            return f"CAST({PLACEHOLDER} AS {target})", "NULL"
        return "NULL", "'is true or false, not a number'" if decimal_of(target) else "'is not a date'"
    text, reason = _text_rule(target)  # anything else: judged by its text
    as_text = f"CAST({PLACEHOLDER} AS VARCHAR)"
    return text.replace(PLACEHOLDER, as_text), reason.replace(PLACEHOLDER, as_text)


def strict(value: exp.Expr, source: str, target: str) -> tuple[exp.Expr, exp.Expr]:
    """(the value as the canonical type, the reason it is bad or NULL) for a source value of DuckDB type source.

    >>> v, why = strict(exp.column("total"), "VARCHAR", "DECIMAL(18,4)")
    >>> import duckdb
    >>> sql = f"SELECT {v.sql('duckdb')}, {why.sql('duckdb')} FROM (VALUES ('12.5'), ('1.234,56'), ('1e3'), "
    >>> sql += "('0.00001'), (' 7 '), (NULL)) t(total)"
    >>> duckdb.sql(sql).fetchall()  # doctest: +NORMALIZE_WHITESPACE
    [(Decimal('12.5000'), None), (None, 'is not a number'), (Decimal('1000.0000'), 'is not a number'),
     (Decimal('0.0000'), 'has more than 4 decimals'), (Decimal('7.0000'), None), (None, None)]
    """
    value_sql, reason_sql = _rule(source.upper(), target.upper())
    reason = fill(f"CASE WHEN __x__ IS NOT NULL THEN {reason_sql} END", x=value) if reason_sql != "NULL" \
        else fill("NULL")
    return fill(value_sql, x=value), reason
