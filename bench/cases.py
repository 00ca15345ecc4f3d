"""The benchmark cases: each a function of the Bench that appends Results and Targets.

Every measured run is a fresh process on a fresh copy of its main store (copied before the
clock starts). posync is always run through its CLI, exactly as cron would run it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import datasets as ds
from bench.measure import Command, Sample, measure, run_once
from bench.reference import DLT_ENV, MAIN_COLUMNS
from bench.report import Result, Target

PY = sys.executable
RUNS = ds.DATA / "runs"
PROFILES = ds.ROOT / "profiles"
REGISTERS = 10
HISTORY = 7
VOUCHERS = 20_000
CATALOG_ROWS = 1_000_000
PEAK_LIMIT_MB = 300
FLAT = 1.3  # "does not grow with registers": the 10-register peak ≤ 1.3x the 1-register one
HISTORY_FLAT = 1.15  # the day's import on 30 days of history ≤ 1.15x its time on 1 day


@dataclass
class Bench:
    """Settings of this run, what it measured, and the posync commands to profile if a target is missed."""

    scale: float = 1.0
    runs: int = 5
    big_runs: int = 3
    say: Callable[[str], None] = print
    results: list[Result] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    to_profile: dict[str, Command] = field(default_factory=dict)
    phases: dict[str, Any] = field(default_factory=dict)
    selected: tuple[str, ...] = ()
    _pairs: dict[tuple[str, int], tuple[Sample, Sample, str]] = field(default_factory=dict)
    _day: dict[str, tuple[Command, Sample]] | None = None

    def vouchers(self, factor: int = 1) -> int:
        return max(20, round(VOUCHERS * self.scale * factor))

    def main_set(self) -> ds.RegisterSet:
        return ds.registers(REGISTERS, HISTORY, self.vouchers(), self.say)

    def target(self, name: str, goal: str, measured: str, met: bool | None, profile: str | None = None) -> None:
        self.targets.append(Target(name, goal, measured, met, profile))
        mark = "pending" if met is None else ("met" if met else "MISSED")
        self.say(f"  target {name}: {measured} (goal {goal}) -> {mark}")


# ---------------------------------------------------------------------------------------------- commands


def _reset(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def posync_command(label: str, where: Path, template: Path, *args: str) -> Command:
    """`posync --db <fresh copy of template> ARGS`, the copy made before the clock starts."""
    run_dir = where / "posync"
    main = run_dir / "main.duckdb"
    return Command(label, (ds.POSYNC, "--db", str(main), *args), where / "logs" / label.replace(" ", "-"),
                   prepare=lambda: ds.fresh_copy(template, run_dir), cwd=ds.REPO)


def limit_command(where: Path, regs: ds.RegisterSet, n: int) -> Command:
    run_dir = where / "limit"
    pairs = [f"{name}={path}" for name, path in regs.pairs(n)]
    return Command("plain DuckDB limit",
                   (PY, "-m", "bench.reference", "limit", "--main", str(run_dir / "main.duckdb"),
                    "--date", str(regs.day), *pairs),
                   where / "logs" / "limit", prepare=lambda: _reset(run_dir), cwd=ds.REPO)


def adbc_command(where: Path, regs: ds.RegisterSet) -> Command:
    run_dir = where / "adbc"
    pairs = [f"{name}={path}" for name, path in regs.pairs()]
    return Command(ADBC, (PY, "-m", "bench.reference", "adbc", "--main", str(run_dir / "main.duckdb"),
                          "--date", str(regs.day), *pairs),
                   where / "logs" / "adbc", prepare=lambda: _reset(run_dir), cwd=ds.REPO)


def dlt_command(where: Path, regs: ds.RegisterSet) -> Command:
    run_dir = where / "dlt"
    pairs = [f"{name}={path}" for name, path in regs.pairs()]
    return Command("dlt merge",
                   (PY, "-m", "bench.reference", "dlt", "--dest", str(run_dir / "dlt.duckdb"),
                    "--work", str(run_dir / "pipelines"), "--date", str(regs.day), *pairs),
                   where / "logs" / "dlt", prepare=lambda: _reset(run_dir), env=dict(DLT_ENV), cwd=ds.REPO)


def import_command(where: Path, regs: ds.RegisterSet, n: int, say: Callable[[str], None]) -> Command:
    template = ds.empty_main(regs, n, say)
    return posync_command("posync import", where, template, "import", "--date", str(regs.day), "--json")


def _counts(command: Command) -> dict[str, int]:
    """Summed per-register counts from the last run's `--json` output."""
    doc = json.loads((command.log_dir / "stdout.txt").read_text())
    total: dict[str, int] = {}
    for counts in doc["counts"].values():
        for key, value in counts.items():
            total[key] = total.get(key, 0) + int(value)
    return total


