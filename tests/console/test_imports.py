"""Validar / Importar: jobs with progress streamed per register, the report inline, results checked in main;
a second action while one runs, or while another process holds the store, is refused naming the holder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DAY1, sqlite_exec
from tests.console.conftest import Console, text_of
from tests.test_sync import World

CLASH = f"FV1 was issued by both caja1 and caja2 on {DAY1}: 20 vouchers held back"


def test_validate_names_the_code_clash_streams_progress_and_merges_nothing(console: Console) -> None:
    page, events, done = console.job(console.post("/validate", {"date": DAY1}))
    text = text_of(page.text)

    assert done == {"state": "done", "exit_code": 3}
    assert CLASH in text
    assert f"{DAY1}: 2 of 3 registers rejected, 20 vouchers held back" in text
    stages = {(e["register"], e["message"]) for e in events}
    for name in ("caja1", "caja2", "caja3"):
        assert {(name, "copying"), (name, "reading")} <= stages
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # each event once, in order
    report = console.get(page.url.path + "/report")
    assert report.status_code == 200 and "FV1" in report.text and "<title>posync validation report" in report.text
    assert console.posync.scalar("SELECT count(*) FROM vouchers") == 0
    assert console.posync.rows("SELECT register, status FROM sync_log WHERE action = 'validate' ORDER BY 1") == [
        ("caja1", "rejected"), ("caja2", "rejected"), ("caja3", "accepted")]


def test_import_new_only_merges_the_clean_register_and_logs_as_the_cli(console: Console) -> None:
    text, done = console.run("/import", {"date": DAY1, "mode": "insert"})

    assert done["exit_code"] == 3 and CLASH in text
    assert console.posync.rows("SELECT register, count(*) FROM vouchers GROUP BY 1") == [("caja3", 10)]
    assert console.posync.rows("SELECT register, mode, status, inserted FROM sync_log WHERE action = 'import' "
                               "ORDER BY register") == [("caja1", "insert", "rejected", 0),
                                                         ("caja2", "insert", "rejected", 0),
                                                         ("caja3", "insert", "ok", 10)]

    text, done = console.run("/import", {"date": DAY1, "mode": "insert", "remote": "caja1"})

    assert done["exit_code"] == 0 and "the register was accepted" in text
    assert console.posync.rows("SELECT voucher_code, register FROM voucher_code_owners WHERE voucher_code = 'FV1'") \
        == [("FV1", "caja1")]


def test_import_overwriting_updates_a_voucher_changed_at_the_register(clean_console: Console,
                                                                      clean_world: World) -> None:
    sqlite_exec(clean_world.paths[0], "UPDATE vouchers SET status = 'void' WHERE voucher_code = 'FV1' "
                                      "AND number = (SELECT min(number) FROM vouchers WHERE voucher_code = 'FV1')")
    kept, _ = clean_console.run("/import", {"date": DAY1, "mode": "insert", "remote": "caja1"})
    assert clean_console.posync.scalar("SELECT count(*) FROM vouchers WHERE status = 'void'") == 0
    assert "1 voucher changed at the register after import" in kept

    text, done = clean_console.run("/import", {"date": DAY1, "mode": "overwrite", "remote": "caja1"})

    assert done["exit_code"] == 0 and "Import 2026-11-26, overwriting" in text
    assert clean_console.posync.scalar("SELECT count(*) FROM vouchers WHERE status = 'void'") == 1
    assert clean_console.posync.rows("SELECT mode, updated FROM sync_log WHERE action = 'import' "
                                     "ORDER BY logged_at DESC LIMIT 1") == [("overwrite", 1)]


def test_a_bad_date_or_register_is_the_clis_sentence_and_starts_nothing(console: Console) -> None:
    bad = console.post("/validate", {"date": "26/11/2026"})
    assert bad.status_code == 400
    assert "process date: '26/11/2026' is not a date; use YYYY-MM-DD, today or yesterday." in text_of(bad.text)
    assert 'value="26/11/2026"' in bad.text

    started = console.job(console.post("/import", {"date": DAY1, "remote": "caja7"}))[0]
    assert "no register named caja7. Registered: caja1, caja2, caja3." in text_of(started.text)
    assert console.get("/jobs").text.count("/jobs/") >= 1
    assert console.posync.scalar("SELECT count(*) FROM vouchers") == 0


def test_a_second_action_while_a_job_runs_is_refused_naming_it(clean_console: Console, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    resume = tmp_path / "resume"
    monkeypatch.setenv("POSYNC_PAUSE_AT", "merge")
    monkeypatch.setenv("POSYNC_PAUSE_FILE", str(tmp_path / "paused"))
    monkeypatch.setenv("POSYNC_RESUME_FILE", str(resume))
    first = clean_console.post("/import", {"date": DAY1, "mode": "overwrite"})
    _wait_for(tmp_path / "paused")

    second = clean_console.post("/validate", {"date": DAY1})
    landing = clean_console.get("/")

    assert second.status_code == 409
    refusal = text_of(second.text)
    assert f"the console is running Import {DAY1}, overwriting (started " in refusal
    assert "and holds the main store; wait for it to finish, then try again." in refusal
    assert "Running: Import 2026-11-26, overwriting" in text_of(landing.text)
    assert "A run is in progress: " in text_of(landing.text)  # pages read the last snapshot meanwhile
    resume.touch()
    _page, events, done = clean_console.job(first)
    assert done == {"state": "done", "exit_code": 0}
    assert {e["register"] for e in events} == {"caja1", "caja2"}


def test_a_store_held_by_another_run_is_refused_with_who_and_since(clean_console: Console, clean_world: World,
                                                                   tmp_path: Path) -> None:
    env = {**os.environ, "POSYNC_PAUSE_AT": "merge", "POSYNC_PAUSE_FILE": str(tmp_path / "paused")}
    cli = subprocess.Popen([sys.executable, "-m", "etl", "--db", str(clean_world.posync.db), "import", "--date",
                            DAY1, "--overwrite"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(tmp_path / "paused")
        refused = clean_console.post("/import", {"date": DAY1, "mode": "insert"})
        landing = clean_console.get("/")
    finally:
        cli.kill()
        cli.wait()

    assert refused.status_code == 409
    assert f"another posync run (pid {cli.pid}, since " in text_of(refused.text)
    assert "holds the main store" in text_of(refused.text)
    assert landing.status_code == 200 and "A run is in progress: " in text_of(landing.text)


def _wait_for(path: Path, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
