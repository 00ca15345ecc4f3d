"""Safe by default: CSRF on every POST, the Host check, the token off loopback, uploads confined to the
working folder and capped, and the headers every page carries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from etl import paths
from etl.console.app import create_app
from etl.console.config import ConsoleConfig
from etl.errors import ConfigError
from tests.console.conftest import Console, console_for, text_of
from tests.test_sync import World

TOKEN = "a-token-of-twenty-four-ch"


def _post_routes(console: Console) -> list[str]:
    routes = [r for r in console.app.routes if isinstance(r, Route) and "POST" in (r.methods or set())]
    return [r.path.replace("{name}", "caja1") for r in routes]


def test_every_post_without_the_csrf_token_is_403_and_changes_nothing(console: Console) -> None:
    before = console.posync.rows("SELECT count(*) FROM sync_log")
    posts = _post_routes(console)
    assert {"/registers", "/import", "/validate", "/catalogs/load", "/catalogs/push", "/autosync/start",
            "/registers/{name}/remove".replace("{name}", "caja1")} <= set(posts)

    for path in posts:
        missing = console.client.post(path, data={"name": "x", "path": "y", "date": "2026-11-26"})
        wrong = console.client.post(path, data={"csrf": "0" * 64, "date": "2026-11-26"})
        assert (path, missing.status_code, wrong.status_code) == (path, 403, 403)
    assert "the form's security token is missing or stale" in text_of(missing.text)
    assert console.posync.rows("SELECT count(*) FROM sync_log") == before
    assert console.app.state.console.jobs.recent() == []


def test_a_post_from_another_site_is_403_even_with_a_token(console: Console) -> None:
    response = console.post("/validate", {"date": "2026-11-26"}, headers={"origin": "http://evil.example"})

    assert response.status_code == 403


def test_a_loopback_console_answers_only_to_loopback_names(console: Console) -> None:
    assert console.get("/log", headers={"host": "evil.example:8765"}).status_code == 421
    assert console.get("/log", headers={"host": "localhost:8765"}).status_code == 200


def test_pages_carry_a_strict_policy(console: Console) -> None:
    headers = console.get("/").headers

    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    assert "SameSite=Strict" in headers.get("set-cookie", "SameSite=Strict") and headers["cache-control"] == "no-store"


def test_a_network_bind_needs_a_token() -> None:
    with pytest.raises(ConfigError, match=r"^--host 0\.0\.0\.0 lets other machines reach the console, so it needs "
                                          r"a token: pass --token T \(16 or more characters\) or --new-token, or "
                                          r"bind to 127\.0\.0\.1\.$"):
        create_app(ConsoleConfig(host="0.0.0.0"))
    with pytest.raises(ConfigError, match="--token must be at least 16 characters long"):
        create_app(ConsoleConfig(host="0.0.0.0", token="short"))


@pytest.fixture
def guarded(conflict_world: World) -> Iterator[TestClient]:
    app = create_app(ConsoleConfig(db=str(conflict_world.posync.db), host="0.0.0.0", token=TOKEN))
    with TestClient(app, base_url="http://192.0.2.10:8765") as client:
        yield client


def test_with_a_token_nothing_answers_before_signing_in(guarded: TestClient) -> None:
    first = guarded.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/login?next=%2F"
    assert guarded.post("/validate", data={"date": "2026-11-26"}).status_code == 401
    login = guarded.get("/login")
    csrf = login.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    wrong = guarded.post("/login", data={"csrf": csrf, "token": "nope", "next": "/log"})
    assert wrong.status_code == 401 and "that is not this console's token" in text_of(wrong.text)

    right = guarded.post("/login", data={"csrf": csrf, "token": TOKEN, "next": "/log"}, follow_redirects=False)

    assert right.status_code == 303 and right.headers["location"] == "/log"
    assert guarded.get("/log").status_code == 200


def test_a_token_in_the_link_signs_in_and_leaves_the_address(guarded: TestClient) -> None:
    response = guarded.get(f"/log?token={TOKEN}&limit=5", follow_redirects=False)

    assert response.status_code == 303 and response.headers["location"] == "/log?limit=5"
    assert guarded.get("/log?limit=5").status_code == 200
    bearer = TestClient(guarded.app, base_url="http://192.0.2.10:8765")
    assert bearer.get("/log", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200


# -- uploads -------------------------------------------------------------------------------------------------


def _upload(console: Console, name: str, body: bytes = b"product_id,name\nP1,Arepa\n",
            csrf_first: bool = True) -> Any:
    fields = [("csrf", console.csrf), ("table", "products")]
    boundary = "posyncboundary"
    parts = [] if csrf_first else [("file", name, body)]
    parts += [(k, None, v.encode()) for k, v in fields] + ([("file", name, body)] if csrf_first else [])
    chunks = []
    for field, filename, value in parts:
        disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename is not None else "")
        chunks.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n")
    payload = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return console.client.post("/catalogs/load", content=payload, follow_redirects=False,
                               headers={"content-type": f"multipart/form-data; boundary={boundary}"})


def _written(world: World) -> list[Path]:
    return sorted(p for p in world.root.rglob("*") if p.is_file() and p.suffix in (".csv", ".x"))


@pytest.mark.parametrize("name", ["../../x.csv", "/tmp/x.csv", "..\\..\\x.csv", "C:\\x.csv", "x\x00.csv",
                                  ".hidden.csv", "notes.txt", "sub/x.csv"])
def test_an_upload_name_that_is_not_a_plain_file_name_is_refused(console: Console, conflict_world: World,
                                                                  name: str) -> None:
    before = _written(conflict_world)

    response = _upload(console, name)

    assert response.status_code == 400, name
    assert "is not allowed: give a plain file name such as products.csv" in text_of(response.text) or \
        "unknown format" in text_of(response.text)
    assert _written(conflict_world) == before and not Path("/tmp/x.csv").exists()
    assert not any((paths.data_dir(str(conflict_world.posync.db)) / "uploads").rglob("*"))


def test_a_file_sent_before_the_csrf_field_is_refused_unwritten(console: Console, conflict_world: World) -> None:
    response = _upload(console, "products.csv", csrf_first=False)

    assert response.status_code == 403
    assert not any((paths.data_dir(str(conflict_world.posync.db)) / "uploads").rglob("*"))


def test_an_oversized_upload_is_refused_whether_declared_or_streamed(conflict_world: World) -> None:
    for console in console_for(conflict_world.posync.db, max_upload_bytes=1000):
        declared = _upload(console, "products.csv", b"x" * 80_000)  # Content-Length over the cap: never read
        streamed = _upload(console, "products.csv", b"y" * 5_000)  # under the cap with its slack: cut as written

        for response in (declared, streamed):
            assert response.status_code == 413
            assert "the upload is larger than 1,000 bytes; nothing was saved." in text_of(response.text)
        assert not any((paths.data_dir(str(conflict_world.posync.db)) / "uploads").rglob("*.csv"))
        assert console.posync.scalar("SELECT count(*) FROM products") == 0
