"""Checks 3-7: duplicate keys, orphans, required values and casts, totals, negative amounts."""

from __future__ import annotations

from typing import Any

from etl.schema import TABLES
from validators.context import Batches, Context
from validators.findings import N_, NP_, Finding, Nn_, Severity, said

CHILDREN = ("voucher_lines", "payments")
KEY_SQL = "register, voucher_code, number"

DUPLICATED = {  # check 3's sentence, by the table the key is twice in
    "vouchers": Nn_("%(register)s has %(num)s voucher number twice in vouchers (first: %(first)s); those vouchers "
                    "are held back",
                    "%(register)s has %(num)s voucher numbers twice in vouchers (first: %(first)s); those vouchers "
                    "are held back"),
    "voucher_lines": Nn_("%(register)s has %(num)s voucher number twice in voucher_lines (first: %(first)s); those "
                         "vouchers are held back",
                         "%(register)s has %(num)s voucher numbers twice in voucher_lines (first: %(first)s); those "
                         "vouchers are held back"),
    "payments": Nn_("%(register)s has %(num)s voucher number twice in payments (first: %(first)s); those vouchers "
                    "are held back",
                    "%(register)s has %(num)s voucher numbers twice in payments (first: %(first)s); those vouchers "
                    "are held back"),
}
ORPHANED = {  # check 4's sentence, by the child table
    "voucher_lines": Nn_("%(register)s has %(n)s voucher lines of %(num)s voucher number whose header does not "
                         "exist; rejected",
                         "%(register)s has %(n)s voucher lines of %(num)s voucher numbers whose header does not "
                         "exist; rejected"),
    "payments": Nn_("%(register)s has %(n)s payments of %(num)s voucher number whose header does not exist; "
                    "rejected",
                    "%(register)s has %(n)s payments of %(num)s voucher numbers whose header does not exist; "
                    "rejected"),
}
UNREADABLE = {  # check 5's sentence, by the table of the bad values
    "vouchers": Nn_("%(register)s: %(num)s voucher held back for vouchers values that are missing or unreadable "
                    "(first: %(first)s)",
                    "%(register)s: %(num)s vouchers held back for vouchers values that are missing or unreadable "
                    "(first: %(first)s)"),
    "voucher_lines": Nn_("%(register)s: %(num)s voucher held back for voucher lines values that are missing or "
                         "unreadable (first: %(first)s)",
                         "%(register)s: %(num)s vouchers held back for voucher lines values that are missing or "
                         "unreadable (first: %(first)s)"),
    "payments": Nn_("%(register)s: %(num)s voucher held back for payments values that are missing or unreadable "
                    "(first: %(first)s)",
                    "%(register)s: %(num)s vouchers held back for payments values that are missing or unreadable "
                    "(first: %(first)s)"),
}


def _keys(rows: list[dict[str, Any]]) -> tuple[tuple[str, str, int], ...]:
    return tuple((r["register"], r["voucher_code"], r["number"]) for r in rows)


def _by_register(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["register"], []).append(row)
    return grouped


def _samples(batches: Batches, table: str, where: str, register: str, limit: int) -> tuple[dict[str, Any], ...]:
    return tuple(batches.rows(
        f"SELECT * EXCLUDE (_bad), _bad AS bad_columns FROM stage.{table} WHERE register = ? AND ({where}) "
        f"ORDER BY voucher_code, number LIMIT ?",
        [register, limit],
    ))


