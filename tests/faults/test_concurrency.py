"""Concurrent runs (FAULTS 28): while one posync run holds the main store, any other — a second import,
a manual run next to `watch`, `watch` next to a manual run — exits 4 at once, naming the holder's pid
and start time; nothing is corrupted, and once the holder is gone a plain run converges.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import DAY1, World, assert_converges, assert_invariants, kill9, wait_for

LOCKED = re.compile(r"another posync run \(pid (\d+), since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\) holds the main store "
                    r"(.+); wait for it to finish, or stop it, then run again\.")


def _assert_locked_out(world: World, holder_pid: int, *args: str) -> None:
    started = time.monotonic()
    second = world.posync(*args)
    assert time.monotonic() - started < 15  # at once: nobody waits on the lock
    assert second.exit_code == 4, second.output
    match = LOCKED.search(second.output)
    assert match and match.group(1) == str(holder_pid) and match.group(2) == str(world.db), second.output
    assert second.output.startswith("error: ") and second.output.count("\n") == 1  # one line, no trace


SECOND_RUNS = [("import", "--date", DAY1), ("validate", "--date", DAY1), ("remote", "remove", "caja3"),
               ("numbering", "set", "FV1", "--prefix", "X", "--from", "1", "--to", "9")]


@pytest.mark.fault(28)
def test_a_second_run_exits_4_naming_the_holder_while_an_import_holds_main(
    world: World, reference: dict[str, Any], paused: Path
) -> None:
    first = world.start("import", "--date", DAY1, env={"POSYNC_PAUSE_AT": "merge", "POSYNC_PAUSE_FILE": str(paused)})
    try:
        wait_for(paused, first)
        for second in SECOND_RUNS:
            _assert_locked_out(world, first.pid, *second)
    finally:
        kill9(first)

    assert world.posync.scalar("SELECT count(*) FROM vouchers") == 0
    assert world.posync.scalar("SELECT count(*) FROM remotes") == 3
    assert world.posync.scalar("SELECT count(*) FROM numbering") == 0
    assert_converges(world, reference)


@pytest.mark.fault(28)
def test_a_manual_run_during_a_watch_cycle_exits_4_and_watch_finishes_its_cycle_alone(
    world: World, reference: dict[str, Any], paused: Path
) -> None:
    watch = world.start("watch", "--every", "0.01", "--max-runs", "1", "--date", DAY1, "--catalogs", "none",
                        env={"POSYNC_PAUSE_AT": "validate", "POSYNC_PAUSE_FILE": str(paused)})
    try:
        wait_for(paused, watch)  # the watch cycle has staged every register and holds main
        _assert_locked_out(world, watch.pid, "import", "--date", DAY1)
    finally:
        kill9(watch)

    assert world.posync.scalar("SELECT count(*) FROM vouchers") == 0
    assert_invariants(world)
    assert_converges(world, reference)


@pytest.mark.fault(28)
def test_a_watch_cycle_during_a_manual_run_is_skipped_and_retried_on_the_next_tick(
    world: World, reference: dict[str, Any], paused: Path
) -> None:
    manual = world.start("import", "--date", DAY1, env={"POSYNC_PAUSE_AT": "merge", "POSYNC_PAUSE_FILE": str(paused)})
    try:
        wait_for(paused, manual)
        skipped = world.cli("watch", "--every", "0.01", "--max-runs", "1", "--date", DAY1, "--catalogs", "none")
    finally:
        kill9(manual)

    assert skipped.returncode == 4, skipped.stdout + skipped.stderr
    line = skipped.stdout.strip().splitlines()[-1]
    assert "cycle 1 (2026-11-26): skipped, another posync run (pid " in line and LOCKED.search(line)
    assert world.posync.scalar("SELECT count(*) FROM vouchers") == 0

    next_tick = world.cli("watch", "--every", "0.01", "--max-runs", "1", "--date", DAY1, "--catalogs", "none")

    assert next_tick.returncode == 0, next_tick.stdout + next_tick.stderr
    assert world.content() == reference
    assert_invariants(world)
