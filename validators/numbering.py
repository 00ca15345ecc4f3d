"""DIAN numbering (Colombia): gaps in a code's consecutive numbers, authorised ranges, prefix+number unique."""

from __future__ import annotations

from validators.context import Batches, Context
from validators.findings import N_, Finding, Nn_, Severity, said


def format_gaps(code: str, gaps: list[tuple[int, int]], limit: int = 5) -> str:
    """Human text for missing number ranges.

    >>> format_gaps("FV1", [(1040, 1042), (1050, 1050)])
    'FV1 1040–1042, 1050 missing'
    """
    parts = [f"{a}–{b}" if a != b else f"{a}" for a, b in gaps[:limit]]
    more = f" and {len(gaps) - limit} more gaps" if len(gaps) > limit else ""
    return f"{code} {', '.join(parts)}{more} missing"


def gaps(batches: Batches, ctx: Context) -> list[Finding]:
    """Missing consecutive numbers in each register's own sequence of a code, across days.

    A missing number is a sale that may not have arrived. Vouchers of a code that main gives to
    another register are intruders, held back by check 2: they are not this register's sequence,
    so FV1 5001 at the wrong register does not make "FV1 1044–5000 missing".
    """
    rows = batches.rows(
        """
        WITH own AS (SELECT s.register, s.voucher_code, s.number FROM stage.vouchers s
                     WHERE s.voucher_code IS NOT NULL AND s.number IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM voucher_code_owners o WHERE o.voucher_code = s.voucher_code
                                       AND o.register <> s.register)),
             b AS (SELECT register, voucher_code, min(number) AS lo, max(number) AS hi FROM own GROUP BY ALL),
             p AS (SELECT b.register, b.voucher_code, coalesce(max(v.number), b.lo) AS start, b.hi FROM b
                   LEFT JOIN vouchers v ON v.voucher_code = b.voucher_code AND v.number < b.lo
                   GROUP BY b.register, b.voucher_code, b.lo, b.hi),
             n AS (SELECT register, voucher_code, number FROM own
                   UNION
                   SELECT p.register, v.voucher_code, v.number FROM vouchers v JOIN p USING (voucher_code)
                   WHERE v.number BETWEEN p.start AND p.hi),
             g AS (SELECT register, voucher_code, number,
                          lag(number) OVER (PARTITION BY register, voucher_code ORDER BY number) AS prev FROM n)
        SELECT register, voucher_code, list({'lo': prev + 1, 'hi': number - 1} ORDER BY number) AS gaps,
               sum(number - prev - 1) AS missing
        FROM g WHERE number - prev > 1 GROUP BY register, voucher_code ORDER BY voucher_code, register
        """
    )
    findings = []
    limit = 5
    for r in rows:
        spans = [(int(g["lo"]), int(g["hi"])) for g in r["gaps"]]
        listed = ", ".join(f"{a}–{b}" if a != b else f"{a}" for a, b in spans[:limit])
        if len(spans) > limit:
            message = said(N_("%(code)s %(gaps)s and %(more)s more gaps missing (a missing number may be a sale "
                              "that has not arrived)"), code=r["voucher_code"], gaps=listed, more=len(spans) - limit)
        else:
            message = said(N_("%(code)s %(gaps)s missing (a missing number may be a sale that has not arrived)"),
                           code=r["voucher_code"], gaps=listed)
        findings.append(Finding(
            check="numbering_gap",
            severity=Severity.WARNING,
            registers=(r["register"],),
            voucher_code=r["voucher_code"],
            rows=int(r["missing"]),
            **message,
            samples=tuple({"from": a, "to": b} for a, b in spans[: ctx.sample_size]),
        ))
    return findings


