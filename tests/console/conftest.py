"""The console under test: a real app on a real main store and real sample registers, through Starlette's
TestClient; a helper posts forms with the page's CSRF token and follows a job's event stream to its end."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from etl.console.app import create_app
from etl.console.config import ConsoleConfig
from tests.conftest import DAY1, Posync
from tests.test_sync import World, build_world

CSRF = re.compile(r'name="csrf-token" content="([0-9a-f]+)"')
TAGS = re.compile(r"<[^>]+>")


def text_of(page: str) -> str:
    """What a person reads on the page: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(TAGS.sub(" ", page)).split())


class Console:
    """A TestClient bound to one console, as a browser on this machine would use it."""

    def __init__(self, client: TestClient, posync: Posync) -> None:
        self.client = client
        self.posync = posync
        self._csrf: str | None = None

    @property
    def app(self) -> Any:
        return self.client.app

    @property
    def csrf(self) -> str:
        if self._csrf is None:
            match = CSRF.search(self.client.get("/log").text)
            assert match, "no CSRF token on the page"
            self._csrf = match.group(1)
        return self._csrf

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        """POST a form the way the page would: with its CSRF token, not following the redirect."""
        kw.setdefault("follow_redirects", False)
        return self.client.post(path, data={"csrf": self.csrf, **(data or {})}, **kw)

    def job(self, response: Any) -> tuple[Any, list[dict[str, Any]], dict[str, Any]]:
        """Follow a started job (303 to its page) through its event stream: (final page, events, done)."""
        assert response.status_code == 303, text_of(response.text)[:500]
        where = response.headers["location"]
        assert re.fullmatch(r"/jobs/\d+", where), where
        events: list[dict[str, Any]] = []
        done: dict[str, Any] = {}
        with self.client.stream("GET", where + "/events") as stream:
            kind = "message"
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = json.loads(line.removeprefix("data: "))
                    if kind == "done":
                        done = data
                        break
                    events.append(data)
        return self.client.get(where), events, done

    def run(self, path: str, data: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """POST an action that starts a job and wait for it: (the result page's text, done)."""
        page, _events, done = self.job(self.post(path, data))
        return text_of(page.text), done


def console_for(db: Path, **config: Any) -> Iterator[Console]:
    app = create_app(ConsoleConfig(db=str(db), **config))
    with TestClient(app, base_url="http://127.0.0.1:8765", client=("127.0.0.1", 50000)) as client:
        yield Console(client, Posync(db))


def start_console(db: Path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str,
                                                                                  list[str]]:
    """`posync --db DB console --port 0 ARGS` in a subprocess: (process, its URL, the lines it printed)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "etl", "--db", str(db), "console", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    lines = []
    while (line := proc.stdout.readline()) and "stop with Ctrl-C" not in line:
        lines.append(line.rstrip("\n"))
    match = re.search(r"open (http://127\.0\.0\.1:\d+/)", "\n".join(lines))
    assert match, (lines, proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
    return proc, match.group(1), lines


@pytest.fixture(scope="session")
def conflict_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """caja1..caja3 registered, nothing imported; caja2 also issues FV1 on DAY1 (the code clash)."""
    spec = {"registers": 3, "vouchers_per_day": 10, "customers": 6, "products": 30,
            "faults": frozenset({"code_conflict"})}
    return build_world(tmp_path_factory.mktemp("console-conflict"), spec, [])


@pytest.fixture(scope="session")
def clean_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """caja1..caja2 registered with DAY1 imported cleanly."""
    spec = {"registers": 2, "vouchers_per_day": 10, "customers": 6, "products": 30}
    return build_world(tmp_path_factory.mktemp("console-clean"), spec, [DAY1])


@pytest.fixture
def conflict_world(conflict_template: Path, tmp_path: Path) -> World:
    return World.clone(conflict_template, tmp_path / "world")


@pytest.fixture
def clean_world(clean_template: Path, tmp_path: Path) -> World:
    return World.clone(clean_template, tmp_path / "world")


@pytest.fixture
def console(conflict_world: World) -> Iterator[Console]:
    yield from console_for(conflict_world.posync.db)


@pytest.fixture
def clean_console(clean_world: World) -> Iterator[Console]:
    yield from console_for(clean_world.posync.db)
