"""The benchmark's data under bench/data/: generated once, reused while its stamp matches.

Registers come from the `sample_data` generator (set-based SQL in DuckDB); everything derived
from them (main stores with the registers added, a main that already holds the day, registers
with 1% of the day's vouchers voided, the catalog pair) is built with set-based SQL or with
posync's own CLI, and cached beside a `.stamp.json` that names what it was built from. A
changed spec, generator or scale rebuilds only what depends on it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from bench.reference import day_select, literal
from sample_data import SampleSpec

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
DATA = ROOT / "data"
BIN = Path(sys.executable).parent
POSYNC = str(BIN / "posync")
# A fixed past start: the day imported must not be in the future (check 5 holds those back).
START = date(2025, 10, 1)
PRODUCTS = 10_000  # a register's own catalog in the voucher sets (the 1M catalog is its own case)
CUSTOMERS = 5_000
VOID_EVERY = 100  # overwrite: 1 voucher in 100 of the day is voided at the register after the import


@dataclass(frozen=True)
class RegisterSet:
    """Generated registers, the day the benchmark imports, and that day's size per register."""

    key: str
    folder: Path
    names: tuple[str, ...]
    day: date
    rows_by_register: dict[str, int]  # header + line rows of the day
    payments_by_register: dict[str, int]
    stamp: str

    def pairs(self, n: int | None = None) -> list[tuple[str, str]]:
        """(name, path) of the first n registers."""
        return [(name, str(self.folder / f"{name}.db")) for name in self.names[: n or len(self.names)]]

    def rows(self, n: int | None = None) -> int:
        return sum(self.rows_by_register[name] for name in self.names[: n or len(self.names)])


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def generator_digest() -> str:
    """Changes when the sample_data generator's code changes, so stale data is rebuilt."""
    sources = sorted((REPO / "sample_data").glob("*.py")) + [REPO / "etl" / "schema.py"]
    return _digest(*[hashlib.sha256(p.read_bytes()).hexdigest() for p in sources])


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".stamp.json")


def cached(target: Path, stamp: str, build: Callable[[Path], dict[str, object] | None],
           say: Callable[[str], None]) -> dict[str, object]:
    """Build target (a file or folder) unless its stamp says it was built from the same inputs."""
    stamp_file = _stamp_path(target)
    if target.exists() and stamp_file.exists():
        doc = json.loads(stamp_file.read_text())
        if doc.get("stamp") == stamp:
            facts: dict[str, object] = doc.get("facts", {})
            return facts
    stamp_file.unlink(missing_ok=True)
    _remove(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    facts = build(target) or {}
    say(f"  built {target.relative_to(ROOT)} in {time.perf_counter() - started:.1f} s")
    stamp_file.write_text(json.dumps({"stamp": stamp, "facts": facts}, indent=1))
    return facts


def _remove(target: Path) -> None:
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)
        for side in (".wal",):
            target.with_name(target.name + side).unlink(missing_ok=True)


def run_posync(*args: str) -> str:
    """posync's CLI, for untimed set-up; raises with its stderr when it fails."""
    done = subprocess.run([POSYNC, *args], capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"posync {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-1500:]}")
    return done.stdout


def generate(folder: Path, spec: SampleSpec) -> None:
    """`python -m sample_data` in its own process: its memory and progress bars stay out of the runner."""
    argv = [sys.executable, "-m", "sample_data", "--out", str(folder), "--registers", str(spec.registers),
            "--days", str(spec.days), "--start", str(spec.start), "--vouchers", str(spec.vouchers_per_day),
            "--products", str(spec.products), "--customers", str(spec.customers), "--seed", str(spec.seed)]
    for name in spec.names or ():
        argv += ["--name", name]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"sample_data exited {done.returncode}: {done.stderr.strip()[-1500:]}")


def registers(n: int, days: int, vouchers: int, say: Callable[[str], None]) -> RegisterSet:
    """n canonical SQLite registers keeping `days` days of history; the day imported is the last one."""
    spec = SampleSpec(registers=n, start=START, days=days, vouchers_per_day=vouchers,
                      products=PRODUCTS, customers=CUSTOMERS)
    key = f"regs-r{n}-d{days}-v{vouchers}"
    folder = DATA / key
    day = START + timedelta(days=days - 1)
    stamp = _digest(repr(spec), generator_digest())

    def build(target: Path) -> dict[str, object]:
        say(f"  generating {key}: {n} registers x {days} days x {vouchers:,} vouchers ...")
        generate(target, spec)
        rows, payments = count_day(target, spec.register_names, day)
        return {"rows": rows, "payments": payments}

    facts = cached(folder, stamp, build, say)
    rows, payments = facts["rows"], facts["payments"]
    assert isinstance(rows, dict) and isinstance(payments, dict)  # as build() wrote them
    return RegisterSet(key, folder, spec.register_names, day, dict(rows), dict(payments), stamp)


