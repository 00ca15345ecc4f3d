"""Results: bench/results.json and the Markdown tables the README's "Performance" section shows."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.measure import Sample


@dataclass
class Result:
    """One measured row: posync (or the thing under test) against its reference, medians."""

    case: str
    label: str
    rows: int
    reference: str
    ratio_is: str = ""
    seconds: float | None = None
    peak_mb: float | None = None
    reference_seconds: float | None = None
    reference_peak_mb: float | None = None
    ratio: float | None = None
    runs: int = 0
    status: str = "ok"
    note: str = ""
    cpu_seconds: float | None = None
    reference_cpu_seconds: float | None = None
    all_seconds: list[float] = field(default_factory=list)
    reference_all_seconds: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, case: str, label: str, rows: int, subject: Sample, reference: Sample, ratio: float,
           ratio_is: str, note: str = "") -> Result:
        return cls(case, label, rows, reference.label, ratio_is, subject.seconds, subject.peak_mb,
                   reference.seconds, reference.peak_mb, ratio, len(subject.runs), note=note,
                   cpu_seconds=subject.cpu_seconds, reference_cpu_seconds=reference.cpu_seconds,
                   all_seconds=subject.all_seconds, reference_all_seconds=reference.all_seconds)

    @property
    def rows_per_s(self) -> float | None:
        return self.rows / self.seconds if self.seconds else None

    @property
    def reference_rows_per_s(self) -> float | None:
        return self.rows / self.reference_seconds if self.reference_seconds else None

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["rows_per_s"] = _round(self.rows_per_s, 0)
        doc["reference_rows_per_s"] = _round(self.reference_rows_per_s, 0)
        for key in ("seconds", "reference_seconds", "ratio", "cpu_seconds", "reference_cpu_seconds"):
            doc[key] = _round(doc[key], 3)
        for key in ("peak_mb", "reference_peak_mb"):
            doc[key] = _round(doc[key], 1)
        return doc


@dataclass
class Target:
    """One speed target of the issue, and whether this run met it."""

    name: str
    goal: str
    measured: str
    met: bool | None  # None: not measured (pending)
    profile: str | None = None


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": version("duckdb"),
        "pyarrow": version("pyarrow"),
        "dlt": version("dlt"),
        "posync": version("posync"),
        "sqlite": sqlite3.sqlite_version,
        "load_average_start": list(os.getloadavg()),
    }


def write_json(path: Path, info: dict[str, Any], config: dict[str, Any], results: list[Result],
               targets: list[Target], phases: dict[str, Any]) -> None:
    doc = {
        "machine": info,
        "config": config,
        "cases": [r.to_json() for r in results],
        "targets": [asdict(t) for t in targets],
        "phases": phases,
    }
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _rate(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1e6:.2f} M" if value >= 1e6 else f"{value / 1e3:.0f} k"


def machine_line(info: dict[str, Any]) -> str:
    load = info.get("load_average_start") or []
    end = info.get("load_average_end") or []
    loads = ""
    if load:
        loads = f"; 1-min load average {load[0]:.1f} at start"
        if end:
            loads += f", {end[0]:.1f} at end"
    return (f"{info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB RAM, {info['os']}; Python {info['python']}, "
            f"DuckDB {info['duckdb']}, pyarrow {info['pyarrow']}, dlt {info['dlt']}, SQLite {info['sqlite']}{loads}")


def markdown(info: dict[str, Any], config: dict[str, Any], results: list[Result], targets: list[Target]) -> str:
    """The tables for the README: every measurement, then every target with its verdict."""
    lines = [
        f"Machine: {machine_line(info)}.",
        "",
        f"Scale {config['scale']} ({config['vouchers_per_day']:,} vouchers per register per day), medians of "
        f"{config['runs']} runs after a warm-up ({config['big_runs']} for the 20x day and the 30-day history), "
        "posync and its reference alternated; rows = header + line rows of the day; peak MB is the highest "
        "peak RSS of any measured run; CPU seconds (user + system) are in bench/results.json.",
        "",
        "| case | rows | posync s | posync rows/s | posync peak MB | reference | ref s | ref rows/s "
        "| ref peak MB | ratio |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        if r.status != "ok":
            lines.append(f"| {_cell(r.label)} | {r.rows:,} | {_cell(r.status)} | | | {_cell(r.reference)} | | | | |")
            continue
        lines.append(
            f"| {_cell(r.label)} | {r.rows:,} | {_num(r.seconds, '.2f')} | {_rate(r.rows_per_s)} | "
            f"{_num(r.peak_mb, '.0f')} | {_cell(r.reference)} | {_num(r.reference_seconds, '.2f')} | "
            f"{_rate(r.reference_rows_per_s)} | {_num(r.reference_peak_mb, '.0f')} | "
            f"{_num(r.ratio, '.2f')} ({r.ratio_is}) |"
        )
    lines += ["", "| target | goal | measured | met |", "| --- | --- | --- | --- |"]
    for t in targets:
        verdict = "pending" if t.met is None else ("yes" if t.met else "**no**")
        lines.append(f"| {_cell(t.name)} | {_cell(t.goal)} | {_cell(t.measured)} | {verdict} |")
    return "\n".join(lines)