def authorised_range(batches: Batches, ctx: Context) -> list[Finding]:
    """A number outside its DIAN resolution's range or dates: flagged, rejected where enforced."""
    rows = batches.rows(
        """
        SELECT s.register, s.voucher_code, s.number, s.date, n.enforce,
               n.range_from, n.range_to, n.valid_from, n.valid_to
        FROM stage.vouchers s JOIN numbering n USING (voucher_code)
        WHERE s.number NOT BETWEEN n.range_from AND n.range_to
           OR s.date NOT BETWEEN coalesce(n.valid_from, s.date) AND coalesce(n.valid_to, s.date)
        ORDER BY ALL
        """
    )
    findings = []
    for enforce in (True, False):
        group = [r for r in rows if bool(r["enforce"]) is enforce]
        for register in sorted({r["register"] for r in group}):
            mine = [r for r in group if r["register"] == register]
            findings.append(Finding(
                check="numbering_range",
                severity=Severity.REJECT_ROWS if enforce else Severity.WARNING,
                registers=(register,),
                voucher_code=mine[0]["voucher_code"],
                rows=len(mine),
                **said(Nn_("%(register)s: %(num)s voucher numbered outside their authorised DIAN range or dates; "
                           "held back",
                           "%(register)s: %(num)s vouchers numbered outside their authorised DIAN range or dates; "
                           "held back") if enforce else
                       Nn_("%(register)s: %(num)s voucher numbered outside their authorised DIAN range or dates",
                           "%(register)s: %(num)s vouchers numbered outside their authorised DIAN range or dates"),
                       register=register, num=len(mine)),
                samples=tuple(mine[: ctx.sample_size]),
                rejected_keys=tuple((r["register"], r["voucher_code"], r["number"]) for r in mine) if enforce else (),
            ))
    return findings


def prefix_number_twice(batches: Batches, ctx: Context) -> list[Finding]:
    """The same DIAN prefix + number on two registers is a legal duplicate: always rejected."""
    rows = batches.rows(
        """
        WITH s AS (SELECT s.register, n.prefix, s.voucher_code, s.number
                   FROM stage.vouchers s JOIN numbering n USING (voucher_code)),
             m AS (SELECT v.register, n.prefix, v.voucher_code, v.number
                   FROM vouchers v JOIN numbering n USING (voucher_code)
                   WHERE (n.prefix, v.number) IN (SELECT (prefix, number) FROM s)),
             a AS (SELECT * FROM s UNION SELECT * FROM m),
             d AS (SELECT prefix, number FROM a GROUP BY ALL HAVING count(DISTINCT register) > 1)
        SELECT s.register, s.voucher_code, s.number, s.prefix FROM s JOIN d USING (prefix, number) ORDER BY ALL
        """
    )
    findings = []
    for register in sorted({r["register"] for r in rows}):
        mine = [r for r in rows if r["register"] == register]
        findings.append(Finding(
            check="prefix_number_twice",
            severity=Severity.REJECT_ROWS,
            registers=(register,),
            voucher_code=mine[0]["voucher_code"],
            rows=len(mine),
            **said(Nn_("%(register)s: %(num)s voucher reuses a DIAN prefix+number already issued by another "
                       "register (first: %(first)s); held back",
                       "%(register)s: %(num)s vouchers reuse a DIAN prefix+number already issued by another "
                       "register (first: %(first)s); held back"),
                   register=register, num=len(mine), first=f"{mine[0]['prefix']}{mine[0]['number']}"),
            samples=tuple(mine[: ctx.sample_size]),
            rejected_keys=tuple((r["register"], r["voucher_code"], r["number"]) for r in mine),
        ))
    return findings


def number_ranges(numbers: list[int], limit: int = 5) -> str:
    """Consecutive numbers as ranges.

    >>> number_ranges([1001, 1002, 1003, 1004, 1010])
    '1001–1004, 1010'
    """
    spans: list[tuple[int, int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], n)
        else:
            spans.append((n, n))
    parts = [f"{a}–{b}" if a != b else f"{a}" for a, b in spans[:limit]]
    return ", ".join(parts) + (f" and {len(spans) - limit} more" if len(spans) > limit else "")


