"""`posync console` itself: refuses an unsafe or busy address in one sentence (exit 2), serves for real, and
stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import socket
import urllib.request

from tests.conftest import Posync
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
