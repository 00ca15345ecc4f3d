"""`posync console`: bind the socket (refusing an unsafe or busy address in one sentence), say where the
console is, and serve it with uvicorn until Ctrl-C or SIGTERM (a job in progress finishes first)."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import webbrowser
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn

from etl import postgres
from etl.console.app import SHUTDOWN_WAIT, create_app
from etl.console.config import ConsoleConfig
from etl.console.i18n import _
from etl.errors import ConfigError

Echo = Callable[[str], None]


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or ConfigError naming the address and the fix."""
    sock: socket.socket | None = None
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(64)
    except OSError as err:
        if sock is not None:
            sock.close()
        raise ConfigError(_("cannot listen on %(host)s port %(port)s (%(why)s); choose another with --port or --host.",
                            host=host, port=port, why=err.strerror or err)) from None
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - what a browser on this machine types
    return f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"


@contextlib.contextmanager
def _quiet_signals() -> Iterator[None]:
    """uvicorn handles Ctrl-C/SIGTERM while serving and raises them again afterwards; once it has shut down
    cleanly that second delivery must not look like an interrupted run (the CLI's exit 130)."""
    previous = {sig: signal.signal(sig, lambda *_a: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Server(uvicorn.Server):
    """uvicorn, telling the app the moment a stop is asked: open event streams end, so shutdown need not wait."""

    def __init__(self, config: uvicorn.Config, stopping: threading.Event) -> None:
        super().__init__(config)
        self.stopping = stopping

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stopping.set()
        super().handle_exit(sig, frame)


def serve(config: ConsoleConfig, echo: Echo) -> None:
    """Serve the console for config.db until stopped."""
    app = create_app(config)
    sock = bind(config.host, config.port)
    url = url_of(sock, config.host)
    echo(_("posync console for the main store %(target)s", target=postgres.redact(config.target)))
    echo(_("  open %(url)s", url=url))
    if not config.loopback:
        port = sock.getsockname()[1]
        echo(_("  from other machines: http://%(host)s:%(port)s/ (this machine's name or address)",
               host=socket.gethostname(), port=port))
    if config.token:
        echo(_("  token: %(token)s (sign in with it, or open %(url)s?token=%(token)s)", token=config.token, url=url))
    echo(_("  stop with Ctrl-C; a job in progress finishes first (up to %(s)s s)", s=int(SHUTDOWN_WAIT)))
    if config.open_browser:
        target = f"{url}?token={config.token}" if config.token else url
        threading.Timer(0.8, webbrowser.open, args=(target,)).start()
    server = _Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                    timeout_graceful_shutdown=5), app.state.stopping)
    with _quiet_signals():
        server.run(sockets=[sock])
    echo(_("posync console stopped."))