def import_vs_limit(b: Bench, regs: ds.RegisterSet, n: int, runs: int) -> tuple[Sample, Sample, str]:
    """posync import of the day from n registers against the limit; measured once per (set, n) per run."""
    key = (regs.key, n)
    if key not in b._pairs:
        where = RUNS / f"import-{regs.key}-n{n}"
        posync, limit = import_command(where, regs, n, b.say), limit_command(where, regs, n)
        b.say(f"  {regs.key}, {n} register(s): {regs.rows(n):,} rows, {runs} runs")
        samples = measure([posync, limit], runs, say=b.say)
        counts = _counts(posync)
        note = f"inserted {counts.get('inserted', 0):,} vouchers, skipped {counts.get('skipped', 0):,}"
        mismatch = _type_mismatches(where / "posync" / "main.duckdb", where / "limit" / "main.duckdb")
        if mismatch:
            note += "; types differ from the limit's: " + ", ".join(mismatch)
        b._pairs[key] = (samples[0], samples[1], note)
        if (regs.key, n) == (b.main_set().key, REGISTERS):
            b.to_profile["import"] = posync
    return b._pairs[key]


def _type_mismatches(posync_main: Path, limit_main: Path) -> list[str]:
    """Columns of the voucher tables whose type differs between posync's main and the limit's."""
    import duckdb

    def types(path: Path) -> dict[tuple[str, str], str]:
        con = duckdb.connect(str(path), read_only=True)
        try:
            rows = con.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main'"
            ).fetchall()
        finally:
            con.close()
        return {(t, c): ty for t, c, ty in rows if t in MAIN_COLUMNS}

    mine, theirs = types(posync_main), types(limit_main)
    return [f"{t}.{c} {ty} vs {theirs.get((t, c))}" for (t, c), ty in sorted(mine.items())
            if theirs.get((t, c)) != ty]


def phases(b: Bench, name: str, template: Path, day: str, *flags: str) -> dict[str, Any] | None:
    """One in-process run with per-phase timers (bench/phases.py); kept in results.json under "phases"."""
    main = ds.fresh_copy(template, RUNS / "phases" / name)
    done = subprocess.run([PY, "-m", "bench.phases", "--db", str(main), "--date", day, *flags],
                          capture_output=True, text=True, cwd=ds.REPO)
    if done.returncode != 0:
        b.say(f"  phases of {name} failed: {done.stderr.strip()[-500:]}")
        return None
    doc: dict[str, Any] = json.loads(done.stdout)
    b.phases[name] = doc
    top = sorted(doc["phases"].items(), key=lambda kv: -kv[1]["s"])
    b.say(f"  phases of {name} ({doc['total_s']:.2f} s): "
          + ", ".join(f"{k} {v['share']:.0%}" for k, v in top if v["share"] >= 0.02))
    return doc


def _share(doc: dict[str, Any] | None, *names: str) -> float | None:
    if doc is None:
        return None
    return float(sum(doc["phases"].get(n, {}).get("share", 0.0) for n in names))


# ---------------------------------------------------------------------------------------------- cases