def number_reused(batches: Batches, ctx: Context) -> list[Finding]:
    """Check 8: a (code, number) main already holds under another date or issue time is a reused number.

    A register restored from an old backup, or reinstalled, issues numbers again that main imported
    for another sale. Under DIAN rules a number is issued once, so this is an error of the register:
    those vouchers are held back (never skipped as "already imported", never written over the sale
    main has), and both versions are shown.
    """
    rows = batches.rows(
        """
        SELECT s.register, s.voucher_code, s.number, s.date, s.issued_at, s.total,
               m.register AS main_register, m.date AS main_date, m.issued_at AS main_issued_at, m.total AS main_total
        FROM stage.vouchers s JOIN vouchers m ON m.voucher_code = s.voucher_code AND m.number = s.number
        WHERE s.date IS NOT NULL AND (m.date IS DISTINCT FROM s.date OR m.issued_at IS DISTINCT FROM s.issued_at
                                      OR m.register <> s.register)
          AND NOT EXISTS (SELECT 1 FROM voucher_code_owners o  -- another register's code: check 2 holds it back
                          WHERE o.voucher_code = s.voucher_code AND o.register <> s.register)
        ORDER BY s.register, s.voucher_code, s.number
        """
    )
    findings = []
    for register in sorted({r["register"] for r in rows}):
        mine = [r for r in rows if r["register"] == register]
        codes = sorted({r["voucher_code"] for r in mine})
        which = "; ".join(f"{c} {number_ranges([r['number'] for r in mine if r['voucher_code'] == c])}"
                          for c in codes)
        first = mine[0]
        if first["main_register"] != register:  # a code assigned to a replacement register must go on numbering
            message = said(Nn_(
                "%(register)s reused %(num)s voucher number main already holds for another sale (%(which)s; first "
                "imported for %(main)s, %(date)s): a number is issued once (DIAN), so it is held back; a code "
                "%(register)s took over must continue after the numbers main holds",
                "%(register)s reused %(num)s voucher numbers main already holds for another sale (%(which)s; first "
                "imported for %(main)s, %(date)s): a number is issued once (DIAN), so they are held back; a code "
                "%(register)s took over must continue after the numbers main holds"),
                register=register, num=len(mine), which=which, main=first["main_register"],
                date=str(first["main_date"]))
        elif first["main_date"] == first["date"]:
            message = said(Nn_(
                "%(register)s reused %(num)s voucher number main already holds for another sale (%(which)s; first "
                "imported for another issue time): a number is issued once (DIAN), so it is held back; was the "
                "register restored from a backup or reinstalled?",
                "%(register)s reused %(num)s voucher numbers main already holds for another sale (%(which)s; first "
                "imported for another issue time): a number is issued once (DIAN), so they are held back; was the "
                "register restored from a backup or reinstalled?"),
                register=register, num=len(mine), which=which)
        else:
            message = said(Nn_(
                "%(register)s reused %(num)s voucher number main already holds for another sale (%(which)s; first "
                "imported for %(date)s): a number is issued once (DIAN), so it is held back; was the register "
                "restored from a backup or reinstalled?",
                "%(register)s reused %(num)s voucher numbers main already holds for another sale (%(which)s; first "
                "imported for %(date)s): a number is issued once (DIAN), so they are held back; was the register "
                "restored from a backup or reinstalled?"),
                register=register, num=len(mine), which=which, date=str(first["main_date"]))
        samples: list[dict[str, object]] = []
        for r in mine[: ctx.sample_size]:
            samples.append({"version": "in main", "register": r["main_register"], "voucher_code": r["voucher_code"],
                            "number": r["number"], "date": r["main_date"], "issued_at": r["main_issued_at"],
                            "total": r["main_total"]})
            samples.append({"version": f"at {register} now", "register": register, "voucher_code": r["voucher_code"],
                            "number": r["number"], "date": r["date"], "issued_at": r["issued_at"],
                            "total": r["total"]})
        findings.append(Finding(
            check="number_reused",
            severity=Severity.REJECT_ROWS,
            registers=(register,),
            voucher_code=first["voucher_code"],
            rows=len(mine),
            **message,
            samples=tuple(samples),
            rejected_keys=tuple((r["register"], r["voucher_code"], r["number"]) for r in mine),
        ))
    return findings
