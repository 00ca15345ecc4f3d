"""The wheel works as shops install it: built from the source, installed non-editable in a fresh virtualenv,
and run from outside the source tree (no `pip install -e`, no repository on sys.path).

It takes about half a minute (build ~3 s, virtualenv ~5 s, install ~10 s with the dependencies in pip's
cache or find-links, demo ~20 s); `pytest -m wheel` runs it alone, `-m "not wheel"` leaves it out.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.wheel

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("etl", "validators", "sample_data")
# Build from a clean copy: setuptools reuses build/lib, so a stale file there would land in the wheel.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "demo",
                                    "posync-data", "posync.duckdb*", "bench", "tests", ".hypothesis")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    bin: Path  # the fresh virtualenv's scripts folder
    work: Path  # a folder outside the source tree, the commands' working directory
    seconds: dict[str, float]

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "POSYNC_DB", "POSYNC_HOME", "VIRTUAL_ENV") and not k.startswith("POSYNC_")}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        return subprocess.run([str(self.bin / args[0]), *args[1:]], cwd=self.work, env=env, capture_output=True,
                              text=True, timeout=timeout)

    def posync(self, *args: str, code: int = 0) -> str:
        done = self.run("posync", *args)
        assert done.returncode == code and "Traceback" not in done.stderr, (args, done.stdout, done.stderr)
        return done.stdout


def _timed(seconds: dict[str, float], what: str, argv: list[str], **kw: object) -> None:
    start = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]
    assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-2000:])
    seconds[what] = round(time.monotonic() - start, 1)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    source, dist, venv, work = root / "source", root / "dist", root / "venv", root / "work"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    seconds: dict[str, float] = {}
    _timed(seconds, "build", [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)])
    _timed(seconds, "venv", [sys.executable, "-m", "venv", str(venv)])
    scripts = venv / ("Scripts" if os.name == "nt" else "bin")
    wheel = next(dist.glob("posync-*.whl"))
    _timed(seconds, "install", [str(scripts / "python"), "-m", "pip", "install", "-q", str(wheel)])
    work.mkdir()
    return Installed(wheel, scripts, work, seconds)


def test_the_wheel_holds_every_runtime_file_of_the_source(installed: Installed) -> None:
    in_wheel = set(zipfile.ZipFile(installed.wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", *PACKAGES], cwd=REPO, capture_output=True, text=True).stdout.split()
    runtime = {f for f in tracked if not f.endswith(".py")}  # templates, schemas, mappings, static, sample data

    assert runtime and sorted(runtime - in_wheel) == []
    assert {"etl/mappings/canonical.json", "etl/mappings/legacy_es.json", "etl/mappings/mapping.schema.json",
            "etl/report.css", "etl/console/static/console.css"} <= in_wheel


def test_the_installed_posync_runs_the_demo_imports_and_pushes_from_outside_the_source(installed: Installed,
                                                                                      ) -> None:
    where = installed.run("python", "-c", "import etl, sample_data; print(etl.__file__); print(sample_data.__file__)")
    etl_file, sample_file = (Path(p) for p in where.stdout.split())
    assert installed.bin.parent in etl_file.parents and REPO not in etl_file.parents, where.stdout

    start = time.monotonic()
    demo = installed.posync("demo", "--dir", "demo")
    installed.seconds["demo"] = round(time.monotonic() - start, 1)
    assert "FV1 was issued by both caja1 and caja2 on 2026-11-25" in demo
    assert (installed.work / "demo" / "validation-2026-11-25.html").is_file()

    # By hand on a fresh main store: a legacy register (a built-in mapping read from the package) and a canonical one.
    ready = sample_file.parent / "ready"
    for name in ("caja3.db", "caja4_legacy.db"):
        shutil.copy(ready / name, installed.work / name)
    assert installed.posync("remote", "add", "caja3", "caja3.db").startswith("added caja3: sqlite database at ")
    assert "(mapping legacy_es)" in installed.posync("remote", "add", "caja4", "caja4_legacy.db", "-m", "legacy_es")
    installed.posync("validate", "--date", "2026-11-25", "--output", "report.html")
    assert "<style>" in (installed.work / "report.html").read_text(encoding="utf-8")  # the report's CSS shipped
    imported = installed.posync("import", "--date", "2026-11-25")
    assert re.search(r"^caja3 +accepted +25 +25 ", imported, re.M) and re.search(r"^caja4 +accepted +25 +25 ", imported,
                                                                                  re.M), imported
    # A catalog as Spanish Excel writes it (cp1252, `;`, decimal comma), then pushed to both registers.
    (installed.work / "taxes.csv").write_bytes("tax_id;name;rate\r\nIVA19;IVA general;0,19\r\n"
                                               "IVA5;IVA reducido;0,05\r\nEXE;Exento (Ñ);0\r\n".encode("cp1252"))
    loaded = installed.posync("catalogs", "load", "taxes", "taxes.csv")
    assert loaded.splitlines()[:2] == ["3 rows from taxes.csv loaded into main's taxes: 3 new, 0 changed, 0 deleted, "
                                       "0 unchanged", "read as cp1252 text, separated by ';', with decimal commas"]
    pushed = installed.posync("catalogs", "push", "--mode", "total", "--table", "taxes")
    assert re.search(r"^caja3 +applied +taxes ", pushed, re.M) and re.search(r"^caja4 +applied +taxes ", pushed, re.M)
    assert "caja3: no sales in main for" in installed.posync("status", code=1)  # 2026-11-25 is days ago: exit 1

    print(f"wheel smoke timings (s): {installed.seconds}")  # shown with pytest -s


def test_the_installed_console_serves_its_templates_and_static_files(installed: Installed) -> None:
    installed.posync("--db", "console.duckdb", "numbering", "set", "FV1", "--prefix", "SETT", "--from", "1",
                     "--to", "9")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([str(installed.bin / "posync"), "--db", "console.duckdb", "console", "--port", "0"],
                            cwd=installed.work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        said = ""
        while (line := proc.stdout.readline()) and "stop with Ctrl-C" not in line:
            said += line
        url = re.search(r"open (http://127\.0\.0\.1:\d+/)", said)
        assert url, said
        with urllib.request.urlopen(url.group(1), timeout=30) as page:
            assert "Registers" in page.read().decode()
        with urllib.request.urlopen(url.group(1) + "static/console.css", timeout=30) as css:
            assert css.status == 200 and len(css.read()) > 100
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0
