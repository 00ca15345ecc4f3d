"""A push killed part-way (SIGKILL of a real `posync catalogs push`) leaves each register untouched or fully
updated; main shows the push `pending`, and a rerun reconciles it and converges."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from etl import remotes
from etl.catalogs import PushRequest, push_catalogs
from tests.test_catalogs_support import (
    TAX_ROWS,
    dump,
    main_rows,
    main_store,
    make_register,
    product,
    read_register,
    set_main,
)


def _wait_for(marker: Path, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"posync ended before the fault point (exit {proc.returncode}): {out!r} {err!r}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("posync never reached the fault point")
        time.sleep(0.05)


@pytest.mark.fault(29)
@pytest.mark.parametrize("stage", ["push_apply_mid", "push_mark"])
def test_a_killed_push_leaves_the_register_whole(tmp_path: Path, stage: str) -> None:
    path = make_register(tmp_path / "caja1.db", rows={"products": [product(f"OLD{i}") for i in range(30)],
                                                       "taxes": TAX_ROWS})
    with main_store(tmp_path) as store:
        remotes.add(store, "caja1", str(path), None, "canonical")
        set_main(store, "products", [product(f"K{i:05d}", f"name {i} 'q'", f"{i}.10") for i in range(1500)])
        set_main(store, "taxes", TAX_ROWS)
    before = dump(path)
    marker = tmp_path / "paused"
    env = {**os.environ, "POSYNC_DB": str(tmp_path / "main.duckdb"), "POSYNC_PAUSE_AT": stage,
           "POSYNC_PAUSE_FILE": str(marker)}
    env.pop("POSYNC_FAIL_AT", None)
    proc = subprocess.Popen([sys.executable, "-m", "etl", "catalogs", "push", "--mode", "replace", "--force"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()

    if stage == "push_apply_mid":  # killed inside the register's transaction: rolled back when next opened
        assert dump(path) == before
    with main_store(tmp_path) as store:
        if stage == "push_mark":  # the register committed, main had not marked it yet
            assert read_register(path, "canonical", "products") == main_rows(store, "products")
        assert store.con.execute("SELECT status FROM pushes").fetchall() == [("pending",)]
        assert store.con.execute("SELECT count(*) FROM push_state WHERE key IS NULL").fetchone() == (0,)  # no state
        rerun = push_catalogs(store, PushRequest("replace", force=True))
        assert rerun.exit_code == 0
        assert rerun.registers[0].status == ("applied" if stage == "push_apply_mid" else "unchanged")
        for table in ("products", "taxes"):
            assert read_register(path, "canonical", table) == main_rows(store, table)
        statuses = sorted(r[0] for r in store.con.execute("SELECT status FROM pushes").fetchall())
        assert statuses == (["applied", "reconciled"] if stage == "push_apply_mid" else ["reconciled"])
        assert push_catalogs(store, PushRequest("partial")).registers[0].status == "unchanged"
