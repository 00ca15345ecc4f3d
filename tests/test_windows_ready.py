"""Windows-ready by construction, tested from here: no POSIX-only module on any import path, Windows and UNC
register paths stored and shown as given, the working folder per platform, and the run lock's semantics
between two real processes (exit 4 naming the holder; a holder that died is never in the way)."""

from __future__ import annotations

import ast
import json
import ntpath
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path, PureWindowsPath

import pytest

from etl import paths, remotes
from tests.conftest import Posync

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("etl", "validators", "sample_data")
POSIX_ONLY = ("fcntl", "termios", "pwd", "grp", "resource")
# Third-party packages that pick their own module per platform (portalocker: msvcrt and pywin32 on Windows).
DISPATCH_BY_PLATFORM = ("portalocker",)

IMPORT_ALL_WITHOUT_POSIX = textwrap.dedent("""
    import importlib, pkgutil, sys

    BLOCKED, ALLOWED = set(sys.argv[1].split(",")), tuple(sys.argv[2].split(","))

    class Windows:
        '''Refuses the POSIX-only modules, as Windows' Python does, to everyone but platform-dispatching libraries.'''

        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] not in BLOCKED:
                return None
            frame = sys._getframe(1)
            while frame and (frame.f_code.co_filename.startswith("<frozen") or "importlib" in frame.f_code.co_filename):
                frame = frame.f_back
            importer = frame.f_globals.get("__name__", "") if frame else ""
            if importer.partition(".")[0] in ALLOWED:
                return None
            raise ModuleNotFoundError(f"No module named {name!r} (imported by {importer})", name=name)

    for name in BLOCKED:
        sys.modules.pop(name, None)
    sys.meta_path.insert(0, Windows())
    done = []
    for package in sys.argv[3].split(","):
        for module in [package] + [m.name for m in pkgutil.walk_packages(importlib.import_module(package).__path__,
                                                                        package + ".")]:
            if not module.endswith("__main__"):
                importlib.import_module(module)
                done.append(module)
    from etl.cli import cli
    print(len(done), sorted(cli.commands))
""")


