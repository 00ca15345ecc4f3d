"""`python -m bench` (= `make bench`): run the cases, write bench/results.json, print the Markdown tables.

It takes no arguments (`--help` prints this); it is set through the environment.

Environment:
  BENCH_SCALE    scales vouchers per register per day (and the catalog's rows); default 1.0
                 (20,000 vouchers, ≈ 1.2 M header + line rows for a day of 10 registers)
  BENCH_CASES    comma-separated cases to run; default all: {cases}
  BENCH_RUNS     measured runs per command after one warm-up; default 5 (median reported)
  BENCH_BIG_RUNS runs for the 20x day and the 30-day history; default 3
  BENCH_PROFILE  0 to skip profiling (pyinstrument) the posync command behind a missed target
"""

from __future__ import annotations

import os
import sys
import time

from bench import cases, report
from bench.cases import CASES, Bench
from bench.datasets import ROOT

__doc__ = (__doc__ or "").format(cases=",".join(CASES))


def _env_list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(name, "").strip()
    return tuple(c.strip() for c in raw.split(",") if c.strip()) if raw else default


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args:  # settings come from the environment: an argument is a request for help, answered without any work
        known = args[0] in ("-h", "--help")
        if not known:
            print(f"python -m bench takes no arguments (got {' '.join(args)}); it is set through the environment.",
                  file=sys.stderr)
        usage = "usage: python -m bench   (= make bench)\n\n" + (__doc__ or "").strip()
        print(usage, file=sys.stdout if known else sys.stderr)
        return 0 if known else 2
    selected = _env_list("BENCH_CASES", tuple(CASES))
    unknown = [c for c in selected if c not in CASES]
    if unknown:
        print(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}", file=sys.stderr)
        return 2
    b = Bench(scale=float(os.environ.get("BENCH_SCALE", "1.0")), runs=int(os.environ.get("BENCH_RUNS", "5")),
              big_runs=int(os.environ.get("BENCH_BIG_RUNS", "3")), say=lambda m: print(m, flush=True),
              selected=selected)
    if b.runs < 1 or b.big_runs < 1 or b.scale <= 0:
        print("BENCH_RUNS and BENCH_BIG_RUNS must be >= 1 and BENCH_SCALE > 0", file=sys.stderr)
        return 2
    info = report.machine()
    config = {"scale": b.scale, "vouchers_per_day": b.vouchers(), "registers": cases.REGISTERS,
              "history_days": cases.HISTORY, "runs": b.runs, "big_runs": b.big_runs, "warmup": 1,
              "cases": list(selected)}
    print(f"posync benchmarks: {', '.join(selected)}; scale {b.scale}, {b.runs} runs (+1 warm-up)")
    print(f"machine: {report.machine_line(info)}", flush=True)
    started = time.perf_counter()
    for name in selected:
        print(f"\n== {name}", flush=True)
        t0 = time.perf_counter()
        CASES[name](b)
        print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    if os.environ.get("BENCH_PROFILE", "1") != "0":
        missed = sorted({t.profile for t in b.targets if t.met is False and t.profile})
        if missed:
            print("\n== profiles of missed targets", flush=True)
        for name in missed:
            if name in b.to_profile:
                path = cases.profile(b, name, b.to_profile[name])
                for t in b.targets:
                    if t.profile == name:
                        t.profile = str(path.relative_to(ROOT.parent))
    for t in b.targets:  # a profile is named only where one was taken
        if t.profile and not t.profile.endswith(".txt"):
            t.profile = None
    info["load_average_end"] = list(os.getloadavg())
    info["elapsed_s"] = round(time.perf_counter() - started, 1)
    out = ROOT / "results.json"
    report.write_json(out, info, config, b.results, b.targets, b.phases)
    print(f"\nwrote {out.relative_to(ROOT.parent)} ({info['elapsed_s']:.0f} s in all)\n")
    print(report.markdown(info, config, b.results, b.targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
