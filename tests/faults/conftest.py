"""The reliability suite (rows of docs/guarantees.md): shared worlds, real subprocesses, invariants, the tally.

Every test here declares the docs/guarantees.md row(s) it turns into a case with `@pytest.mark.fault(n, ...)`;
the terminal summary prints how many cases were tried per row, and which rows have none.

A *world* is three registers (caja1..caja3, canonical SQLite, each on its own "share" folder,
`share1/caja1.db` …) registered in a main store; it is built once per session and copied per test.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl import paths
from sample_data import SampleSpec, generate
from tests.conftest import DAY1, Posync, content_sql, copy_world

DAY0 = "2026-11-25"  # the day before DAY1: a day with no sales in the sample registers
REGISTERS = ("caja1", "caja2", "caja3")
SPEC = {"registers": 3, "vouchers_per_day": 12, "products": 40, "customers": 10}

# --- the tally ----------------------------------------------------------------------------------

ROWS = {
    1: "register file missing or renamed",
    2: "share unreachable at start",
    3: "share drops during the copy or extract",
    4: "register locked by the POS",
    5: "file written while copied (torn snapshot)",
    6: "corrupt or truncated file",
    7: "wrong format (CSV, DuckDB storage version)",
    8: "schema drift: column added",
    9: "schema drift: column removed or renamed",
    10: "type drift",
    11: "same voucher code on two registers",
    12: "code owned by another register",
    13: "same (code, number) twice",
    14: "orphan lines/payments, empty header",
    15: "header total differs from lines/payments",
    16: "negative quantity or amount",
    17: "numeric edges",
    18: "non-UTF-8, NUL, control chars, emoji, 10 kB text",
    19: "midnight boundary",
    20: "register clock skew",
    21: "day with no sales",
    22: "voucher voided after import",
    23: "voucher gone from the register",
    24: "rerun of the same date",
    25: "kill -9 between extract and merge",
    26: "kill -9 during the merge commit",
    27: "crash after the merge, before the log",
    28: "concurrent runs",
    29: "catalog push interrupted",
    30: "replace push from a tiny main catalog",
    31: "push to a register whose schema drifted",
    32: "SQL injection in names, paths, mappings, values",
    33: "path tricks",
    34: "malformed mapping or config JSON",
    35: "huge day, bounded memory",
    36: "disk full",
    37: "loyalty rerun, edits, rejected vouchers",
    38: "rule conflicts between registers",
    39: "DIAN numbering",
    40: "voucher number reused on a later date",
    41: "PostgreSQL main: run lock lost mid-run",
    42: "PostgreSQL: standard_conforming_strings off",
    43: "non-UTF-8 byte in a non-text column; any crash",
    44: "mapping corrected, same file re-imported",
    45: "watch across midnight",
    46: "two main stores sharing one POSYNC_HOME",
    47: "register path is a repointed symlink",
    48: "codes differing by case or spaces",
    49: "Ctrl-C / SIGTERM outside watch",
    50: "-journal or -wal vanishes during the copy",
    51: "FIFO, device or dead share at remote add",
    52: "lax number and date text",
    53: "a row duplicated in one register's batch",
    54: "POSYNC_HOME unusable",
}

_rows_of: dict[str, tuple[int, ...]] = {}
_outcome: dict[str, str] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("fault")
        if marker is not None:
            _rows_of[item.nodeid] = tuple(int(r) for r in marker.args)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid not in _rows_of:
        return
    if hasattr(report, "wasxfail"):
        outcome = "xfailed" if report.skipped else "xpassed"
    elif report.failed:
        outcome = "failed"
    elif report.skipped:
        outcome = "skipped"
    else:
        outcome = "passed" if report.when == "call" else ""
    if outcome and _outcome.get(report.nodeid) in (None, "passed"):
        _outcome[report.nodeid] = outcome


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _outcome:
        return
    by_row: dict[int, Counter[str]] = {row: Counter() for row in ROWS}
    for nodeid, outcome in _outcome.items():
        for row in _rows_of[nodeid]:
            by_row.setdefault(row, Counter())[outcome] += 1
    write = terminalreporter.write_line
    terminalreporter.section("fault cases tried, by group (row of docs/guarantees.md)")
    for row, counts in sorted(by_row.items()):
        if not counts:
            continue
        text = ", ".join(f"{counts[k]} {k}" for k in ("passed", "failed", "xfailed", "xpassed", "skipped") if counts[k])
        write(f"  #{row:>2} {ROWS.get(row, '?'):<50} {sum(counts.values()):>3} tried: {text}")
    totals = Counter(_outcome.values())
    summary = ", ".join(f"{totals[k]} {k}" for k in ("passed", "failed", "xfailed", "xpassed", "skipped") if totals[k])
    write(f"  {len(_outcome)} fault cases over {sum(1 for c in by_row.values() if c)} rows: {summary}")
    untried = [str(row) for row, counts in sorted(by_row.items()) if not counts]
    if untried and len(_rows_of) == len(_outcome):  # the whole suite ran: say which rows it missed
        write(f"  rows without a case: {', '.join(untried)}")


# --- worlds -------------------------------------------------------------------------------------

CONTENT = {  # main as an import leaves it, without timestamps and ids of the run
    **{t: content_sql(t) for t in ("vouchers", "voucher_lines", "payments", "voucher_types")},
    "owners": "SELECT voucher_code, register FROM voucher_code_owners ORDER BY ALL",
    # the ledger's counts; not its snapshot hash, which changes whenever the register file's bytes do
    "batches": content_sql("import_batches", "snapshot_sha256"),
}


@dataclass
class World:
    """A private copy of the session's registers and main store; `posync` runs the CLI in-process."""

    root: Path
    posync: Posync

    @property
    def db(self) -> Path:
        return self.posync.db

    @property
    def data_dir(self) -> Path:
        return paths.data_dir(str(self.db))

    def reg(self, name: str) -> Path:
        """The register file of caja1..caja3 (on its own share folder)."""
        return self.root / f"share{name[-1]}" / f"{name}.db"

    def sql(self, name: str, *statements: str) -> None:
        """Change a register the way its POS would."""
        con = sqlite3.connect(self.reg(name))
        try:
            for statement in statements:
                con.execute(statement)
            con.commit()
        finally:
            con.close()

    def reg_rows(self, name: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        con = sqlite3.connect(self.reg(name))
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def content(self) -> dict[str, list[tuple[Any, ...]]]:
        return main_content(self.db)

    def digest(self) -> str:
        return hashlib.sha256(repr(self.content()).encode()).hexdigest()

    def cli(self, *args: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """posync as a real subprocess."""
        return subprocess.run(posync_argv(self.db, *args), capture_output=True, text=True, timeout=timeout,
                              env=subprocess_env(env))

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        # Ctrl-C as a terminal delivers it: a suite started in the background by a non-interactive shell
        # hands its children SIGINT ignored, and Python then installs no KeyboardInterrupt for it.
        return subprocess.Popen(posync_argv(self.db, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=subprocess_env(env), preexec_fn=_default_sigint)

    def staging_leftovers(self) -> list[Path]:
        staging = self.data_dir / "staging"
        return sorted(p for p in staging.rglob("*") if p.is_file()) if staging.exists() else []


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def posync_argv(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "etl", "--db", str(db), *args]


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSYNC_")}
    return {**env, "PYTHONUNBUFFERED": "1", **(extra or {})}


def main_content(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {name: con.execute(sql).fetchall() for name, sql in CONTENT.items()}
    finally:
        con.close()


def clone(template: Path, dest: Path) -> World:
    return World(dest, copy_world(template, dest))


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """caja1..caja3, one day (DAY1) of 12 vouchers each, each on its own share folder, registered."""
    base = tmp_path_factory.mktemp("faults-template")
    posync = Posync(base / "main.duckdb")
    for path in generate(base / "generated", SampleSpec(**SPEC)):
        share = base / f"share{path.stem[-1]}"
        share.mkdir()
        moved = path.rename(share / path.name)
        result = posync("remote", "add", path.stem, str(moved))
        assert result.exit_code == 0, result.output
    shutil.rmtree(base / "generated")
    return base


@pytest.fixture(scope="session")
def reference(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[Any, ...]]]:
    """Main after one clean, uninterrupted import of DAY1: what every rerun must converge to."""
    world = clone(template, tmp_path_factory.mktemp("faults-reference") / "world")
    result = world.posync("import", "--date", DAY1)
    assert result.exit_code == 0, result.output
    return world.content()


@pytest.fixture
def world(template: Path, tmp_path: Path) -> World:
    return clone(template, tmp_path / "world")


# --- checks every case reuses --------------------------------------------------------------------


def assert_invariants(world: World) -> None:
    """What must hold after any run, finished or killed: no key twice, no orphan, data ⇔ ledger."""
    con = duckdb.connect(str(world.db), read_only=True)
    try:
        _invariants(lambda sql: con.execute(sql).fetchall())
    finally:
        con.close()


def _invariants(rows: Any) -> None:
    assert rows("SELECT voucher_code, number FROM vouchers GROUP BY ALL HAVING count(*) > 1") == []
    for table, key in (("voucher_lines", "line_no"), ("payments", "seq")):
        assert rows(f"SELECT voucher_code, number, {key} FROM {table} GROUP BY ALL HAVING count(*) > 1") == []
        assert rows(f"SELECT * FROM {table} c WHERE NOT EXISTS (SELECT 1 FROM vouchers v "
                    "WHERE v.voucher_code = c.voucher_code AND v.number = c.number)") == []
    # data and its ledger commit together: main holds exactly what the ok/partial batches say they inserted
    data = dict(((r, d), n) for r, d, n in rows("SELECT register, date, count(*) FROM vouchers GROUP BY ALL"))
    ledger = dict(((r, d), int(n)) for r, d, n in rows(
        "SELECT register, process_date, sum(inserted) FROM import_batches "
        "WHERE status IN ('ok', 'partial') GROUP BY ALL") if n)
    assert data == ledger
    assert rows("SELECT voucher_code FROM voucher_code_owners GROUP BY ALL HAVING count(*) > 1") == []


def data(content: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """Main's data without its ledger (for runs that legitimately left extra ledger rows: partial, rejected)."""
    return {k: v for k, v in content.items() if k != "batches"}


def assert_converges(world: World, reference: dict[str, list[tuple[Any, ...]]], *args: str,
                     ledger: bool = True) -> None:
    """A plain rerun succeeds, leaves no staging behind, and gives main exactly as one clean import does."""
    rerun = world.posync("import", "--date", DAY1, *args)
    assert rerun.exit_code == 0, rerun.output
    assert (world.content() if ledger else data(world.content())) == (reference if ledger else data(reference))
    assert world.staging_leftovers() == []
    assert_invariants(world)


def wait_for(marker: Path, proc: subprocess.Popen[str], timeout: float = 90) -> None:
    """Until the subprocess touches its POSYNC_PAUSE_FILE; fail with its output if it exits first."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"posync exited {proc.returncode} before the fault point:\n{out}\n{err}")
        assert time.monotonic() < deadline, f"no fault point reached in {timeout} s"
        time.sleep(0.02)


def kill9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture
def paused(tmp_path: Path) -> Iterator[Path]:
    """A marker path for POSYNC_PAUSE_FILE."""
    yield tmp_path / "paused"


def error_lines(output: str) -> list[str]:
    """The lines of CLI output that name an error (the per-register lines and the final `error:`)."""
    return [line.strip() for line in output.splitlines() if "error" in line or line.startswith("  caja")]




def imported(world: World) -> list[str]:
    """The registers main holds vouchers of."""
    return [r for (r,) in world.posync.rows("SELECT DISTINCT register FROM vouchers ORDER BY 1")]


def logged_errors(world: World, register: str, action: str = "import") -> list[str]:
    """The messages of the register's error rows in sync_log (one per failed run)."""
    return [m for (m,) in world.posync.rows(
        "SELECT message FROM sync_log WHERE register = ? AND action = ? AND status = 'error' ORDER BY logged_at",
        [register, action])]



def import_json(world: World, *args: str, date: str = DAY1) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Run `import --json`: (exit code, the report, the counts per register)."""
    result = world.posync("import", "--date", date, "--json", *args)
    assert "Traceback" not in result.output
    document = json.loads(result.stdout)
    return result.exit_code, document["report"], document["counts"]


def findings(report: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["check"] == check]
