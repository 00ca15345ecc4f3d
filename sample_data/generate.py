"""Deterministic sample registers ("cajas"): the public API.

>>> spec = SampleSpec(names=("caja4",))
>>> spec.registers, [r.codes for r in plan_registers(spec)]
(1, [('FV4', 'NC4')])
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

import duckdb

from sample_data.engines import ENGINES, load_sqlite_extension, set_sqlite_text, write_register
from sample_data.layouts import FLAVOURS, LAYOUTS
from sample_data.rows import build_rows

FAULTS: tuple[str, ...] = ("code_conflict", "duplicate_number", "orphan_lines", "bad_types")
BAD_TOTAL = "1.234,56"  # bad_types: a total typed the Spanish way, kept as text by SQLite
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class SampleSpec:
    """What to generate. The same spec always gives the same rows, in either flavour.

    When `names` is given it decides the registers (and `registers` becomes
    len(names)); each register's codes take the trailing digits of its name
    (caja4 issues FV4/NC4), else its position.
    """

    registers: int = 3
    start: date = date(2026, 11, 26)
    days: int = 1
    vouchers_per_day: int = 20
    min_lines: int = 1
    max_lines: int = 9
    flavour: str = "canonical"
    engine: str = "sqlite"
    seed: int = 7
    products: int = 200
    customers: int = 50
    faults: frozenset[str] = frozenset()
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        # Normalise what callers may pass loosely (a list of faults, a datetime, names for a count).
        object.__setattr__(self, "faults", frozenset(self.faults))
        if isinstance(self.start, datetime):
            object.__setattr__(self, "start", self.start.date())
        if self.names is not None:
            object.__setattr__(self, "names", tuple(self.names))
            object.__setattr__(self, "registers", len(self.names))
        if problems := list(_problems(self)):
            raise ValueError("invalid sample spec: " + "; ".join(problems))

    @property
    def register_names(self) -> tuple[str, ...]:
        """caja1..cajaN, or the names given."""
        return self.names if self.names is not None else tuple(f"caja{i}" for i in range(1, self.registers + 1))


def _problems(spec: SampleSpec) -> Iterable[str]:
    """Every reason a spec can't be generated, in plain words."""
    limits = {"registers": 1, "days": 1, "vouchers_per_day": 1, "min_lines": 1, "products": 1, "customers": 0}
    for name, low in limits.items():
        if getattr(spec, name) < low:
            yield f"{name} must be >= {low}, got {getattr(spec, name)}"
    if spec.max_lines < spec.min_lines:
        yield f"max_lines ({spec.max_lines}) must be >= min_lines ({spec.min_lines})"
    if spec.flavour not in FLAVOURS:
        yield f"unknown flavour {spec.flavour!r}; choose one of {', '.join(FLAVOURS)}"
    if spec.engine not in ENGINES:
        yield f"unknown engine {spec.engine!r}; choose one of {', '.join(ENGINES)}"
    if unknown := sorted(spec.faults - set(FAULTS)):
        yield f"unknown fault(s) {', '.join(unknown)}; choose from {', '.join(FAULTS)}"
    if "code_conflict" in spec.faults and spec.registers < 2:
        yield "code_conflict needs at least 2 registers (caja2 issues caja1's invoice code)"
    if "bad_types" in spec.faults and spec.engine != "sqlite":
        yield "bad_types needs engine 'sqlite': only SQLite can keep the text '1.234,56' in an amount column"
    yield from _name_problems(spec.register_names)


def _name_problems(names: tuple[str, ...]) -> Iterable[str]:
    """Register names must be file-safe, unique, and map to distinct code indexes."""
    for name in names:
        if not _NAME.fullmatch(name):
            yield f"register name {name!r} must match [A-Za-z0-9_-]{{1,64}}"
    if len(set(names)) != len(names):
        yield f"register names repeat: {', '.join(names)}"
    indexes = [register_index(n, i) for i, n in enumerate(names, start=1)]
    if len(set(indexes)) != len(indexes):
        yield f"register names give the same voucher codes twice: {', '.join(names)}"


def register_index(name: str, position: int) -> int:
    """The number in a register's voucher codes: its name's trailing digits, else its position.

    >>> register_index("caja4", 1), register_index("norte", 2)
    (4, 2)
    """
    digits = re.search(r"(\d+)$", name)
    return int(digits.group(1)) if digits else position


@dataclass(frozen=True)
class Register:
    """One register to write: name, code index and the faults it carries."""

    name: str
    index: int
    borrowed_index: int | None = None  # code_conflict: also issues this register's invoice code
    duplicate: bool = False
    orphans: bool = False
    bad_types: bool = False

    @property
    def codes(self) -> tuple[str, str]:
        """Its own (invoice, credit note) codes."""
        return f"FV{self.index}", f"NC{self.index}"


