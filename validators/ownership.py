"""Checks 1 and 2: a voucher code belongs to exactly one register (SPEC "The rule that matters most")."""

from __future__ import annotations

from validators.context import Batches, Context
from validators.findings import N_, Finding, Severity, said


def code_in_two_registers(batches: Batches, ctx: Context) -> list[Finding]:
    """Check 1: the same unowned voucher_code in two registers' batches rejects every register involved.

    A code main already gives to a register is check 2's business: only the intruders are held back.
    """
    conflicts = batches.rows(
        """
        SELECT voucher_code, list(DISTINCT register ORDER BY register) AS registers,
               count(*) AS vouchers, min(number) AS first_number, max(number) AS last_number
        FROM stage.vouchers s
        WHERE voucher_code IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM voucher_code_owners o WHERE o.voucher_code = s.voucher_code)
        GROUP BY voucher_code HAVING count(DISTINCT register) > 1
        ORDER BY voucher_code
        """
    )
    findings = []
    for c in conflicts:
        per_register = tuple((r["register"], int(r["n"])) for r in batches.rows(
            "SELECT register, count(*) AS n FROM stage.vouchers WHERE voucher_code = ? GROUP BY ALL ORDER BY ALL",
            [c["voucher_code"]]))
        if ctx.hold == "code":
            involved = sum(n for _, n in per_register)
            template = N_("%(code)s was issued by both %(registers)s on %(date)s: their %(n)s %(code)s vouchers "
                          "held back; their other codes go on (--hold code)")
        else:
            involved = batches.rows(
                "SELECT count(*) AS n FROM stage.vouchers WHERE list_contains(?, register)", [c["registers"]]
            )[0]["n"]
            template = N_("%(code)s was issued by both %(registers)s on %(date)s: %(n)s vouchers held back")
        samples = batches.rows(
            """SELECT register, voucher_code, number, date, total FROM stage.vouchers
               WHERE voucher_code = ? ORDER BY number, register LIMIT ?""",
            [c["voucher_code"], ctx.sample_size * 2],
        )
        findings.append(Finding(
            check="code_in_two_registers",
            severity=Severity.REJECT_REGISTER,
            registers=tuple(c["registers"]),
            voucher_code=c["voucher_code"],
            rows=int(involved),
            **said(template, code=c["voucher_code"], registers=tuple(c["registers"]), date=str(ctx.process_date),
                   n=int(involved)),
            samples=tuple(samples),
            per_register=per_register,
        ))
    return findings


def code_owned_by_other(batches: Batches, ctx: Context) -> list[Finding]:
    """Check 2: a voucher_code that voucher_code_owners gives to another register rejects this one."""
    stolen = batches.rows(
        """
        SELECT s.register, s.voucher_code, o.register AS owner, count(*) AS vouchers,
               min(s.number) AS first_number, max(s.number) AS last_number
        FROM stage.vouchers s JOIN voucher_code_owners o ON o.voucher_code = s.voucher_code
        WHERE o.register <> s.register
        GROUP BY ALL ORDER BY s.register, s.voucher_code
        """
    )
    findings = []
    for s in stolen:
        if ctx.hold == "code":
            held = s["vouchers"]
            template = N_("%(code)s belongs to %(owner)s but %(register)s issued %(n)s of them on %(date)s (numbers "
                          "%(first)s–%(last)s): those %(held)s held back; %(register)s's other codes go on (--hold "
                          "code)")
        else:
            held = batches.rows("SELECT count(*) AS n FROM stage.vouchers WHERE register = ?",
                                [s["register"]])[0]["n"]
            template = N_("%(code)s belongs to %(owner)s but %(register)s issued %(n)s of them on %(date)s (numbers "
                          "%(first)s–%(last)s): all %(held)s vouchers of %(register)s held back")
        findings.append(Finding(
            check="code_owned_by_other",
            severity=Severity.REJECT_REGISTER,
            registers=(s["register"], s["owner"]),
            voucher_code=s["voucher_code"],
            rows=int(held),
            **said(template, code=s["voucher_code"], owner=s["owner"], register=s["register"], n=int(s["vouchers"]),
                   date=str(ctx.process_date), first=str(s["first_number"]), last=str(s["last_number"]),
                   held=int(held)),
            samples=({"register": s["register"], "voucher_code": s["voucher_code"], "owner": s["owner"],
                      "first_number": s["first_number"], "last_number": s["last_number"]},),
            per_register=((s["register"], int(s["vouchers"])),),
        ))
    return findings