DAY_CASES = ("import", "overwrite", "rerun", "validate", "dlt", "sync")
IMPORT, LIMIT, ADBC, OVERWRITE, RERUN, VALIDATE, DLT, SYNC = (
    "posync import", "plain DuckDB limit", "ADBC pushdown", "posync import --overwrite", "posync rerun",
    "posync validate", "dlt merge", "posync sync (catalogs none)")


def day_group(b: Bench) -> dict[str, tuple[Command, Sample]]:
    """The 1.2 M-row day's commands, measured together: posync import, the limit, and whatever the
    selected day cases compare with it (overwrite, rerun, validate, dlt), interleaved round by round.

    One group rather than one pair per case: every comparison still alternates within each round,
    and the import and the limit are not measured four times over (the run stays under ~40 min).
    """
    if b._day is None:
        regs = b.main_set()
        where = RUNS / "day"
        day = str(regs.day)
        commands = [import_command(where / "import", regs, REGISTERS, b.say), limit_command(where / "import", regs,
                                                                                              REGISTERS),
                    adbc_command(where / "import", regs)]
        wanted = set(b.selected)
        if "overwrite" in wanted:
            commands.append(posync_command(OVERWRITE, where / "overwrite", ds.overwrite_main(regs, b.say),
                                           "import", "--date", day, "--overwrite", "--json"))
        if "rerun" in wanted:
            commands.append(posync_command(RERUN, where / "rerun", ds.imported_main(regs, b.say),
                                           "import", "--date", day, "--json"))
        if "validate" in wanted:
            commands.append(posync_command(VALIDATE, where / "validate", ds.empty_main(regs, REGISTERS, b.say),
                                           "validate", "--date", day))
        if "dlt" in wanted:
            commands.append(dlt_command(where / "dlt", regs))
        if "sync" in wanted:
            commands.append(posync_command(SYNC, where / "sync", ds.empty_main(regs, REGISTERS, b.say),
                                           "sync", "--date", day, "--catalogs", "none"))
        b.say(f"  {regs.key}: {regs.rows():,} rows; {', '.join(c.label for c in commands)}; {b.runs} rounds")
        samples = measure(commands, b.runs, say=b.say)
        b._day = {c.label: (c, s) for c, s in zip(commands, samples, strict=True)}
        counts = _counts(commands[0])
        note = f"inserted {counts.get('inserted', 0):,} vouchers, skipped {counts.get('skipped', 0):,}"
        mismatch = _type_mismatches(where / "import" / "posync" / "main.duckdb",
                                    where / "import" / "limit" / "main.duckdb")
        if mismatch:
            note += "; types differ from the limit's: " + ", ".join(mismatch)
        b._pairs[(regs.key, REGISTERS)] = (samples[0], samples[1], note)
        b.to_profile["import"] = commands[0]
    return b._day


def import_insert(b: Bench) -> None:
    """Import of one day, insert mode ("sin sobrescribir"), staging copy and validation included."""
    regs = b.main_set()
    group = day_group(b)
    posync, limit, note = b._pairs[(regs.key, REGISTERS)]
    ratio = limit.seconds / posync.seconds
    adbc = group[ADBC][1]
    pushdown = adbc.seconds / posync.seconds
    b.results.append(Result.of("import", "import one day (insert mode)", regs.rows(), posync, adbc, pushdown,
                               "posync throughput / the ADBC pushdown's", note))
    b.results.append(Result.of("import", "import one day (insert mode)", regs.rows(), posync, limit, ratio,
                               "posync throughput / the scanner's", note))
    phases(b, "import", ds.empty_main(regs, REGISTERS, b.say), str(regs.day))
    b.to_profile["import"] = group[IMPORT][0]
    b.target("import throughput against the ADBC pushdown", "≥ 0.80×", f"{pushdown:.2f}×", pushdown >= 0.8, "import")
    b.target("import throughput against the DuckDB scanner", "≥ 1.00×", f"{ratio:.2f}×", ratio >= 1.0, "import")
    b.target("peak memory, the 1.2 M-row day", f"≤ {PEAK_LIMIT_MB} MB", f"{posync.peak_mb:.0f} MB",
             posync.peak_mb <= PEAK_LIMIT_MB, "import")


