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


def N_(message: str, /) -> str:
    """Mark a message for the catalog: posync's report translates it where it is shown (validators need no etl)."""
    return message


def NP_(context: str, message: str, /) -> str:
    """Mark a word with a context (a word that means two things) for the catalog; posync's report says it."""
    return message


def both(names: tuple[str, ...] | list[str]) -> str:
    """Register names as English says them.

    >>> both(["caja1"]), both(["caja1", "caja2"]), both(("caja1", "caja2", "caja3"))
    ('caja1', 'caja1 and caja2', 'caja1, caja2 and caja3')
    """
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]


def Nn_(singular: str, plural: str, /) -> tuple[str, str]:
    """Mark a message said of a count (%(num)s) for the catalog: its singular and its plural."""
    return singular, plural


def said(template: str | tuple[str, str], **params: Any) -> dict[str, Any]:
    """A finding's message in English, with the msgid and values a report translates it from.

    A template made with Nn_ is chosen by the count `num`, written with thousands separators (other ints as
    they are).

    >>> said("%(code)s in %(registers)s", code="FV1", registers=("caja1", "caja2"))["message"]
    'FV1 in caja1 and caja2'
    >>> said(Nn_("%(num)s voucher in %(r)s", "%(num)s vouchers in %(r)s"), num=1412, r="caja1")["message"]
    '1,412 vouchers in caja1'
    """
    english = {k: both(v) if isinstance(v, tuple) else v for k, v in params.items()}
    if isinstance(template, tuple):
        singular, plural = template
        num = params["num"]
        english["num"] = f"{num:,}"
        return {"message": (singular if num == 1 else plural) % english, "template": singular, "plural": plural,
                "params": tuple(params.items())}
    return {"message": template % english, "template": template, "params": tuple(params.items())}


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
    template: str = ""  # the English msgid `message` was made from (see `said`); "" when there is none yet
    params: tuple[tuple[str, Any], ...] = ()  # its %(name)s values: ints are counts, tuples are register names
    plural: str = ""  # the plural msgid when `template` is said of the count `num` (see `Nn_`)

    @property
    def is_rejection(self) -> bool:
        return self.severity is not Severity.WARNING

    def code_vouchers(self, register: str) -> int:
        """How many vouchers of the clashing code this register sent (0 when it sent none)."""
        return dict(self.per_register).get(register, 0)

