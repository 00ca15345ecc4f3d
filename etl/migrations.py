"""Upgrades of a main store written by an older posync: each step changes what is there, losing nothing.

Version 3 — money keeps its digits, voucher codes are compared trimmed and case-insensitively, and main
records changes at the source and which catalogs it has ever loaded:
- every amount column becomes DECIMAL(18,4) (a unit price of 0.001 is real; FAULTS 17). Widening
  keeps every value exactly; the content hash of each voucher, computed over its typed values, is
  recomputed so that an unchanged voucher still reads as unchanged at its next import;
- voucher codes are stored trimmed and in upper case (FAULTS 48). A code whose new spelling would
  make two rows of one key (the fault this fixes may have left main holding FV1 1001 as 'FV1 ' and
  'FV1') is left as it is and named in a log row, so the operator can see and resolve it;
- new tables `source_changes` and `catalog_loads`; a catalog that already has rows was loaded by an
  older posync, and is recorded as loaded;
- what undoing an import needs (etl/undo.py): the batch that wrote each voucher, voucher type and code
  ownership (`batch_id`, NULL for rows imported before: those batches cannot be undone), each batch's
  identity and run, and the tables that keep what a batch replaced; `held_codes` for `codes list`.
"""

from __future__ import annotations

import duckdb

from etl import ledger
from etl.merge import voucher_hashes
from etl.schema import CATALOG_TABLES, TABLES
from etl.store import VERSION_3_COLUMNS, VERSION_3_TABLES, quote

MAIN_CODE_COLUMNS = (("vouchers", "voucher_code"), ("voucher_lines", "voucher_code"), ("payments", "voucher_code"),
                     ("voucher_types", "code"), ("loyalty_movements", "voucher_code"), ("numbering", "voucher_code"))
_KEYS = {"vouchers": ("number",), "voucher_lines": ("number", "line_no"), "payments": ("number", "seq"),
         "voucher_types": ("register",)}


def _widen(con: duckdb.DuckDBPyConnection, postgres: bool) -> None:
    for table in ("vouchers", "voucher_lines", "payments", "products"):
        for column, type_ in TABLES[table].columns:
            if type_ != "DECIMAL(18,4)":
                continue
            if postgres:  # DuckDB's postgres extension has no ALTER TYPE: PostgreSQL does it, in this transaction
                sql = f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} TYPE numeric(18,4)"
                con.execute("CALL postgres_execute('m', ?)", [sql])
            else:
                con.execute(f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} SET DATA TYPE {type_}")
    if postgres:
        con.execute("CALL pg_clear_cache()")


def _rehash(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""UPDATE vouchers SET content_hash = h.content_hash
                    FROM ({voucher_hashes('vouchers', 'voucher_lines', 'payments', by_register=False)}) h
                    WHERE vouchers.voucher_code = h.voucher_code AND vouchers.number = h.number
                      AND vouchers.content_hash IS DISTINCT FROM h.content_hash""")


def _normalise_codes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Trim and upper-case every stored voucher code, except where that would make two rows one key."""
    kept: list[str] = []
    for table, column in MAIN_CODE_COLUMNS:
        code = quote(column)
        keys = _KEYS.get(table)
        if keys is None:  # no key to collide on
            con.execute(f"UPDATE {table} SET {code} = upper(trim({code})) WHERE {code} <> upper(trim({code}))")
            continue
        cols = ", ".join(quote(k) for k in keys)
        clash = (f"(upper(trim({code})), {cols}) IN (SELECT upper(trim({code})), {cols} FROM {table} "
                 f"GROUP BY ALL HAVING count(*) > 1)")
        for (spelled,) in con.execute(f"SELECT DISTINCT {code} FROM {table} WHERE {code} <> upper(trim({code})) "
                                      f"AND {clash} ORDER BY 1").fetchall():
            kept.append(f"{table}: {spelled!r}")
        con.execute(f"UPDATE {table} SET {code} = upper(trim({code})) WHERE {code} <> upper(trim({code})) "
                    f"AND NOT {clash}")
    owners = con.execute("SELECT upper(trim(voucher_code)), list(DISTINCT register ORDER BY register), "
                         "arg_min(register, since) FROM voucher_code_owners GROUP BY 1 HAVING count(*) > 1").fetchall()
    for code, registers, first in owners:  # the first owner keeps the code; others are named
        others = [r for r in registers if r != first]
        if others:
            kept.append(f"voucher_code_owners: {code} owned first by {first}, also by {', '.join(others)}")
        con.execute("DELETE FROM voucher_code_owners WHERE upper(trim(voucher_code)) = ? "
                    "AND (register <> ? OR voucher_code <> (SELECT min(voucher_code) FROM voucher_code_owners "
                    "WHERE upper(trim(voucher_code)) = ? AND register = ?))", [code, first, code, first])
    con.execute("UPDATE voucher_code_owners SET voucher_code = upper(trim(voucher_code)) "
                "WHERE voucher_code <> upper(trim(voucher_code))")
    return kept


def _new_tables(con: duckdb.DuckDBPyConnection, postgres: bool) -> None:
    for statement in VERSION_3_TABLES:
        con.execute(statement)
    for table, columns in VERSION_3_COLUMNS.items():
        for column, type_ in columns:
            sql = f"ALTER TABLE {quote(table)} ADD COLUMN IF NOT EXISTS {quote(column)} {type_}"
            if postgres:  # in PostgreSQL's own words, in this transaction (as _widen does)
                con.execute("CALL postgres_execute('m', ?)", [sql.replace("VARCHAR", "text")])
            else:
                con.execute(sql)
    for table in CATALOG_TABLES:
        con.execute(f"INSERT INTO catalog_loads SELECT ?, now()::TIMESTAMP, 'loaded by an older posync', count(*) "
                    f"FROM {quote(table)} HAVING count(*) > 0", [table])


def version_3(con: duckdb.DuckDBPyConnection, postgres: bool) -> None:
    """Version 3 (see the module doc); a log row says what was done, and what was left for a person."""
    _new_tables(con, postgres)
    _widen(con, postgres)
    kept = _normalise_codes(con)
    _rehash(con)
    message = "amounts keep 4 decimals; voucher codes stored trimmed and in upper case"
    if kept:
        message += "; left as they were, because two rows would become one key (resolve by hand): " + "; ".join(kept)
    ledger.log(con, "upgrade", "warning" if kept else "ok", message)