def import_overwrite(b: Bench) -> None:
    """Overwrite mode ("sobrescribiendo"), defined as: main already holds the day; since then 1 voucher in
    100 of that day was voided at its register; `import --overwrite` re-reads every register (the
    snapshot ledger is per mode, so nothing is skipped), replaces those vouchers (header updated, lines
    and payments replaced) and verifies all the others unchanged. Reference: the limit's insert of the day."""
    regs = b.main_set()
    group = day_group(b)
    (command, p), (_, lim) = group[OVERWRITE], group[LIMIT]
    counts = _counts(command)
    ratio = lim.seconds / p.seconds
    note = f"updated {counts.get('updated', 0):,} vouchers, {counts.get('skipped', 0):,} unchanged"
    b.results.append(Result.of("overwrite", "import one day (--overwrite, 1% voided)", regs.rows(), p, lim, ratio,
                               "posync throughput / limit's", note))
    b.to_profile["overwrite"] = command
    b.target("import throughput, overwrite mode", "≥ 0.80× the limit's", f"{ratio:.2f}×", ratio >= 0.8,
             "overwrite")


def rerun(b: Bench) -> None:
    """The same day again, registers unchanged (byte-identical snapshots), against the first import."""
    regs = b.main_set()
    group = day_group(b)
    (command, r), (_, first) = group[RERUN], group[IMPORT]
    ratio = r.seconds / first.seconds
    counts = _counts(command)
    b.results.append(Result.of("rerun", "rerun of the day, nothing changed", regs.rows(), r, first, ratio,
                               "rerun time / first import's",
                               f"inserted {counts.get('inserted', 0)}, updated {counts.get('updated', 0)}"))
    b.to_profile["rerun"] = command
    b.target("rerun of an unchanged day", "≤ 0.30× the first import's time", f"{ratio:.2f}×", ratio <= 0.3, "rerun")


def validate(b: Bench) -> None:
    """`posync validate` of the day on a main that does not hold it yet, against the import itself."""
    regs = b.main_set()
    group = day_group(b)
    (command, v), (_, full) = group[VALIDATE], group[IMPORT]
    ratio = v.seconds / full.seconds
    doc = b.phases.get("import") or phases(b, "import", ds.empty_main(regs, REGISTERS, b.say), str(regs.day))
    checks = _share(doc, "validation checks")
    note = "" if checks is None else f"the checks themselves are {checks:.1%} of an import's time (bench.phases)"
    b.results.append(Result.of("validate", "validate the day (no merge)", regs.rows(), v, full, ratio,
                               "validate time / import's", note))
    b.to_profile["validate"] = command
    b.target("validate alone", "≤ 0.60× the import's time", f"{ratio:.2f}×", ratio <= 0.6, "validate")


def dlt_case(b: Bench) -> None:
    """The same day loaded by dlt (merge on the primary key) from the same Arrow tables."""
    regs = b.main_set()
    group = day_group(b)
    (_, d), (_, p) = group[DLT], group[IMPORT]
    ratio = d.seconds / p.seconds
    b.results.append(Result.of("dlt", "the day loaded by dlt (merge)", regs.rows(), p, d, ratio,
                               "dlt time / posync's"))
    b.target("faster than dlt", "≥ 1.8× faster", f"{ratio:.2f}×", ratio >= 1.8, "import")
    b.target("memory against dlt", "posync peak ≤ dlt's", f"{p.peak_mb:.0f} MB vs {d.peak_mb:.0f} MB",
             p.peak_mb <= d.peak_mb, "import")


