"""`status` and every listing answer while a run holds the main store (never exit 4), on DuckDB and PostgreSQL.

A real import is paused at a fault point in a second process; the listings run as real processes beside it.
A run that finds only listings reading waits for them instead of failing; a run finds another run: exit 4.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from etl import runlock
from sample_data import SampleSpec, generate
from tests.conftest import DAY1

LISTINGS = [("status", "--json"), ("log", "--json"), ("remote", "list", "--json"), ("rules", "list", "--json"),
            ("loyalty", "balances", "--json"), ("numbering", "list", "--json"), ("changes", "list", "--json"),
            ("catalogs", "history", "--json")]


def _run(db: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POSYNC_")}
    return subprocess.run([sys.executable, "-m", "etl", "--db", db, *args], capture_output=True, text=True,
                          timeout=120, env={**clean, **(env or {})})


def _start(db: str, marker: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POSYNC_")}
    return subprocess.Popen([sys.executable, "-m", "etl", "--db", db, "import", "--date", DAY1],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**clean, **env, "POSYNC_PAUSE_AT": "merge#2", "POSYNC_PAUSE_FILE": str(marker)})


def _wait(marker: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _setup(tmp_path: Path, db: str, env: dict[str, str]) -> None:
    for path in generate(tmp_path / "registers", SampleSpec(registers=2, vouchers_per_day=10)):
        assert _run(db, "remote", "add", path.stem, str(path), env=env).returncode == 0
    assert _run(db, "loyalty", "sync", env=env).returncode in (0, 3)


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_status_and_listings_answer_during_a_paused_import(engine: str, tmp_path: Path,
                                                           request: pytest.FixtureRequest) -> None:
    env = {"POSYNC_HOME": str(tmp_path / "home")}
    db = request.getfixturevalue("pg_database")() if engine == "postgres" else str(tmp_path / "main.duckdb")
    _setup(tmp_path, db, env)
    marker = tmp_path / "paused"
    proc = _start(db, marker, env)
    try:
        _wait(marker, proc)  # caja1 merged and committed, caja2 about to merge: the run holds the store
        results = {args[0] + (" " + args[1] if args[1] != "--json" else ""): _run(db, *args, env=env)
                   for args in LISTINGS}
        second = _run(db, "import", "--date", DAY1, env=env)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)

    for name, result in results.items():
        assert result.returncode in (0, 1), (name, result.stderr)  # never 4: the health, or nothing to say
        json.loads(result.stdout)
        assert "Traceback" not in result.stderr
    status: dict[str, Any] = json.loads(results["status"].stdout)
    assert status["run"] is not None and "import --date 2026-11-26" in (status["run"]["command"] or "")
    if engine == "duckdb":
        assert status["run"]["pid"] == proc.pid and "caja2" in status["run"]["stage"]
        assert status["as_of"] is not None  # the health as of the last finished run
        note = results["log"].stderr
        assert note.startswith("note: a run is in progress: posync ") and "import --date 2026-11-26" in note
    else:
        assert "caja2" in (status["run"]["stage"] or "")
    assert results["status"].returncode == status["exit_code"]
    assert second.returncode == 4 and "another posync run" in second.stderr


def test_a_run_waits_for_a_listing_that_is_reading_then_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "main.duckdb"
    env = {"POSYNC_HOME": str(tmp_path / "home")}
    _setup(tmp_path, str(db), env)
    reading = runlock.read(db.with_name("main.duckdb.lock"))  # a listing in the middle of its read
    assert isinstance(reading, runlock.ReadLock)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POSYNC_")}
    proc = subprocess.Popen([sys.executable, "-m", "etl", "--db", str(db), "import", "--date", DAY1],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**clean, **env})
    time.sleep(1.5)
    assert proc.poll() is None  # waiting for the reader, not failing
    reading.close()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