def plan_registers(spec: SampleSpec) -> list[Register]:
    """Registers in order; faults land on caja1 (position 1), code_conflict on position 2."""
    names = spec.register_names
    indexes = [register_index(n, i) for i, n in enumerate(names, start=1)]
    faults = spec.faults
    return [
        Register(
            name,
            index,
            borrowed_index=indexes[0] if pos == 2 and "code_conflict" in faults else None,
            duplicate=pos == 1 and "duplicate_number" in faults,
            orphans=pos == 1 and "orphan_lines" in faults,
            bad_types=pos == 1 and "bad_types" in faults,
        )
        for pos, (name, index) in enumerate(zip(names, indexes, strict=True), start=1)
    ]


def _params(spec: SampleSpec, reg: Register) -> dict[str, object]:
    """Query parameters for one register (see rows.build_rows)."""
    fv, nc = reg.codes
    return {
        "seed": spec.seed,
        "index": reg.index,
        "register": reg.name,
        "fv": fv,
        "nc": nc,
        "borrowed": None if reg.borrowed_index is None else f"FV{reg.borrowed_index}",
        "borrowed_index": reg.borrowed_index,
        "start": spec.start,
        "days": spec.days,
        "vouchers": spec.vouchers_per_day,
        "min_lines": spec.min_lines,
        "max_lines": spec.max_lines,
        "products": spec.products,
        "customers": spec.customers,
        "duplicate": reg.duplicate,
        "orphans": reg.orphans,
    }


def _write_one(out_dir: Path, spec: SampleSpec, reg: Register, threads: int) -> Path:
    """Generate and write one register file with its own DuckDB instance."""
    engine, layout = ENGINES[spec.engine], LAYOUTS[spec.flavour]
    path = out_dir / f"{reg.name}{engine.suffix}"
    with closing(duckdb.connect(config={"threads": threads})) as con:
        load_sqlite_extension(con)
        build_rows(con, _params(spec, reg))
        keyless = frozenset({"vouchers"}) if reg.duplicate else frozenset()
        write_register(con, path, engine, layout, keyless)
        if reg.bad_types:
            _break_a_total(con, path, spec, reg)
    return path


def _break_a_total(con: duckdb.DuckDBPyConnection, path: Path, spec: SampleSpec, reg: Register) -> None:
    """bad_types: store BAD_TOTAL as the total of the first invoice of the first day."""
    target = LAYOUTS[spec.flavour]["vouchers"]
    row = con.execute(
        "SELECT voucher_code, number FROM vouchers WHERE date = $1 AND voucher_code = $2 ORDER BY number LIMIT 1",
        [spec.start, reg.codes[0]],
    ).fetchone()
    assert row is not None  # the first voucher of a day is always an invoice
    key = {target.column_for("voucher_code"): row[0], target.column_for("number"): row[1]}
    set_sqlite_text(con, path, target, target.column_for("total"), BAD_TOTAL, key)


def generate(out_dir: Path, spec: SampleSpec) -> list[Path]:
    """Write one register file per register of the spec, overwriting existing ones.

    Registers are independent, so they are written in parallel, one DuckDB
    instance each (the SQLite writer is single-threaded).

    Args:
        out_dir: folder for the files (created if missing).
        spec: what to generate.

    Returns:
        The files written (caja1.db … or caja1.duckdb …), in register order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    registers = plan_registers(spec)
    cpus = os.cpu_count() or 1
    workers = min(len(registers), cpus)
    threads = max(1, cpus // workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda reg: _write_one(out_dir, spec, reg, threads), registers))


# The committed sample_data/ready/ set (see ready/README.md).
READY_SPEC = SampleSpec(
    registers=3,
    start=date(2026, 11, 25),
    days=2,
    vouchers_per_day=25,
    products=60,
    customers=20,
    faults=frozenset({"code_conflict"}),
)
READY_LEGACY_SPEC = replace(READY_SPEC, flavour="legacy_es", names=("caja4",), faults=frozenset())


def build_ready(out_dir: Path) -> list[Path]:
    """Write the ready-made set: caja1-3.db (canonical, caja2 with code_conflict) and caja4_legacy.db.

    Files are VACUUMed so the committed set stays small.
    """
    out_dir = Path(out_dir)
    paths = generate(out_dir, READY_SPEC)
    (legacy,) = generate(out_dir, READY_LEGACY_SPEC)
    paths.append(legacy.replace(out_dir / "caja4_legacy.db"))
    for path in paths:
        with closing(sqlite3.connect(path)) as db:
            db.execute("VACUUM")
    return paths