def sync_cycle(b: Bench) -> None:
    """One `sync` cycle (import + loyalty + rules, catalogs none) against the import alone: one snapshot serves
    every step, so the cycle should cost little more than its import."""
    regs = b.main_set()
    group = day_group(b)
    (command, c), (_, full) = group[SYNC], group[IMPORT]
    ratio = c.seconds / full.seconds
    b.results.append(Result.of("sync", "one sync cycle (catalogs none)", regs.rows(), c, full, ratio,
                               "cycle time / the import's"))
    b.to_profile["sync"] = command
    b.target("sync cycle", "≤ 1.25× the import's time", f"{ratio:.2f}×", ratio <= 1.25, "sync")


def catalogs_cli() -> str | None:
    """Why the catalog case can't run yet, or None when `posync catalogs diff/push` exist."""
    done = subprocess.run([ds.POSYNC, "catalogs", "--help"], capture_output=True, text=True)
    if done.returncode != 0 or "diff" not in done.stdout or "push" not in done.stdout:
        return "pending: etl.catalogs not available (no `posync catalogs diff/push` command yet)"
    return None


def catalog(b: Bench) -> None:
    """Partial push of a 1M-row products catalog: the SQL (`catalogs diff`), then applying it (`push`),
    each against sqldiff on the same two databases (`sqldiff | sqlite3` for the apply).

    Two situations: the usual one, a push after main changed since the last push (main compares
    with its recorded push state and need not read the register), and a first push (no state:
    posync reads the register's whole catalog, like sqldiff). Each is judged against the target.
    """
    rows = max(1_000, round(CATALOG_ROWS * b.scale))
    pending = catalogs_cli()
    if pending is None and shutil.which("sqldiff") is None:
        pending = "pending: sqldiff not installed (Debian package sqlite3-tools; `make bench` installs it as root)"
    if pending:
        b.results.append(Result("catalog", "catalog partial push SQL", rows, "sqldiff", status=pending))
        b.results.append(Result("catalog", "catalog partial push applied", rows, "sqldiff + sqlite3",
                                status=pending))
        b.target("catalog partial push SQL", "≤ 0.50× sqldiff's time", pending, None)
        return
    first = ds.catalog(rows, b.say)
    usual = ds.catalog_since_push(first, b.say)
    ratio = _catalog_pair(b, usual, "since the last push", RUNS / "catalog" / "pushed", "catalog_pushed")
    b.target("catalog partial push SQL (since the last push)", "≤ 0.50× sqldiff's time", f"{ratio:.2f}×",
             ratio <= 0.5, "catalog_pushed")
    first_ratio = _catalog_pair(b, first, "first push, no recorded state", RUNS / "catalog" / "first",
                                "catalog_first")
    b.target("catalog partial push SQL (first push: reads the register)", "≤ 0.50× sqldiff's time",
             f"{first_ratio:.2f}×", first_ratio <= 0.5, "catalog_first")


def _catalog_pair(b: Bench, pair: ds.CatalogPair, what: str, where: Path, profile_as: str) -> float:
    """`catalogs diff` against sqldiff, then `catalogs push` against sqldiff + sqlite3; the SQL ratio."""

    def fresh_register() -> None:
        shutil.copyfile(pair.register, pair.register_live)

    def posync(label: str, *args: str) -> Command:
        run_dir = where / label.replace(" ", "-")

        def prepare() -> None:
            fresh_register()
            ds.fresh_copy(pair.main_store, run_dir)

        return Command(label, (ds.POSYNC, "--db", str(run_dir / "main.duckdb"), "catalogs", *args),
                       where / "logs" / label.replace(" ", "-"), prepare=prepare, cwd=ds.REPO)

    products = ("--remote", "caja1", "--mode", "partial", "--table", "products")
    diff = posync("posync catalogs diff", "diff", *products)
    sqldiff = Command("sqldiff", ("sqldiff", "--primarykey", "--table", "products",
                                  str(pair.register_live), str(pair.main_sqlite)),
                      where / "logs" / "sqldiff", prepare=fresh_register)
    d, s = measure([diff, sqldiff], b.runs, say=b.say)
    ratio = d.seconds / s.seconds
    b.results.append(Result.of("catalog", f"catalog partial push SQL, {what}", pair.rows, d, s, ratio,
                               "posync time / sqldiff's"))
    b.to_profile[profile_as] = diff

    push = posync("posync catalogs push", "push", *products)
    script = where / "sqldiff.sql"
    apply = Command("sqldiff + sqlite3",
                    ("sh", "-c", 'sqldiff --primarykey --transaction --table products "$1" "$2" > "$3" '
                     '&& sqlite3 "$1" < "$3"', "sh", str(pair.register_live), str(pair.main_sqlite), str(script)),
                    where / "logs" / "sqldiff-apply", prepare=fresh_register)
    p, a = measure([push, apply], b.runs, say=b.say)
    b.results.append(Result.of("catalog", f"catalog partial push applied, {what}", pair.rows, p, a,
                               p.seconds / a.seconds, "posync time / sqldiff+sqlite3's"))
    return ratio


