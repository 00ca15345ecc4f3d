"""Crashes (FAULTS 25-27): `kill -9` of a real posync process at each stage of an import, a loop over
kill offsets inside the merge commit, and a loop over every fault point (SQLite-style). After each: every
register is in main completely or not at all, data and ledger agree, and a plain rerun cleans up and
converges to exactly what one uninterrupted import gives.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from etl import faults
from tests.faults.conftest import (
    DAY1,
    REGISTERS,
    World,
    assert_converges,
    assert_invariants,
    imported,
    kill9,
    wait_for,
)

DATA = ("vouchers", "voucher_lines", "payments", "voucher_types")


def assert_all_or_nothing(world: World, reference: dict[str, Any]) -> list[str]:
    """Each register is in main exactly as a clean import leaves it, or absent; the registers present."""
    content = world.content()
    present = []
    for register in REGISTERS:
        mine = {t: [r for r in content[t] if r[0] == register] for t in DATA}
        if any(mine.values()):
            assert mine == {t: [r for r in reference[t] if r[0] == register] for t in DATA}, register
            present.append(register)
    assert_invariants(world)
    return present


def _nothing_logged_by_the_killed_run(world: World) -> None:
    assert world.posync.scalar("SELECT count(*) FROM sync_log WHERE action = 'import'") == 0
    assert world.posync.scalar("SELECT count(*) FROM import_batches") == 0


KILL_POINTS = [  # (stage, FAULTS row, registers in main after the kill)
    pytest.param("extract", [], marks=pytest.mark.fault(25), id="extract"),  # caja1 staged and attached
    pytest.param("validate", [], marks=pytest.mark.fault(25), id="validate"),  # all staged, nothing merged
    pytest.param("merge_rows", [], marks=pytest.mark.fault(26), id="merge_rows"),  # headers in, lines not yet
    pytest.param("log", [], marks=pytest.mark.fault(27), id="log"),  # data merged, its log not yet written
    pytest.param("merge#2", ["caja1"], marks=pytest.mark.fault(26), id="between_registers"),
]


@pytest.mark.parametrize(("stage", "survivors"), KILL_POINTS)
def test_kill_9_at_a_stage_leaves_each_register_whole_or_absent_and_the_rerun_converges(
    world: World, reference: dict[str, Any], paused: Path, stage: str, survivors: list[str]
) -> None:
    proc = world.start("import", "--date", DAY1, env={"POSYNC_PAUSE_AT": stage, "POSYNC_PAUSE_FILE": str(paused)})
    wait_for(paused, proc)
    kill9(proc)

    assert assert_all_or_nothing(world, reference) == survivors
    if not survivors:
        _nothing_logged_by_the_killed_run(world)
    if stage == "extract":
        assert world.staging_leftovers()  # the killed run's copy of caja1 is still on disk …
    assert_converges(world, reference)  # … the next run removes it, and redoes everything


@pytest.mark.fault(26)
@pytest.mark.parametrize("offset", [0.0, 0.01])
def test_kill_9_at_offsets_inside_the_merge_commit(
    world: World, reference: dict[str, Any], paused: Path, offset: float
) -> None:
    # The marker is touched right before COMMIT of caja2 (caja1 is committed); kill as soon as it appears,
    # or a few milliseconds later: somewhere inside DuckDB's commit (WAL write) or just after it.
    proc = world.start("import", "--date", DAY1,
                       env={"POSYNC_SLEEP_AT": "commit#2:0", "POSYNC_PAUSE_FILE": str(paused)})
    deadline = time.monotonic() + 90
    while not paused.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.0005)
    time.sleep(offset)
    proc.kill()
    proc.communicate(timeout=30)

    present = assert_all_or_nothing(world, reference)  # after reopening (WAL replay): whole or absent
    assert present in (["caja1"], ["caja1", "caja2"], ["caja1", "caja2", "caja3"])
    assert_converges(world, reference)


IMPORT_STAGES = ("copy", "copying", "copied", "attach", "extract", "validate", "merge", "merge_rows", "log", "commit",
                 "merge#2")  # the last: caja1 committed, caja2 fails before its transaction


@pytest.mark.fault(25, 26, 27)
def test_an_error_at_every_fault_point_in_turn_leaves_main_consistent_then_converges(
    world: World, reference: dict[str, Any]
) -> None:
    assert set(faults.STAGES) >= {s.split("#")[0] for s in IMPORT_STAGES}
    for stage in IMPORT_STAGES:
        faults._hits.clear()  # in-process: count `stage#N` hits from this run only
        result = world.posync("import", "--date", DAY1, "-r", "caja1", "-r", "caja2", env={"POSYNC_FAIL_AT": stage})

        assert result.exit_code == 1, (stage, result.output)
        assert f"injected failure at stage {stage.split('#')[0]} (POSYNC_FAIL_AT)." in result.output
        assert "Traceback" not in result.output
        present = assert_all_or_nothing(world, reference)
        assert present == (["caja1"] if stage == "merge#2" else []), stage
        assert world.staging_leftovers() == [], stage
    assert imported(world) == ["caja1"]
    assert_converges(world, reference)
