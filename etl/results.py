"""What an import or a validation did, per register and for the whole day: the pipeline's results.

The checks in `validators/` return findings; these types gather them with the merge's counts, for the
report (etl/report.py), the CLI and the console. Plain frozen data, no logic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from validators.findings import Finding


@dataclass(frozen=True)
class Plan:
    """What an import would do for one register (like `terraform plan`, for a day of sales)."""

    new: int = 0
    unchanged: int = 0
    changed_at_source: int = 0
    missing_at_register: int = 0
    held_back: int = 0

    @property
    def overwrite_would_update(self) -> int:
        return self.changed_at_source


@dataclass(frozen=True)
class RegisterSummary:
    """Per-register outcome of validation (and, after an import, of the merge)."""

    name: str
    status: str  # accepted | partial | rejected | error | identical
    vouchers: int = 0
    lines: int = 0
    payments: int = 0
    plan: Plan = field(default_factory=Plan)
    error: str | None = None


@dataclass(frozen=True)
class Report:
    process_date: dt.date
    generated_at: dt.datetime
    registers: tuple[RegisterSummary, ...]
    findings: tuple[Finding, ...]
    all_or_nothing: bool = False
    hold: str = "register"  # what a code clash held back: the register's whole batch, or that code's vouchers

    @property
    def rejected_registers(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.registers if r.status == "rejected")

    @property
    def has_rejections(self) -> bool:
        return any(f.is_rejection for f in self.findings)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.is_rejection)