def scale_volume(b: Bench) -> None:
    """One register's day at 1x, 5x and 20x (20,000, 100,000, 400,000 vouchers; 1-day history).

    One register, not ten: 20x the ten-register day would be 24 M rows, several minutes per run
    here, and memory is meant to follow one register's day, which this series shows directly.
    """
    for factor in (1, 5, 20):
        regs = ds.registers(1, 1, b.vouchers(factor), b.say)
        runs = b.big_runs if factor >= 20 else b.runs
        p, lim, note = import_vs_limit(b, regs, 1, runs)
        b.results.append(Result.of("scale_volume", f"import, 1 register, {factor}x its day", regs.rows(), p, lim,
                                   lim.seconds / p.seconds, "posync throughput / limit's", note))


def scale_registers(b: Bench) -> None:
    """The import from 1, 5 and 10 registers (7-day history): memory should follow one register's day."""
    regs = b.main_set()
    peaks = {}
    for n in (1, 5, 10):
        p, lim, note = import_vs_limit(b, regs, n, b.runs)
        peaks[n] = p.peak_mb
        b.results.append(Result.of("scale_registers", f"import, {n} register(s) (7-day history)", regs.rows(n), p,
                                   lim, lim.seconds / p.seconds, "posync throughput / limit's", note))
    growth = peaks[10] / peaks[1]
    b.target("memory vs registers (1 → 10)", f"peak ≤ {FLAT}× the 1-register peak",
             f"{peaks[1]:.0f} → {peaks[5]:.0f} → {peaks[10]:.0f} MB ({growth:.2f}×)", growth <= FLAT, "import")


def scale_history(b: Bench) -> None:
    """The import of one day from registers keeping 1, 7 and 30 days of history."""
    peaks: dict[int, float] = {}
    times: dict[int, float] = {}
    for days in (1, 7, 30):
        regs = ds.registers(REGISTERS, days, b.vouchers(), b.say)
        runs = b.big_runs if days >= 30 else b.runs
        p, lim, note = import_vs_limit(b, regs, REGISTERS, runs)
        peaks[days], times[days] = p.peak_mb, p.seconds
        b.results.append(Result.of("scale_history", f"import, {days}-day history", regs.rows(), p, lim,
                                   lim.seconds / p.seconds, "posync throughput / limit's", note))
    growth = times[30] / times[1]
    b.target("time vs history (1 → 30 days)", f"≤ {HISTORY_FLAT}× the 1-day time",
             f"{times[1]:.1f} → {times[7]:.1f} → {times[30]:.1f} s ({growth:.2f}×)", growth <= HISTORY_FLAT, "import")
    b.target("memory vs history (1 → 30 days)", f"peak ≤ {HISTORY_FLAT}× the 1-day peak",
             f"{peaks[1]:.0f} → {peaks[7]:.0f} → {peaks[30]:.0f} MB ({peaks[30] / peaks[1]:.2f}×)",
             peaks[30] / peaks[1] <= HISTORY_FLAT, "import")


