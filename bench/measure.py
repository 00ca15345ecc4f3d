"""Run commands as fresh subprocesses: wall time, CPU time and that process's own peak RSS.

Each measured run is one process started by a tiny launcher (`python -S`, ~10 MB): the launcher
forks, execs the command, and reads the command's own rusage from `os.wait4`. The launcher is
needed because a child's `ru_maxrss` also counts the memory of the process it was forked from
(Linux folds the pre-exec address space's high-water mark into it): started straight from this
runner, which has generated data with DuckDB, every command would report the runner's peak.
`RUSAGE_CHILDREN` deltas would not do either: it is a maximum over all children, not per run.

posync and its reference are measured alternately, ABBA (a b, b a, a b, ...), after one
untimed warm-up of each, so a noisy neighbour or a slow drift hits both about equally.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class RunFailed(RuntimeError):
    """A measured command exited with an unexpected code."""


@dataclass(frozen=True)
class Command:
    """One thing to time: argv, extra environment, and an untimed setup run before every run."""

    label: str
    argv: tuple[str, ...]
    log_dir: Path
    prepare: Callable[[], object] | None = field(default=None, compare=False)
    env: dict[str, str] = field(default_factory=dict)
    ok_codes: tuple[int, ...] = (0,)
    cwd: Path | None = None


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float
    cpu_seconds: float  # user + system: less sensitive than wall time to a busy machine


@dataclass(frozen=True)
class Sample:
    """Every measured run of one command."""

    label: str
    runs: tuple[Run, ...]

    @property
    def seconds(self) -> float:
        """Median wall time."""
        return statistics.median(r.seconds for r in self.runs)

    @property
    def peak_mb(self) -> float:
        """Highest peak RSS of any measured run (the figure a capacity plan needs)."""
        return max(r.peak_mb for r in self.runs)

    @property
    def cpu_seconds(self) -> float:
        """Median CPU time (user + system, all threads)."""
        return statistics.median(r.cpu_seconds for r in self.runs)

    @property
    def all_seconds(self) -> list[float]:
        return [round(r.seconds, 3) for r in self.runs]


# argv: result file, then the command. Writes "<peak KiB> <cpu s> <wall s>" and exits with its code.
_LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    out.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime} {wall}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_once(command: Command) -> Run:
    """Prepare (untimed), then run the command once in a fresh process; time and peak RSS."""
    if command.prepare is not None:
        command.prepare()
    command.log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **command.env}
    out_path, err_path = command.log_dir / "stdout.txt", command.log_dir / "stderr.txt"
    usage_path = command.log_dir / "rusage.txt"
    usage_path.unlink(missing_ok=True)
    with out_path.open("wb") as out, err_path.open("wb") as err:
        code = subprocess.call([sys.executable, "-S", "-c", _LAUNCHER, str(usage_path), *command.argv],
                               stdout=out, stderr=err, env=env, cwd=command.cwd)
    if code not in command.ok_codes or not usage_path.exists():
        tail = err_path.read_text(errors="replace")[-2000:] or out_path.read_text(errors="replace")[-2000:]
        raise RunFailed(f"{command.label}: exit {code} from {' '.join(command.argv)}\n{tail}")
    peak_kib, cpu, wall = usage_path.read_text().split()
    return Run(float(wall), int(peak_kib) / 1024, float(cpu))  # Linux: ru_maxrss is in KiB


def measure(commands: Sequence[Command], runs: int, warmup: int = 1,
            say: Callable[[str], None] = print) -> list[Sample]:
    """Warm up each command, then `runs` rounds, alternating the order (ABBA); one Sample per command."""
    for _ in range(warmup):
        for command in commands:
            run_once(command)
    results: dict[str, list[Run]] = {c.label: [] for c in commands}
    for i in range(runs):
        order = list(commands) if i % 2 == 0 else list(reversed(commands))
        for command in order:
            run = run_once(command)
            results[command.label].append(run)
            say(f"    {command.label}: {run.seconds:.2f} s (cpu {run.cpu_seconds:.2f} s), {run.peak_mb:.0f} MB")
    return [Sample(c.label, tuple(results[c.label])) for c in commands]
