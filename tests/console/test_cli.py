"""`posync console` itself: refuses an unsafe or busy address in one sentence (exit 2), serves for real, and
stops cleanly on SIGTERM."""

from __future__ import annotations

import http.cookiejar
import re
import signal
import socket
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import DAY1, Posync
from tests.console.conftest import start_console
from tests.test_sync import World


def test_a_network_bind_without_a_token_is_refused_with_exit_2(posync: Posync) -> None:
    result = posync("console", "--host", "0.0.0.0")

    assert result.exit_code == 2
    assert result.output == ("error: --host 0.0.0.0 lets other machines reach the console, so it needs a token: "
                             "pass --token T (16 or more characters) or --new-token, or bind to 127.0.0.1.\n")


def test_a_port_in_use_is_one_sentence_with_exit_2(posync: Posync) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = posync("console", "--port", str(port))

    assert result.exit_code == 2
    assert result.output == (f"error: cannot listen on 127.0.0.1 port {port} (Address already in use); "
                             "choose another with --port or --host.\n")


def test_it_serves_and_stops_cleanly_on_sigterm(clean_world: World) -> None:
    proc, url, lines = start_console(clean_world.posync.db)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            page = response.read().decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)

    assert lines[0] == f"posync console for the main store {clean_world.posync.db}"
    assert "caja1" in page and "All well" in page
    assert proc.returncode == 0, err
    assert out.strip().splitlines()[-1] == "posync console stopped." and "Traceback" not in err


def test_sigterm_during_a_job_lets_it_finish_ends_the_event_stream_and_exits_0(clean_world: World,
                                                                               tmp_path: Path) -> None:
    paused = tmp_path / "paused"
    proc, url, _lines = start_console(clean_world.posync.db, env={"POSYNC_SLEEP_AT": "merge#1:3",
                                                                  "POSYNC_PAUSE_FILE": str(paused)})
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    try:
        page = browser.open(url, timeout=30).read().decode()
        csrf = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
        form = urllib.parse.urlencode({"csrf": csrf, "date": DAY1, "mode": "overwrite"}).encode()
        job = browser.open(url + "import", data=form, timeout=30).geturl()
        stream = browser.open(job + "/events", timeout=60)
        ended = threading.Thread(target=stream.read)
        ended.start()
        deadline = time.monotonic() + 60
        while not paused.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)

    ended.join(30)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert not ended.is_alive()  # the event stream ended with the console
    assert out.strip().splitlines()[-1] == "posync console stopped."
    assert clean_world.posync.rows("SELECT register, mode, status FROM sync_log WHERE action = 'import' "
                                   "AND mode = 'overwrite' ORDER BY 1") == [("caja1", "overwrite", "ok"),
                                                                             ("caja2", "overwrite", "ok")]
