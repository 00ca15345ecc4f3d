"""`posync watch`: cycles every N minutes, signals, the lock between cycles, transient vs terminal errors."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from etl import staging
from etl.errors import TransientError
from etl.store import open_store
from etl.sync import SyncRequest
from etl.watch import WatchRequest, WatchState, run_once
from tests.conftest import DAY1
from tests.test_sync import World, build_world, register_count

CYCLE_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d cycle (\d+) \((\d{4}-\d\d-\d\d)\): (?:completed .*; )?"
                        r"vouchers imported [\d,]+, skipped [\d,]+, held back [\d,]+; loyalty movements [\d,]+; "
                        r"rules [\d,]+; catalog rows pushed [\d,]+(; .*)?; exit (\d) \(\d+\.\d s\)$")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = {"registers": 2, "vouchers_per_day": 12, "customers": 8}
    return build_world(tmp_path_factory.mktemp("watch"), spec, [])


@pytest.fixture
def world(template: Path, tmp_path: Path) -> World:
    return World.clone(template, tmp_path / "world")


def _watch(world: World, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "etl", "--db", str(world.posync.db), "watch", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_max_runs_two_runs_two_cycles_one_at_a_time_then_stops(world: World) -> None:
    proc = _watch(world, "--every", "0.01", "--max-runs", "2", "--catalogs", "none")
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 0, err
    cycles = [m for m in map(CYCLE_LINE.match, out.splitlines()) if m]
    assert [(m.group(1), m.group(2), m.group(4)) for m in cycles] == [
        ("1", dt.date.today().isoformat(), "0"), ("2", dt.date.today().isoformat(), "0")]
    rows = world.posync.rows("SELECT run_id, min(logged_at), max(logged_at) FROM sync_log "
                             "WHERE action <> 'remote add' GROUP BY run_id ORDER BY 2")
    cycles_logged = "SELECT count(*) FROM sync_log WHERE action = 'sync' AND message LIKE 'watch:%'"
    assert world.posync.scalar(cycles_logged) == 2
    assert all(later[1] >= earlier[2] for earlier, later in zip(rows, rows[1:], strict=False))  # in turn


def test_sigterm_mid_cycle_finishes_it_and_exits_0(world: World) -> None:
    lock = Path(str(world.posync.db) + ".lock.json")  # who holds the lock
    proc = _watch(world, "--every", "10", "--date", DAY1, "--catalogs", "none")
    try:
        deadline = time.monotonic() + 30
        # A cycle runs once watch holds the store: its pid is in the lock file.
        while f'"pid": {proc.pid},' not in (lock.read_text() if lock.exists() else ""):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 0, err
    assert len([line for line in out.splitlines() if CYCLE_LINE.match(line)]) == 1
    assert out.splitlines()[-1] == ("posync watch: SIGTERM received during cycle 1, which was finished; "
                                    "stopped after 1 cycle.")
    posync = world.posync
    assert posync.scalar("SELECT count(*) FROM vouchers") == sum(
        register_count(p, "SELECT count(*) FROM vouchers") for p in world.paths)
    assert posync.rows("SELECT status, count(*) FROM import_batches GROUP BY ALL") == [("ok", 2)]
    assert posync.scalar("SELECT count(*) FROM commercial_rules") == 5
    assert posync.scalar("SELECT count(*) FROM sync_log WHERE action = 'sync'") == 1
    rerun = posync("sync", "--date", DAY1, "--catalogs", "none")
    assert rerun.exit_code == 0
    assert [line.split()[:2] for line in rerun.output.splitlines()[3:5]] == [["caja1", "0"], ["caja2", "0"]]


def _request() -> WatchRequest:
    return WatchRequest(0.01, SyncRequest(dt.date.fromisoformat(DAY1), catalogs="none"), fixed_date=True)


def test_a_cycle_that_finds_the_store_locked_says_so_and_the_next_one_runs(world: World) -> None:
    said: list[str] = []
    state = WatchState()
    holder = open_store(str(world.posync.db))
    try:
        assert run_once(str(world.posync.db), state, _request(), said.append) == 4
    finally:
        holder.close()
    assert f"cycle 1 ({DAY1}): skipped, another posync run (pid {os.getpid()}, since " in said[0]
    assert f"holds the main store {world.posync.db}" in said[0]

    assert run_once(str(world.posync.db), state, _request(), said.append) == 0
    assert world.posync.scalar("SELECT count(*) FROM vouchers") > 0


def test_terminal_errors_are_reported_once_and_retried_when_the_file_changes(world: World) -> None:
    db, said, state = str(world.posync.db), [], WatchState()
    caja2 = world.paths[1]
    shutil.copy(caja2, caja2.with_suffix(".good"))
    caja2.write_bytes(b"")  # truncated: terminal

    assert run_once(db, state, _request(), said.append) == 1
    state.runs += 1
    assert run_once(db, state, _request(), said.append) == 0  # caja2 held: not retried, nothing new to report
    state.runs += 1

    errors = world.posync.rows("SELECT action, message FROM sync_log "
                               "WHERE register = 'caja2' AND status = 'error'")
    assert len(errors) == 1 and "the file is empty" in errors[0][1]
    held = world.posync.scalar("SELECT message FROM sync_log WHERE action = 'sync' "
                               "ORDER BY logged_at DESC LIMIT 1")
    assert "held (already reported, retried when their data changes): caja2 import" in held

    shutil.copy(caja2.with_suffix(".good"), caja2)  # fixed at the register
    assert run_once(db, state, _request(), said.append) == 0
    assert world.posync.rows("SELECT DISTINCT register FROM vouchers ORDER BY 1") == [("caja1",), ("caja2",)]


def test_transient_errors_are_retried_every_cycle(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    db, said, state = str(world.posync.db), [], WatchState()
    real_stage = staging.stage

    def share_down(register: str, source: str, root: Path) -> staging.Snapshot:
        if register == "caja2":
            raise TransientError(f"register {register}: reaching the file took more than 30 s "
                                 "(share unreachable?); it will be retried on the next run.")
        return real_stage(register, source, root)

    monkeypatch.setattr(staging, "stage", share_down)
    for _ in range(2):
        assert run_once(db, state, _request(), said.append) == 1
        state.runs += 1
    errors = "SELECT count(*) FROM sync_log WHERE register = 'caja2' AND status = 'error'"
    assert world.posync.scalar(errors) == 2
    assert not state.held

    monkeypatch.setattr(staging, "stage", real_stage)
    assert run_once(db, state, _request(), said.append) == 0
    assert world.posync.rows("SELECT DISTINCT register FROM vouchers ORDER BY 1") == [("caja1",), ("caja2",)]


def test_a_refused_push_is_held_until_mains_catalogs_change(world: World, tmp_path: Path) -> None:
    db, said, state = str(world.posync.db), [], WatchState()
    request = WatchRequest(0.01, SyncRequest(dt.date.fromisoformat(DAY1), catalogs="partial"), fixed_date=True)
    refusals = "SELECT count(*) FROM sync_log WHERE action = 'push' AND status = 'error'"
    tiny = tmp_path / "tiny.csv"  # one tax where the registers have three: a push would delete two of them
    tiny.write_text("tax_id,name,rate\nIVA0,Exento,0\n", encoding="utf-8")
    assert world.posync("catalogs", "load", "taxes", str(tiny)).exit_code == 0

    assert run_once(db, state, request, said.append) == 2  # would delete most of the registers' taxes: refused
    state.runs += 1
    assert run_once(db, state, request, said.append) == 0  # held: not retried, not reported again
    assert world.posync.scalar(refusals) == 2  # one per register, from the first cycle only
    assert "caja1 held" in said[-1]

    csv_file = tmp_path / "taxes.csv"
    csv_file.write_text("tax_id,name,rate\nIVA19,IVA 19%,0.19\n", encoding="utf-8")
    assert world.posync("catalogs", "load", "taxes", str(csv_file)).exit_code == 0
    assert run_once(db, state, request, said.append) == 2  # main changed: retried (and refused again)
    assert world.posync.scalar(refusals) == 4
