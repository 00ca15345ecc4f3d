"""Disk full (FAULTS 36) on a real, tiny filesystem (a tmpfs mounted for the test): on staging, that
register fails with "disk full at …" and its copy is removed; on main during the merge, the register's
transaction aborts, main keeps nothing of it, exit 1. Freeing space and rerunning converges.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Posync
from tests.faults.conftest import DAY1, World, assert_invariants, imported, main_content


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs mounted under tmp_path (needs root and mount(8); skipped, saying why, otherwise)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("disk full needs a small filesystem: mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"disk full needs a small filesystem; this machine cannot mount a tmpfs ({done.stderr.strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(disk: Path, leave_kb: int) -> Path:
    """A filler file that leaves about leave_kb free."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    filler = disk / "filler"
    with filler.open("wb") as fh:
        fh.truncate(0)
        fh.write(b"\0" * max(0, free - leave_kb * 1024))
    return filler


@pytest.mark.fault(36)
def test_disk_full_while_staging_fails_that_register_and_removes_its_copy(
    world: World, reference: dict[str, Any], tmpfs: Path
) -> None:
    world.sql("caja2", "CREATE TABLE fotos (png BLOB)", "INSERT INTO fotos VALUES (randomblob(3000000))")
    filler = _fill(tmpfs, leave_kb=1024)  # room for caja1's and caja3's copies, not for caja2's 3 MB
    env = {"POSYNC_HOME": str(tmpfs)}

    result = world.posync("import", "--date", DAY1, env=env)

    assert result.exit_code == 1, result.output
    message = next(line.strip() for line in result.output.splitlines() if line.startswith("  caja2: "))
    staging = rf"{re.escape(str(tmpfs))}/main-[0-9a-f]{{8}}/staging/[^/]+/caja2"  # the store's own working folder
    assert re.fullmatch(rf"caja2: register caja2: disk full at {staging} while staging; free space, then rerun\.",
                        message), message
    assert imported(world) == ["caja1", "caja3"]
    assert not [p for p in (tmpfs / "staging").rglob("*") if p.is_file()]
    assert_invariants(world)

    filler.unlink()
    rerun = world.posync("import", "--date", DAY1, env=env)
    assert rerun.exit_code == 0, rerun.output
    assert world.content() == reference


@pytest.mark.fault(36)
def test_disk_full_on_main_during_the_merge_aborts_that_transaction_and_exits_1(
    world: World, reference: dict[str, Any], tmpfs: Path, tmp_path: Path
) -> None:
    shutil.copyfile(world.db, tmpfs / "main.duckdb")
    posync = Posync(tmpfs / "main.duckdb")
    env = {"POSYNC_HOME": str(tmp_path / "home")}  # staging elsewhere: only main's disk is full
    filler = _fill(tmpfs, leave_kb=12)  # the first register's WAL may fit; the rest cannot commit

    result = posync("import", "--date", DAY1, env=env)

    assert result.exit_code == 1, result.output
    failed = [line.strip() for line in result.output.splitlines() if line.startswith("  caja")]
    assert failed, result.output
    for line in failed:
        assert re.fullmatch(r"(caja\d): register \1: disk full at the main store while merging \(.*No space left on "
                            r"device\); nothing was written", line), line
    content = main_content(posync.db)
    landed = sorted({row[0] for row in content["vouchers"]})
    assert len(landed) + len(failed) == 3
    for register in landed:  # what committed is whole; what did not is absent
        assert [r for r in content["vouchers"] if r[0] == register] == \
            [r for r in reference["vouchers"] if r[0] == register]
    assert sorted(r[0] for r in content["batches"]) == landed  # no ledger row without its data

    filler.unlink()
    rerun = posync("import", "--date", DAY1, env=env)
    assert rerun.exit_code == 0, rerun.output
    assert main_content(posync.db) == reference