def test_every_module_of_posync_imports_without_the_posix_only_modules() -> None:
    done = subprocess.run([sys.executable, "-c", IMPORT_ALL_WITHOUT_POSIX, ",".join(POSIX_ONLY),
                           ",".join(DISPATCH_BY_PLATFORM), ",".join(PACKAGES)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)

    assert done.returncode == 0, done.stderr[-3000:]
    count, commands = done.stdout.split(" ", 1)
    modules = [f for package in PACKAGES for f in (REPO / package).rglob("*.py") if f.name != "__main__.py"]
    assert int(count) == len(modules)  # every module under etl/, validators/ and sample_data/
    assert "remote" in commands and "catalogs" in commands and "console" in commands


def test_no_module_imports_a_posix_only_module_even_inside_a_function() -> None:
    found = []
    for package in PACKAGES:
        for source in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                found += [f"{source.relative_to(REPO)}:{node.lineno} {n}" for n in names
                          if n.partition(".")[0] in POSIX_ONLY]
    assert found == []


@pytest.mark.parametrize(("typed", "folder"), [
    (r"\\SERVIDOR\cajas\caja1\datos.db", r"\\SERVIDOR\cajas\caja1"),
    (r"\\SERVIDOR\cajas\datos.db", "\\\\SERVIDOR\\cajas\\"),  # a file at the share's root: the share is its folder
    (r"C:\Tienda\Cajas\caja2.db", r"C:\Tienda\Cajas"),
    ("D:/cajas/caja3.db", "D:\\cajas"),
])
def test_windows_paths_keep_what_was_typed_and_their_folder(typed: str, folder: str) -> None:
    assert paths.as_given(typed, r"C:\posync", ntpath) == str(PureWindowsPath(typed))
    assert paths.as_given(typed, "/home/tienda") == typed  # the server's path, typed on another machine
    assert str(paths.parent_folder(typed)) == folder


def test_a_relative_windows_path_is_joined_to_the_current_folder() -> None:
    assert paths.as_given(r"datos\caja1.db", r"\\SERVIDOR\cajas", ntpath) == r"\\SERVIDOR\cajas\datos\caja1.db"
    assert paths.as_given(r"..\caja1.db", r"C:\posync\hoy", ntpath) == r"C:\posync\caja1.db"


def test_unc_and_drive_registers_are_stored_listed_and_opened_as_given(posync: Posync) -> None:
    unc, drive = r"\\SERVIDOR\cajas\caja1\datos.db", r"C:\Tienda\caja2.db"

    added = posync("remote", "add", "caja1", unc, "--no-check")
    assert (added.exit_code, added.stdout) == (0, f"added caja1: sqlite database at {unc} (mapping canonical)\n")
    assert posync("remote", "add", "caja2", drive, "--no-check", "-m", "legacy_es").exit_code == 0

    assert posync.rows("SELECT name, path FROM remotes ORDER BY name") == [("caja1", unc), ("caja2", drive)]
    listed = json.loads(posync("remote", "list", "--json").stdout)
    assert [(r["path"], r["reachable"]) for r in listed] == [(unc, False), (drive, False)]
    shown = posync("remote", "open", "caja1", env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert shown.stdout == "folder: \\\\SERVIDOR\\cajas\\caja1\n"
    assert json.loads(posync("remote", "open", "caja2", "--json", env={"DISPLAY": ""}).stdout) == {
        "folder": "C:\\Tienda", "opened": False}
    # An import names the unreachable share and goes on (exit 1), it never crashes on the path.
    imported = posync("import", "--date", "2026-11-26")
    assert imported.exit_code == 1 and f"register caja1: file not found (path {unc})" in imported.output


def test_the_file_manager_follows_the_platform() -> None:
    assert remotes.file_manager("win32", {}) == "startfile"
    assert remotes.file_manager("darwin", {}) == "open"
    assert remotes.file_manager("linux", {}) is None  # no desktop: the folder is printed


def test_the_working_folder_follows_the_platform_and_posync_home_wins(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POSYNC_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    store = tmp_path / "tienda" / "posync.duckdb"
    uri = "postgresql://pos@10.0.0.5:5432/main"

    assert paths.data_dir(str(store)) == tmp_path / "tienda" / "posync-data" / paths.store_key(str(store))
    assert paths.data_dir(uri) == tmp_path / "xdg" / "posync" / "main-6e25d15f"  # Linux: $XDG_DATA_HOME/posync
    monkeypatch.setenv("POSYNC_HOME", str(tmp_path / "home"))
    assert paths.data_dir(uri) == tmp_path / "home" / "main-6e25d15f"
    assert paths.data_dir(str(store)).parent == tmp_path / "home"


HOLD = textwrap.dedent("""
    import sys
    from etl.store import open_store
    store = open_store(sys.argv[1])
    print("holding", flush=True)
    sys.stdin.read()  # until the test closes our stdin (or kills us)
    store.close()
""")


def _holder(db: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=REPO)
    assert proc.stdout is not None and proc.stdout.readline() == "holding\n"
    return proc


def _numbering(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "etl", "--db", str(db), "numbering", "set", "FV1", "--prefix",
                           "SETT", "--from", "1", "--to", "9"], capture_output=True, text=True, timeout=60, cwd=REPO)


def test_a_second_process_gets_exit_4_naming_the_holder_then_runs_once_it_is_gone(tmp_path: Path) -> None:
    db = tmp_path / "main.duckdb"
    holder = _holder(db)
    try:
        second = _numbering(db)
    finally:
        holder.communicate("", timeout=30)

    assert second.returncode == 4 and second.stdout == ""
    assert second.stderr.startswith(f"error: another posync run (pid {holder.pid}, since ")
    assert second.stderr.endswith(f"holds the main store {db}; wait for it to finish, or stop it, then run again.\n")
    assert _numbering(db).returncode == 0  # released at close
    assert Path(f"{db}.lock.json").read_text() == ""  # nobody holds it


def test_a_holder_killed_with_sigkill_is_never_in_the_way(tmp_path: Path) -> None:
    db = tmp_path / "main.duckdb"
    holder = _holder(db)
    os.kill(holder.pid, signal.SIGKILL)  # no close(), no cleanup: only the OS releases the lock
    holder.communicate(timeout=30)
    left = json.loads(Path(f"{db}.lock.json").read_text())
    assert left["pid"] == holder.pid  # what the dead holder wrote down is still there…

    after = _numbering(db)  # …and is not believed: the lock itself is free
    assert (after.returncode, after.stderr) == (0, ""), after.stderr
    status = subprocess.run([sys.executable, "-m", "etl", "--db", str(db), "numbering", "list"],
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert status.returncode == 0 and "another posync run" not in status.stdout + status.stderr