def count_day(folder: Path, names: tuple[str, ...], day: date) -> tuple[dict[str, int], dict[str, int]]:
    """Header + line rows, and payment rows, of the day at each register."""
    from bench.reference import _connect

    con = _connect()
    rows, payments = {}, {}
    for name in names:
        con.execute(f"ATTACH {literal(str(folder / f'{name}.db'))} AS r (TYPE sqlite, READ_ONLY)")
        counts = [con.execute(f"SELECT count(*) FROM ({day_select(t, 'r', name, str(day), False)})").fetchall()[0][0]
                  for t in ("vouchers", "voucher_lines", "payments")]
        con.execute("DETACH r")
        rows[name], payments[name] = int(counts[0] + counts[1]), int(counts[2])
    con.close()
    return rows, payments


def empty_main(regs: RegisterSet, n: int, say: Callable[[str], None]) -> Path:
    """An initialised main store with the first n registers added (`posync remote add`)."""
    target = DATA / "mains" / f"{regs.key}-n{n}-empty.duckdb"

    def build(path: Path) -> None:
        for name, reg_path in regs.pairs(n):
            run_posync("--db", str(path), "remote", "add", name, reg_path)

    cached(target, _digest(regs.stamp, n, "empty"), build, say)
    return target


def imported_main(regs: RegisterSet, say: Callable[[str], None]) -> Path:
    """A main store that already holds the day, imported (insert mode) from every register."""
    empty = empty_main(regs, len(regs.names), say)
    target = DATA / "mains" / f"{regs.key}-imported.duckdb"

    def build(path: Path) -> None:
        shutil.copyfile(empty, path)
        run_posync("--db", str(path), "import", "--date", str(regs.day))

    cached(target, _digest(regs.stamp, "imported"), build, say)
    return target


def voided_registers(regs: RegisterSet, say: Callable[[str], None]) -> Path:
    """A copy of the registers where 1 voucher in VOID_EVERY of the day was voided after the import."""
    target = DATA / f"{regs.key}-voided"

    def build(folder: Path) -> None:
        folder.mkdir(parents=True)
        for name, path in regs.pairs():
            copy = folder / f"{name}.db"
            shutil.copyfile(path, copy)
            with closing(sqlite3.connect(copy)) as db:
                db.execute(
                    "UPDATE vouchers SET status = 'void', updated_at = datetime(updated_at, '+2 hours') "
                    "WHERE date = ? AND status = 'issued' AND number % ? = 0",
                    [str(regs.day), VOID_EVERY],
                )
                db.commit()

    cached(target, _digest(regs.stamp, VOID_EVERY, "voided"), build, say)
    return target


def overwrite_main(regs: RegisterSet, say: Callable[[str], None]) -> Path:
    """The imported main, its registers pointed (`posync remote edit`) at the voided copies."""
    imported, voided = imported_main(regs, say), voided_registers(regs, say)
    target = DATA / "mains" / f"{regs.key}-overwrite.duckdb"

    def build(path: Path) -> None:
        shutil.copyfile(imported, path)
        for name in regs.names:
            run_posync("--db", str(path), "remote", "edit", name, "--path", str(voided / f"{name}.db"))

    cached(target, _digest(regs.stamp, VOID_EVERY, "overwrite"), build, say)
    return target


@dataclass(frozen=True)
class CatalogPair:
    """main's catalog as a SQLite file (what sqldiff compares) and the register that drifted from it."""

    main_sqlite: Path
    register: Path
    main_store: Path  # posync main holding the same catalog, register caja1 = `register_live`
    register_live: Path  # where each run gets a fresh copy of `register`
    rows: int