def duplicate_keys(batches: Batches, ctx: Context) -> list[Finding]:
    """Check 3: a (voucher_code, number) twice in one register's batch (or a line/payment key twice)."""
    findings = []
    for table in ("vouchers", *CHILDREN):
        key = ", ".join(TABLES[table].key)
        dupes = batches.rows(
            f"""SELECT DISTINCT {KEY_SQL} FROM stage.{table}
                WHERE voucher_code IS NOT NULL AND number IS NOT NULL
                GROUP BY register, {key} HAVING count(*) > 1 ORDER BY ALL"""
        )
        for register, rows in _by_register(dupes).items():
            first = rows[0]
            where = f"voucher_code = {_lit(first['voucher_code'])} AND number = {int(first['number'])}"
            findings.append(Finding(
                check="duplicate_number",
                severity=Severity.REJECT_ROWS,
                registers=(register,),
                voucher_code=first["voucher_code"],
                rows=len(rows),
                **said(DUPLICATED[table], register=register, num=len(rows),
                       first=f"{first['voucher_code']}-{first['number']}"),
                samples=_samples(batches, table, where, register, ctx.sample_size),
                rejected_keys=_keys(rows),
            ))
    return findings


def _lit(value: str) -> str:
    """A SQL string literal (for sample queries built from values we just read)."""
    return "'" + str(value).replace("'", "''") + "'"


def orphans(batches: Batches, ctx: Context) -> list[Finding]:
    """Check 4: lines or payments whose header is not in the batch; empty headers are a warning."""
    findings = []
    for table in CHILDREN:
        rows = batches.rows(
            f"""SELECT register, voucher_code, number, count(*) AS n FROM stage.{table} c
                WHERE NOT EXISTS (SELECT 1 FROM stage.vouchers v WHERE v.register = c.register
                                  AND v.voucher_code = c.voucher_code AND v.number = c.number)
                GROUP BY ALL ORDER BY ALL"""
        )
        for register, group in _by_register(rows).items():
            n = sum(r["n"] for r in group)
            findings.append(Finding(
                check="orphan_rows",
                severity=Severity.REJECT_ROWS,
                registers=(register,),
                voucher_code=group[0]["voucher_code"],
                rows=len(group),
                **said(ORPHANED[table], register=register, n=int(n), num=len(group)),
                samples=tuple(group[: ctx.sample_size]),
                rejected_keys=_keys(group),
            ))
    empty = batches.rows(
        """SELECT register, count(*) AS n, min(voucher_code || '-' || number) AS first FROM stage.vouchers v
           WHERE NOT EXISTS (SELECT 1 FROM stage.voucher_lines l WHERE l.register = v.register
                             AND l.voucher_code = v.voucher_code AND l.number = v.number)
           GROUP BY register ORDER BY register"""
    )
    for e in empty:
        findings.append(Finding(
            check="empty_voucher",
            severity=Severity.WARNING,
            registers=(e["register"],),
            rows=int(e["n"]),
            **said(Nn_("%(register)s has %(num)s voucher without lines (first: %(first)s)",
                       "%(register)s has %(num)s vouchers without lines (first: %(first)s)"),
                   register=e["register"], num=int(e["n"]), first=e["first"]),
        ))
    return findings


_CHILD_KEY = {"vouchers": "", "voucher_lines": "line_no", "payments": "seq"}


# Check 5's own reasons in a sample's "problem" (the cast reasons are etl.casts.REASONS): English as stored,
# said in the reader's language where a report shows them (etl.report.problem_text).
PROBLEMS = (NP_("bad value", "missing"), NP_("bad value", "is after today"),
            NP_("bad value", "is not the process date"), NP_("bad value", "is not issued or void"))


def _problems_sql(table: str, ctx: Context) -> str:
    """One text per row naming each bad value (the register's own text and why) and each missing value."""
    bad_names = "list_transform(coalesce(_bad, []), b -> b.column)"
    parts = ["list_transform(coalesce(_bad, []), b -> b.column || ': ' || b.value || ' ' || b.reason)"]
    parts += [f"CASE WHEN \"{c}\" IS NULL AND NOT list_contains({bad_names}, '{c}') THEN ['{c}: missing'] "
              "ELSE [] END" for c in TABLES[table].required]
    if table == "vouchers":
        parts += [f"CASE WHEN date > DATE '{ctx.today}' THEN ['date: ' || date || ' is after today'] "
                  f"WHEN date <> DATE '{ctx.process_date}' THEN ['date: ' || date || ' is not the process date'] "
                  "ELSE [] END",
                  "CASE WHEN status NOT IN ('issued', 'void') "
                  "THEN ['status: ''' || status || ''' is not issued or void'] ELSE [] END"]
    return f"array_to_string(flatten([{', '.join(parts)}]), '; ')"


