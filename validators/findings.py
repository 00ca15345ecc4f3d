"""What checks return: findings and their severity. Plain frozen data, no logic."""

from __future__ import annotations

import decimal
import enum
from dataclasses import dataclass
from typing import Any


def plural(n: int, word: str, many: str | None = None) -> str:
    """Count and noun, with thousands separators: "1 voucher", "1,412 vouchers".

    >>> plural(1, "voucher"), plural(1412, "voucher"), plural(0, "warning"), plural(2, "batch", "batches")
    ('1 voucher', '1,412 vouchers', '0 warnings', '2 batches')
    """
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def amount_text(value: decimal.Decimal) -> str:
    """An amount with the digits it has: at least two decimals, more only when they are there.

    >>> [amount_text(decimal.Decimal(v)) for v in ("12.5000", "0.0010", "12.3456", "1000", "-0.1250")]
    ['12.50', '0.001', '12.3456', '1000.00', '-0.125']
    """
    text = format(value.normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


OWNERSHIP_CHECKS = ("code_in_two_registers", "code_owned_by_other")  # checks 1 and 2: a voucher-code clash


class Severity(enum.StrEnum):
    REJECT_REGISTER = "reject_register"  # the register's whole batch is held back (checks 1, 2)
    REJECT_ROWS = "reject_rows"  # the vouchers named in rejected_keys are held back (checks 3-5)
    WARNING = "warning"  # reported; changes nothing (checks 6, 7, gaps)


@dataclass(frozen=True)
class Finding:
    """One problem found by one check.

    rejected_keys: (register, voucher_code, number) of the vouchers held back, for REJECT_ROWS.
    samples: a few offending rows, as plain dicts, for the report.
    """

    check: str
    severity: Severity
    registers: tuple[str, ...]
    message: str
    rows: int
    voucher_code: str | None = None
    samples: tuple[dict[str, Any], ...] = ()
    rejected_keys: tuple[tuple[str, str, int], ...] = ()
    per_register: tuple[tuple[str, int], ...] = ()  # a code clash: each register's vouchers of that code

    @property
    def is_rejection(self) -> bool:
        return self.severity is not Severity.WARNING

    def code_vouchers(self, register: str) -> int:
        """How many vouchers of the clashing code this register sent (0 when it sent none)."""
        return dict(self.per_register).get(register, 0)

