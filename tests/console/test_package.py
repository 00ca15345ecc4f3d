"""The console's templates and static files ship in the wheel: every one is matched by pyproject's package-data."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_template_and_static_file_is_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["etl.console"]
    base = ROOT / "etl" / "console"
    files = [p.relative_to(base).as_posix() for folder in ("templates", "static") for p in (base / folder).rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]

    assert files and [f for f in files if not any(fnmatch.fnmatch(f, g) and f.count("/") == g.count("/")
                                                   for g in globs)] == []