def _bad_where(table: str, ctx: Context) -> str:
    required = " OR ".join(f'"{c}" IS NULL' for c in TABLES[table].required)
    where = f"_bad IS NOT NULL OR {required}"
    if table == "vouchers":
        where += (f" OR date <> DATE '{ctx.process_date}' OR date > DATE '{ctx.today}'"
                  " OR status NOT IN ('issued', 'void')")
    return where


def required_and_casts(batches: Batches, ctx: Context) -> list[Finding]:
    """Check 5: values that do not cast, required values missing, vouchers dated outside the process date.

    Each sample names the row and, for each bad value, the register's own text and the reason in words
    ("total: '1.234,56' is not a number"; "date: missing").
    """
    findings = []
    for table in ("vouchers", *CHILDREN):
        where = _bad_where(table, ctx)
        rows = batches.rows(f"SELECT DISTINCT {KEY_SQL} FROM stage.{table} WHERE {where} ORDER BY ALL")
        child_key = f", {_CHILD_KEY[table]}" if _CHILD_KEY[table] else ""
        for register, group in _by_register(rows).items():
            samples = tuple(batches.rows(
                f"""SELECT register, voucher_code, number{child_key},
                           array_to_string(list_transform(coalesce(_bad, []), b -> b.column), ',') AS bad_columns,
                           {_problems_sql(table, ctx)} AS problem
                    FROM stage.{table} WHERE register = ? AND ({where})
                    ORDER BY voucher_code, number{child_key} LIMIT ?""",
                [register, ctx.sample_size]))
            first = samples[0] if samples else {}
            named = f"{first.get('voucher_code')}-{first.get('number')}: {first.get('problem', '')}" if first else ""
            findings.append(Finding(
                check="bad_values",
                severity=Severity.REJECT_ROWS,
                registers=(register,),
                voucher_code=group[0]["voucher_code"],
                rows=len(group),
                **said(UNREADABLE[table], register=register, num=len(group), first=named),
                samples=samples,
                rejected_keys=_keys(group),
            ))
    skew = batches.rows(
        """SELECT register, count(*) AS n, min(voucher_code || '-' || number) AS first FROM stage.vouchers
           WHERE issued_at IS NOT NULL AND date IS NOT NULL AND CAST(issued_at AS DATE) <> date
           GROUP BY register ORDER BY register"""
    )
    for s in skew:
        findings.append(Finding(
            check="date_mismatch",
            severity=Severity.WARNING,
            registers=(s["register"],),
            rows=int(s["n"]),
            **said(Nn_("%(register)s: %(num)s voucher issued on another day than their business date (first: "
                       "%(first)s); the business date decides",
                       "%(register)s: %(num)s vouchers issued on another day than their business date (first: "
                       "%(first)s); the business date decides"),
                   register=s["register"], num=int(s["n"]), first=s["first"]),
        ))
    return findings


def totals(batches: Batches, ctx: Context) -> list[Finding]:
    """Check 6: header total differs from the sum of its lines, or of its payments, by more than 0.01."""
    rows = batches.rows(
        """
        WITH l AS (SELECT register, voucher_code, number, sum(total) AS lines FROM stage.voucher_lines GROUP BY ALL),
             p AS (SELECT register, voucher_code, number, sum(amount) AS paid FROM stage.payments GROUP BY ALL)
        SELECT v.register, v.voucher_code, v.number, v.total, l.lines, p.paid
        FROM stage.vouchers v LEFT JOIN l USING (register, voucher_code, number)
             LEFT JOIN p USING (register, voucher_code, number)
        WHERE v.total IS NOT NULL AND (abs(v.total - coalesce(l.lines, 0)) > 0.01
              OR (p.paid IS NOT NULL AND abs(v.total - p.paid) > 0.01))
        ORDER BY ALL
        """
    )
    return [
        Finding(
            check="totals",
            severity=Severity.WARNING,
            registers=(register,),
            voucher_code=group[0]["voucher_code"],
            rows=len(group),
            **said(Nn_("%(register)s: %(num)s voucher whose total differs from its lines or payments by more "
                       "than 0.01",
                       "%(register)s: %(num)s vouchers whose total differs from its lines or payments by more "
                       "than 0.01"),
                   register=register, num=len(group)),
            samples=tuple(group[: ctx.sample_size]),
        )
        for register, group in _by_register(rows).items()
    ]