RANGE_DATES = 7
RANGE_HISTORY = 365  # a year of history: the file a register really keeps, which every snapshot copies
RANGE_VOUCHERS = 200  # a small shop's day: the catch-up cost is the snapshots, not the rows


def import_range(b: Bench) -> None:
    """Catching up a week: `import --from D1 --to D7` against seven `import --date D` run one after another.

    Both start from a main without those dates. The range copies, hashes and checks each register once
    and reads the seven dates from the same snapshot; the singles pay that for every date.
    """
    regs = ds.registers(REGISTERS, RANGE_HISTORY, max(20, round(RANGE_VOUCHERS * b.scale)), b.say)
    dates = [str(regs.day - timedelta(days=RANGE_DATES - 1 - i)) for i in range(RANGE_DATES)]
    where = RUNS / f"range-{regs.key}"
    template = ds.empty_main(regs, REGISTERS, b.say)
    ranged = posync_command("posync import, 7-date range", where / "range", template,
                            "import", "--from", dates[0], "--to", dates[-1])
    singles_dir = where / "singles"
    main = singles_dir / "posync" / "main.duckdb"
    script = " && ".join(f'"$1" --db "$2" import --date {d} > /dev/null' for d in dates)
    singles = Command("posync import, 7 single dates", ("sh", "-c", script, "sh", ds.POSYNC, str(main)),
                      singles_dir / "logs", prepare=lambda: ds.fresh_copy(template, singles_dir / "posync"),
                      cwd=ds.REPO)
    b.say(f"  {regs.key}: {RANGE_DATES} dates of {REGISTERS} registers with {RANGE_HISTORY} days of history")
    r, s = measure([ranged, singles], b.big_runs, say=b.say)
    rows = sum(_range_rows(regs, dates))
    ratio = s.seconds / r.seconds
    b.results.append(Result.of("range", f"import a {RANGE_DATES}-date range ({RANGE_HISTORY}-day history)", rows,
                               r, s, ratio, "single imports' time / the range's"))
    b.to_profile["range"] = ranged
    b.target("a 7-date range against 7 single imports", "≥ 3× faster", f"{ratio:.2f}×", ratio >= 3, "range")


def _range_rows(regs: ds.RegisterSet, dates: list[str]) -> list[int]:
    """Header + line rows of each date at every register (the rows the range moves)."""
    import sqlite3

    out = []
    for _, path in regs.pairs():
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            out.append(sum(con.execute(
                "SELECT (SELECT count(*) FROM vouchers WHERE date = ?) + (SELECT count(*) FROM voucher_lines l "
                "JOIN vouchers v USING (voucher_code, number) WHERE v.date = ?)", [d, d]).fetchone()[0]
                for d in dates))
    return out


CASES: dict[str, Callable[[Bench], None]] = {
    "import": import_insert,
    "overwrite": import_overwrite,
    "rerun": rerun,
    "validate": validate,
    "dlt": dlt_case,
    "sync": sync_cycle,
    "catalog": catalog,
    "scale_volume": scale_volume,
    "scale_registers": scale_registers,
    "scale_history": scale_history,
    "range": import_range,
}


def profile(b: Bench, name: str, command: Command) -> Path:
    """One run of a posync command under pyinstrument; the text profile goes to bench/profiles/<name>.txt."""
    PROFILES.mkdir(exist_ok=True)
    out = PROFILES / f"{name}.txt"
    argv = (PY, "-m", "pyinstrument", "--no-color", "-r", "text", "-o", str(out), "-m", "etl", *command.argv[1:])
    run_once(Command(f"profile {name}", argv, command.log_dir.with_name(f"profile-{name}"), command.prepare,
                     command.env, command.ok_codes, command.cwd))
    b.say(f"  profile of {name}: {out.relative_to(ds.REPO)}")
    return out