def catalog(rows: int, say: Callable[[str], None]) -> CatalogPair:
    """A `rows`-product catalog in main; a register copy with ~1% changed, 0.1% missing, 0.1% extra."""
    spec = SampleSpec(names=("caja1",), start=START, days=1, vouchers_per_day=1, products=rows, customers=1_000)
    folder = DATA / f"catalog-p{rows}"
    stamp = _digest(repr(spec), generator_digest(), "catalog-v1")

    def build(target: Path) -> None:
        say(f"  generating a {rows:,}-product catalog ...")
        generate(target / "gen", spec)
        main_sqlite = target / "main_catalog.db"
        (target / "gen" / "caja1.db").replace(main_sqlite)
        shutil.rmtree(target / "gen")
        register = target / "register.db"
        shutil.copyfile(main_sqlite, register)
        with closing(sqlite3.connect(register)) as db:  # set-based drift, keyed on the product number
            n = "CAST(substr(product_id, 2) AS INTEGER)"
            db.execute(f"UPDATE products SET price = price + 100, updated_at = datetime(updated_at, '+1 day') "
                       f"WHERE {n} % 100 = 7")
            db.execute(f"DELETE FROM products WHERE {n} % 1000 = 3")
            db.execute(f"INSERT INTO products SELECT 'X' || substr(product_id, 2), name || ' (local)', NULL, "
                       f"category, unit, price, tax_id, active, updated_at FROM products WHERE {n} % 1000 = 5")
            db.commit()
        live = target / "live" / "caja1.db"
        live.parent.mkdir()
        shutil.copyfile(register, live)
        store = target / "main.duckdb"
        run_posync("--db", str(store), "remote", "add", "caja1", str(live))
        load_catalogs(store, main_sqlite)

    cached(folder, stamp, build, say)
    return CatalogPair(folder / "main_catalog.db", folder / "register.db", folder / "main.duckdb",
                       folder / "live" / "caja1.db", rows)


# main's own edits after a push: 1% of products changed, 0.1% deleted, 0.1% added ({n}: the product number)
_MAIN_EDITS = (
    "UPDATE products SET price = price + 50, updated_at = {later} WHERE {n} % 100 = 11",
    "DELETE FROM products WHERE {n} % 1000 = 13",
    "INSERT INTO products SELECT 'Y' || substr(product_id, 2), name || ' (nuevo)', NULL, category, unit, price, "
    "tax_id, active, updated_at FROM products WHERE {n} % 1000 = 17 AND product_id LIKE 'P%'",
)


def catalog_since_push(pair: CatalogPair, say: Callable[[str], None]) -> CatalogPair:
    """The usual partial push: a first push brought the register to main's catalog (and recorded
    main's push state); since then main changed 1% of its products, deleted 0.1% and added 0.1%.
    main_sqlite is main's catalog now, as SQLite, for sqldiff; register is the register after the push."""
    folder = DATA / f"{pair.main_store.parent.name}-pushed"
    n = "CAST(substr(product_id, 2) AS INTEGER)"

    def build(target: Path) -> None:
        target.mkdir(parents=True)
        store = target / "main.duckdb"
        shutil.copyfile(pair.main_store, store)
        shutil.copyfile(pair.register, pair.register_live)
        run_posync("--db", str(store), "catalogs", "push", "--mode", "partial", "--remote", "caja1",
                   "--table", "products")
        shutil.copyfile(pair.register_live, target / "register.db")
        main_sqlite = target / "main_catalog.db"
        shutil.copyfile(pair.main_sqlite, main_sqlite)
        with closing(sqlite3.connect(main_sqlite)) as db:
            for sql in _MAIN_EDITS:
                db.execute(sql.format(n=n, later="datetime(updated_at, '+1 day')"))
            db.commit()
        from bench.reference import _connect

        con = _connect(str(store))
        for sql in _MAIN_EDITS:
            con.execute(sql.format(n=n, later="updated_at + INTERVAL 1 DAY"))
        con.execute(f"ATTACH {literal(str(main_sqlite))} AS s (TYPE sqlite, READ_ONLY)")
        differ = con.execute("SELECT count(*) FROM (SELECT * FROM products EXCEPT ALL SELECT * FROM s.products)"
                             ).fetchone()
        con.close()
        if differ and differ[0]:
            raise RuntimeError(f"main's products and {main_sqlite.name} differ in {differ[0]} rows")

    cached(folder, _digest(_stamp_of(pair.main_store.parent), _MAIN_EDITS, "pushed-v1"), build, say)
    return CatalogPair(folder / "main_catalog.db", folder / "register.db", folder / "main.duckdb",
                       pair.register_live, pair.rows)


def _stamp_of(target: Path) -> str:
    stamp: str = json.loads(_stamp_path(target).read_text())["stamp"]
    return stamp


def load_catalogs(store: Path, source: Path) -> None:
    """main's catalog tables = the generated catalog (what the register had before it drifted)."""
    from bench.reference import _connect

    con = _connect(str(store))
    con.execute(f"ATTACH {literal(str(source))} AS src (TYPE sqlite, READ_ONLY)")
    for table in ("taxes", "payment_methods", "customers", "products"):
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM src.{table}")
    con.close()


def fresh_copy(template: Path, run_dir: Path) -> Path:
    """An empty run folder holding a copy of the template main store as main.duckdb."""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    target = run_dir / "main.duckdb"
    shutil.copyfile(template, target)
    return target
