"""Checks that run on the staged batches of every register before anything is merged.

Each check is a pure `(batches, ctx) -> list[Finding]` and never raises on bad data; the
runner collects every finding first, then the policy decides what is held back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from validators import integrity, numbering, ownership
from validators.context import Batches, Context
from validators.findings import OWNERSHIP_CHECKS, Finding, Severity

Check = Callable[[Batches, Context], list[Finding]]

# SPEC "Checks before any merge", in run order.
CHECKS: tuple[Check, ...] = (
    ownership.code_in_two_registers,  # 1
    ownership.code_owned_by_other,  # 2
    integrity.duplicate_keys,  # 3
    integrity.orphans,  # 4
    integrity.required_and_casts,  # 5
    integrity.totals,  # 6
    integrity.negative_amounts,  # 7
    integrity.no_sales,
    numbering.prefix_number_twice,
    numbering.authorised_range,
    numbering.gaps,
    numbering.number_reused,  # 8
)


HOLDS = ("register", "code")


@dataclass(frozen=True)
class Decision:
    """The policy applied to the findings: registers held back whole, codes, and vouchers one by one."""

    rejected_registers: frozenset[str]
    rejected_keys: frozenset[tuple[str, str, int]]
    held_codes: frozenset[tuple[str, str]] = frozenset()  # (register, voucher_code), with --hold code


def intruders(finding: Finding) -> tuple[str, ...]:
    """The registers a code clash holds back: both sides of a new code, only the intruder on an owned one."""
    return finding.registers[:1] if finding.check == "code_owned_by_other" else finding.registers


def run_checks(batches: Batches, ctx: Context) -> list[Finding]:
    """Run every check; collect, never stop at the first problem."""
    findings: list[Finding] = []
    for check in CHECKS:
        findings.extend(check(batches, ctx))
    return findings


def decide(findings: list[Finding], registers: tuple[str, ...], all_or_nothing: bool,
           hold: str = "register") -> Decision:
    """Apply the policy: checks 1-2 reject registers (or, with hold "code", that code's vouchers at each),
    3-5 reject vouchers; --all-or-nothing rejects all.

    >>> f = Finding("duplicate_number", Severity.REJECT_ROWS, ("caja1",), "dup", 1,
    ...             rejected_keys=(("caja1", "FV1", 7),))
    >>> sorted(decide([f], ("caja1", "caja2"), all_or_nothing=True).rejected_registers)
    ['caja1', 'caja2']
    >>> decide([f], ("caja1", "caja2"), all_or_nothing=False).rejected_keys
    frozenset({('caja1', 'FV1', 7)})
    >>> clash = Finding("code_owned_by_other", Severity.REJECT_REGISTER, ("sur", "norte"), "FE1…", 1, "FE1")
    >>> decide([clash], ("sur", "norte"), False, hold="code").held_codes
    frozenset({('sur', 'FE1')})
    """
    rejected: set[str] = set()
    keys: set[tuple[str, str, int]] = set()
    codes: set[tuple[str, str]] = set()
    for finding in findings:
        if finding.severity is Severity.REJECT_REGISTER:
            # code_owned_by_other names the owner too, for the report; only the intruder is held back.
            if hold == "code" and finding.check in OWNERSHIP_CHECKS and finding.voucher_code is not None:
                codes.update((r, finding.voucher_code) for r in intruders(finding))
            else:
                rejected.update(intruders(finding))
        elif finding.severity is Severity.REJECT_ROWS:
            keys.update(finding.rejected_keys)
    if all_or_nothing and (rejected or keys or codes):
        rejected = set(registers)
    return Decision(frozenset(rejected), frozenset(keys), frozenset(codes))


__all__ = ["CHECKS", "HOLDS", "OWNERSHIP_CHECKS", "Batches", "Context", "Decision", "Finding", "Severity", "decide",
           "intruders", "run_checks"]
