"""Loyalty and rules (with their conflicts), the log with its filters, the activity list, and the automatic
sync switch running watch's cycle inside the console."""

from __future__ import annotations

import time

from tests.conftest import DAY1, sqlite_exec
from tests.console.conftest import Console, text_of
from tests.test_sync import World


def test_loyalty_sync_then_balances(clean_console: Console) -> None:
    text, done = clean_console.run("/loyalty/sync", {"remote": ["caja1", "caja2"]})

    moved = clean_console.posync.scalar("SELECT count(*) FROM loyalty_movements")
    assert done["exit_code"] == 0 and moved > 0
    assert "Loyalty sync" in text and "caja1 ok" in text and "caja2 ok" in text
    assert clean_console.posync.rows("SELECT register, status FROM sync_log WHERE action = 'loyalty sync' "
                                     "ORDER BY 1") == [("caja1", "ok"), ("caja2", "ok")]
    customer, points = clean_console.posync.rows(
        "SELECT customer_id, sum(points)::BIGINT FROM loyalty_movements GROUP BY 1 ORDER BY 1 LIMIT 1")[0]
    page = text_of(clean_console.get(f"/loyalty?customer={customer}").text)
    assert f"{customer}" in page and f"{points:,}" in page and f"Movements of {customer}" in page
    assert "None: the last syncs applied everything they read." in page


def test_rules_sync_shows_the_conflict_and_applies_neither(clean_console: Console, clean_world: World) -> None:
    for path, params in zip(clean_world.paths, ('{"buy": 3, "pay": 2}', '{"buy": 4, "pay": 3}'), strict=True):
        sqlite_exec(path, f"UPDATE commercial_rules SET params = '{params}', updated_at = '2026-11-26 08:00:00' "
                          "WHERE rule_id = 'R2'")

    text, done = clean_console.run("/rules/sync", {})

    sentence = ("conflict: rule R2 sent by caja1 and caja2 with the same updated_at 2026-11-26 08:00:00 "
                "but different content; neither applied")
    assert done["exit_code"] == 3 and sentence in text
    assert clean_console.posync.scalar("SELECT count(*) FROM commercial_rules WHERE rule_id = 'R2'") == 0
    page = text_of(clean_console.get("/rules").text)
    assert sentence in page and "R1" in page and "R3" in page


def test_the_log_filters_as_posync_log(clean_console: Console) -> None:
    everything = text_of(clean_console.get("/log").text)
    assert "remote add" in everything and "import" in everything

    only = clean_console.get("/log?remote=caja2&action=import&since=2020-01-01&limit=5")
    rows = only.text.count("<tr><td class=\"nowrap\">")
    assert only.status_code == 200 and rows == clean_console.posync.scalar(
        "SELECT count(*) FROM sync_log WHERE register = 'caja2' AND action = 'import'") == 1
    bad = clean_console.get("/log?since=last+week")
    assert bad.status_code == 400
    assert "since: 'last week' is not a date; use YYYY-MM-DD, today or yesterday." in text_of(bad.text)
    assert "'caja 2' is not a register name" in text_of(clean_console.get("/log?remote=caja+2").text)


def test_automatic_sync_runs_watchs_cycle_shows_it_and_stops(clean_console: Console) -> None:
    started = clean_console.post("/autosync/start", {"every": "0.01", "catalogs": "none"})
    assert started.status_code == 303

    autosync = clean_console.app.state.console.autosync
    deadline = time.monotonic() + 90
    while autosync.state().cycles < 2:  # main is not read here: a cycle may hold it
        assert time.monotonic() < deadline, "no two cycles in 90 s"
        time.sleep(0.3)
    page = text_of(clean_console.get("/").text)  # a reload: the switch is still on, with its last cycles
    assert "Automatic sync every 0.01 min" in page and "On: a full cycle every 0.01 min (catalogs none)" in page
    again = clean_console.post("/autosync/start", {"every": "5"})
    assert again.status_code == 400
    assert "automatic sync is already running; stop it first to change its settings." in text_of(again.text)

    assert clean_console.post("/autosync/stop").status_code == 303
    autosync.join(60)
    page = text_of(clean_console.get("/").text)
    runs = autosync.state().cycles
    assert "Start automatic sync" in page and f"automatic sync stopped after {runs} cycle(s)." in page
    assert _cycles(clean_console) == runs >= 2  # each cycle logged as `posync watch` logs it
    time.sleep(1.5)
    assert _cycles(clean_console) == runs  # stopped means stopped
    assert clean_console.posync.scalar("SELECT count(*) FROM sync_log WHERE action = 'sync' "
                                       "AND message NOT LIKE 'watch:%'") == 0


def test_a_bad_interval_is_the_watch_commands_sentence(clean_console: Console) -> None:
    response = clean_console.post("/autosync/start", {"every": "0", "catalogs": "none"})

    assert response.status_code == 400
    assert "every: 0.0 is not in the range x>=0.01." in text_of(response.text)


def test_activity_lists_the_jobs_of_this_console(clean_console: Console) -> None:
    clean_console.run("/validate", {"date": DAY1})

    page = text_of(clean_console.get("/jobs").text)
    state = clean_console.get("/jobs/1/state").json()

    assert f"Validate {DAY1}" in page and "done" in page
    assert state["state"] == "done" and state["exit_code"] == 0 and state["events"][0]["message"] == "copying"
    assert clean_console.get("/jobs/99").status_code == 404


def _cycles(console: Console) -> int:
    return int(console.posync.scalar("SELECT count(*) FROM sync_log WHERE action = 'sync' AND message LIKE 'watch:%'"))
