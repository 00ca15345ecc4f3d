"""Checks 1 and 2: a voucher code belongs to exactly one register (SPEC "The rule that matters most")."""

from __future__ import annotations

from validators.context import Batches, Context
from validators.findings import Finding, Severity


def _both(names: list[str]) -> str:
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]


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
            held = (f"their {involved} {c['voucher_code']} vouchers held back; their other codes go on "
                    "(--hold code)")
        else:
            involved = batches.rows(
                "SELECT count(*) AS n FROM stage.vouchers WHERE list_contains(?, register)", [c["registers"]]
            )[0]["n"]
            held = f"{involved} vouchers held back"
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
            message=f"{c['voucher_code']} was issued by both {_both(c['registers'])} on {ctx.process_date}: {held}",
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
            what = f"those {held} held back; {s['register']}'s other codes go on (--hold code)"
        else:
            held = batches.rows("SELECT count(*) AS n FROM stage.vouchers WHERE register = ?",
                                [s["register"]])[0]["n"]
            what = f"all {held} vouchers of {s['register']} held back"
        findings.append(Finding(
            check="code_owned_by_other",
            severity=Severity.REJECT_REGISTER,
            registers=(s["register"], s["owner"]),
            voucher_code=s["voucher_code"],
            rows=int(held),
            message=(
                f"{s['voucher_code']} belongs to {s['owner']} but {s['register']} issued {s['vouchers']} of them "
                f"on {ctx.process_date} (numbers {s['first_number']}–{s['last_number']}): {what}"
            ),
            samples=({"register": s["register"], "voucher_code": s["voucher_code"], "owner": s["owner"],
                      "first_number": s["first_number"], "last_number": s["last_number"]},),
            per_register=((s["register"], int(s["vouchers"])),),
        ))
    return findings