def negative_amounts(batches: Batches, ctx: Context) -> list[Finding]:
    """Check 7: negative quantities or prices on an invoice, or an invoice total <= 0. Never changed."""
    rows = batches.rows(
        """
        WITH kinds AS (
            SELECT register, code, any_value(kind) AS kind FROM stage.voucher_types GROUP BY ALL
            UNION ALL
            SELECT register, code, any_value(kind) FROM voucher_types t
            WHERE NOT EXISTS (SELECT 1 FROM stage.voucher_types s WHERE s.register = t.register AND s.code = t.code)
            GROUP BY ALL),
        invoices AS (
            SELECT v.register, v.voucher_code, v.number, v.total FROM stage.vouchers v
            LEFT JOIN kinds k ON k.register = v.register AND k.code = v.voucher_code
            WHERE coalesce(k.kind, 'invoice') = 'invoice')
        SELECT i.register, i.voucher_code, i.number, 'total ' || i.total AS what FROM invoices i WHERE i.total <= 0
        UNION ALL
        SELECT l.register, l.voucher_code, l.number,
               'line ' || l.line_no || ': quantity ' || l.quantity || ', price ' || l.unit_price
        FROM stage.voucher_lines l JOIN invoices i USING (register, voucher_code, number)
        WHERE l.quantity < 0 OR l.unit_price < 0
        ORDER BY ALL
        """
    )
    return [
        Finding(
            check="negative_amounts",
            severity=Severity.WARNING,
            registers=(register,),
            voucher_code=group[0]["voucher_code"],
            rows=len(group),
            **said(Nn_("%(register)s: %(num)s invoice value negative or zero (quantities, prices or totals); "
                       "allowed on credit notes only, imported as they are",
                       "%(register)s: %(num)s invoice values negative or zero (quantities, prices or totals); "
                       "allowed on credit notes only, imported as they are"),
                   register=register, num=len(group)),
            samples=tuple(group[: ctx.sample_size]),
        )
        for register, group in _by_register(rows).items()
    ]


def no_sales(batches: Batches, ctx: Context) -> list[Finding]:
    """A register with no vouchers for the date although it had sales on its previous imported date: a warning.

    A register that stopped recording (or sending) sales must not look healthy just because it was read.
    """
    if not ctx.registers:
        return []
    rows = batches.rows(
        """
        WITH staged AS (SELECT r.name AS register, count(v.register) AS n
                        FROM (SELECT unnest(?::VARCHAR[]) AS name) r LEFT JOIN stage.vouchers v ON v.register = r.name
                        GROUP BY r.name),
             previous AS (SELECT register, max(process_date) AS day FROM import_batches
                          WHERE process_date < ? GROUP BY register),
             sold AS (SELECT register, max(date) AS day FROM vouchers WHERE date < ? GROUP BY register)
        SELECT s.register, sold.day AS last_sales FROM staged s JOIN previous p USING (register)
        JOIN sold USING (register) WHERE s.n = 0 AND sold.day = p.day ORDER BY s.register
        """,
        [list(ctx.registers), ctx.process_date, ctx.process_date],
    )
    return [
        Finding(
            check="no_sales",
            severity=Severity.WARNING,
            registers=(r["register"],),
            rows=0,
            **said(N_("%(register)s: no vouchers on %(date)s; last sales %(last)s (is the register on, and "
                      "recording its sales?)"),
                   register=r["register"], date=str(ctx.process_date), last=str(r["last_sales"])),
        )
        for r in rows
    ]
