"""Where one posync import's time goes, phase by phase (wall and CPU), in one process.

`python -m bench.phases --db MAIN --date D [--overwrite] [--validate]` wraps the stage functions
that `etl.pipeline.import_day` calls (staging copy, quick_check, extraction, hashes, checks,
plan, merge and commit) with timers, runs the import once, and prints one JSON document.
Nothing in posync changes: this only times it. Far cheaper than a sampling profile, so its
shares are close to the real run's; the pyinstrument profiles (bench/profiles/) give the detail.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any

T0, C0 = time.perf_counter(), time.process_time()

# (module, attribute, phase). Copying and quick_check run on the copying thread (etl/sources.py), overlapped
# with the extraction of the register before: they are reported apart, not counted in the run's sum.
WRAPPED = (
    ("etl.staging", "stage", "copy + sha256 (copying thread)"),
    ("etl.staging", "check", "quick_check (copying thread, or before a read)"),
    ("etl.pipeline", "extract.extract_day", "extract (read, cast, stage)"),
    ("etl.pipeline", "merge.add_hashes", "content hashes"),
    ("etl.pipeline", "run_checks", "validation checks"),
    ("etl.pipeline", "decide", "validation checks"),
    ("etl.pipeline", "merge.record_decision", "plan"),
    ("etl.pipeline", "merge.build_plan", "plan"),
    ("etl.pipeline", "merge.plans", "plan"),
    ("etl.pipeline", "merge.merge_register", "merge into main"),
    ("etl.pipeline", "_merge_one", "merge + ledger + commit"),
)
BACKGROUND = {"copy + sha256 (copying thread)", "quick_check (copying thread, or before a read)"}

def _wrap(owner: Any, attr: str, phase: str, acc: dict[str, list[float]]) -> None:
    original: Callable[..., Any] = getattr(owner, attr)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t, c = time.perf_counter(), time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            entry = acc.setdefault(phase, [0.0, 0.0])
            entry[0] += time.perf_counter() - t
            entry[1] += time.process_time() - c

    setattr(owner, attr, timed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.phases")
    parser.add_argument("--db", required=True)
    parser.add_argument("--date", required=True)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--validate", action="store_true")
    args = parser.parse_args(argv)

    from etl import pipeline
    from etl.store import open_store

    acc: dict[str, list[float]] = {}
    for module, path, phase in WRAPPED:
        owner: Any = importlib.import_module(module)
        *parents, attr = path.split(".")
        for part in parents:
            owner = getattr(owner, part)
        _wrap(owner, attr, phase, acc)
    imported = (time.perf_counter() - T0, time.process_time() - C0)
    t, c = time.perf_counter(), time.process_time()
    store = open_store(args.db)
    request = pipeline.ImportRequest(dt.date.fromisoformat(args.date), overwrite=args.overwrite,
                                     validate_only=args.validate)
    pipeline.import_day(store, request)
    store.close()
    run = (time.perf_counter() - t, time.process_time() - c)
    # merge_register runs inside _merge_one: report the ledger + commit part on its own
    if "merge + ledger + commit" in acc and "merge into main" in acc:
        outer, inner = acc.pop("merge + ledger + commit"), acc["merge into main"]
        acc["ledger + commit"] = [outer[0] - inner[0], outer[1] - inner[1]]
    accounted = [sum(v[0] for k, v in acc.items() if k not in BACKGROUND),
                 sum(v[1] for k, v in acc.items() if k not in BACKGROUND)]
    phases = {"python start + imports": list(imported), **acc,
              "other (open, close, logs, SQL building)": [run[0] - accounted[0], run[1] - accounted[1]]}
    total = (time.perf_counter() - T0, time.process_time() - C0)
    doc = {
        "total_s": round(total[0], 3),
        "total_cpu_s": round(total[1], 3),
        "phases": {k: {"s": round(v[0], 3), "cpu_s": round(v[1], 3), "share": round(v[0] / total[0], 3)}
                   for k, v in phases.items()},
    }
    print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
