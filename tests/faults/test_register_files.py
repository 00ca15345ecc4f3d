"""Register files that can't be read (FAULTS 1-7): that register fails alone, clearly; the others import.

Each case breaks caja1 or caja2 of a fresh world for real (renames its share, swaps in a FIFO, a
corrupt file, a CSV…), runs the import, checks the exit code, the one-line message, main and the
log, then repairs the register and checks that a plain rerun converges to one clean import.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.faults.conftest import (
    DAY1,
    World,
    assert_converges,
    assert_invariants,
    imported,
    logged_errors,
    wait_for,
)

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = {  # corpus file -> what posync must say about it (after "register caja2: ")
    "empty.db": "the file is empty; expected a SQLite or DuckDB database.",
    "truncated_half.db": "database file is corrupt (database disk image is malformed).",
    "flipped_page.db": "database file is corrupt (database disk image is malformed).",
    "sales_export_csv.db": "not a database posync can read; expected a SQLite 3 file ('SQLite format 3') "
                           "or a DuckDB file (storage v64+).",
}
FAILS_AT_ADD = {"empty.db", "sales_export_csv.db"}  # the magic bytes already tell; the others need a read


def _register_error(output: str, register: str) -> str:
    """The one line the import prints for a register that failed."""
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith(f"{register}: ")]
    assert len(lines) == 1, output
    return lines[0].removeprefix(f"{register}: ")


def _assert_failed_alone(world: World, register: str, message: str, output: str, code: int, expected: int = 1) -> None:
    """Exit code, the one-line message (printed and logged), nothing of that register in main, the others in."""
    assert code == expected, output
    assert _register_error(output, register) == message
    assert "Traceback" not in output
    assert imported(world) == sorted({"caja1", "caja2", "caja3"} - {register})
    assert logged_errors(world, register) == [message]
    assert world.posync.scalar("SELECT count(*) FROM import_batches WHERE register = ?", [register]) == 0
    assert world.staging_leftovers() == []
    assert_invariants(world)


@pytest.mark.fault(1)
def test_a_missing_register_fails_alone_and_the_rerun_converges(world: World, reference: dict[str, Any]) -> None:
    path = world.reg("caja2")
    path.rename(path.with_name("caja2.renamed"))

    result = world.posync("import", "--date", DAY1)

    _assert_failed_alone(world, "caja2", f"register caja2: file not found (path {path}); check `posync remote list`.",
                         result.output, result.exit_code)
    path.with_name("caja2.renamed").rename(path)
    assert_converges(world, reference)


@pytest.mark.fault(2)
def test_an_unreachable_share_times_out_transiently_and_the_others_import(
    world: World, reference: dict[str, Any]
) -> None:
    # caja2's copy hangs as on a dead SMB share (the fault point sleeps inside the bounded copy)
    started = time.monotonic()

    result = world.cli("import", "--date", DAY1, env={"POSYNC_SHARE_TIMEOUT": "1", "POSYNC_SLEEP_AT": "copied#2:30"},
                       timeout=90)

    assert time.monotonic() - started < 25  # bounded: no hang, not even at exit
    message = ("register caja2: copying the file took more than 1 s (share unreachable?); "
               "it will be retried on the next run.")
    _assert_failed_alone(world, "caja2", message, result.stdout, result.returncode)
    assert_converges(world, reference)


@pytest.mark.fault(51)
@pytest.mark.parametrize("how", ["fifo", "fifo behind a symlink"])
def test_a_fifo_where_the_register_was_is_refused_at_once_never_waited_on(
    world: World, reference: dict[str, Any], how: str
) -> None:
    path = world.reg("caja2")
    path.rename(path.with_name("caja2.saved"))
    if how == "fifo":
        os.mkfifo(path)
    else:
        os.mkfifo(path.with_name("pipe"))
        path.symlink_to(path.with_name("pipe"))
    started = time.monotonic()

    result = world.cli("import", "--date", DAY1, env={"POSYNC_SHARE_TIMEOUT": "20"}, timeout=90)
    added = world.cli("remote", "add", "caja9", str(path), env={"POSYNC_SHARE_TIMEOUT": "20"}, timeout=90)

    assert time.monotonic() - started < 15  # refused from stat(), never opened
    message = (f"register caja2: {path} is a named pipe (FIFO), not a database file; "
               "`posync remote edit` it to the database file.")
    _assert_failed_alone(world, "caja2", message, result.stdout, result.returncode)
    assert added.returncode == 2 and added.stderr == (
        f"error: path {path} is a named pipe (FIFO); give the register's database file.\n")
    assert world.posync.scalar("SELECT count(*) FROM remotes WHERE name = 'caja9'") == 0
    path.unlink()
    path.with_name("caja2.saved").rename(path)
    assert_converges(world, reference)


@pytest.mark.fault(3)
def test_the_share_dropping_during_the_copy_fails_that_register_only(
    world: World, reference: dict[str, Any], paused: Path
) -> None:
    share = world.reg("caja1").parent
    proc = world.start("import", "--date", DAY1,
                       env={"POSYNC_SLEEP_AT": "copied#1:1.5", "POSYNC_PAUSE_FILE": str(paused)})
    wait_for(paused, proc)
    share.rename(share.with_name("share1.unmounted"))  # caja1 is copied, its size not yet re-checked
    out, err = proc.communicate(timeout=120)

    message = (f"register caja1: copy failed (the file disappeared while it was copied: {world.reg('caja1')}); "
               "the share may have dropped; it will be retried on the next run.")
    _assert_failed_alone(world, "caja1", message, out, proc.returncode)
    share.with_name("share1.unmounted").rename(share)
    assert_converges(world, reference)


@pytest.mark.fault(3, 4)
def test_after_the_copy_the_share_may_vanish_posync_reads_only_its_snapshot(
    world: World, reference: dict[str, Any], paused: Path
) -> None:
    share = world.reg("caja1").parent
    proc = world.start("import", "--date", DAY1,
                       env={"POSYNC_SLEEP_AT": "extract#1:1", "POSYNC_PAUSE_FILE": str(paused)})
    wait_for(paused, proc)
    share.rename(share.with_name("share1.unmounted"))  # caja1 is staged and attached: its copy is read
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 0, out + err
    assert world.content() == reference
    assert world.staging_leftovers() == []


LOCKER = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
con.execute("INSERT INTO vouchers VALUES ('FV2', 9001, '2026-11-26', '2026-11-26 20:00:00', NULL, 100, 19, 119, "
            "'issued', '2026-11-26 20:00:00')")
con.execute("INSERT INTO voucher_lines VALUES ('FV2', 9001, 1, 'P00001', 1, 100, 0, 19, 119)")
print("locked", flush=True)
con.execute("COMMIT" if sys.stdin.readline().strip() == "commit" else "ROLLBACK")
print("committed", flush=True)
"""


@pytest.mark.fault(4)
def test_a_register_locked_by_its_pos_is_read_from_a_copy_and_the_pos_never_waits(
    world: World, reference: dict[str, Any]
) -> None:
    pos = subprocess.Popen([sys.executable, "-c", LOCKER, str(world.reg("caja2"))], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    try:
        assert pos.stdout is not None and pos.stdout.readline().strip() == "locked"

        result = world.posync("import", "--date", DAY1)

        assert result.exit_code == 0, result.output  # the POS's exclusive lock did not stop the import …
        # … and its uncommitted sale is not in main
        assert world.content() == reference
        out, _ = pos.communicate("commit\n", timeout=30)  # the POS was never blocked by posync
        assert out.strip() == "committed" and pos.returncode == 0
    finally:
        if pos.poll() is None:
            pos.kill()
            pos.communicate()

    again = world.posync("import", "--date", DAY1)  # the committed sale arrives with the next run

    assert again.exit_code == 0, again.output
    assert world.posync.scalar("SELECT count(*) FROM vouchers WHERE voucher_code = 'FV2' AND number = 9001") == 1
    assert_invariants(world)


@pytest.mark.fault(4)
def test_a_read_only_register_is_imported_and_never_written(world: World, reference: dict[str, Any]) -> None:
    path = world.reg("caja3")
    before = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    path.chmod(0o444)
    path.parent.chmod(0o555)
    try:
        result = world.posync("import", "--date", DAY1)
    finally:
        path.parent.chmod(0o755)
        path.chmod(0o644)

    assert result.exit_code == 0, result.output
    assert world.content() == reference
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["caja3.db"]  # no -journal, -wal or lock files


def _writer(path: Path, stop: threading.Event, every: float) -> threading.Thread:
    """A POS that keeps selling: a new payment method every `every` seconds until stopped."""

    def run() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            con = __import__("sqlite3").connect(path)
            con.execute("INSERT INTO payment_methods VALUES (?, 'nuevo')", [f"X{n}"])
            con.commit()
            con.close()
            stop.wait(every)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.fault(5)
def test_a_copy_torn_by_a_write_is_retried_and_the_snapshot_imported_is_whole(
    world: World, reference: dict[str, Any], paused: Path
) -> None:
    proc = world.start("import", "--date", DAY1,
                       env={"POSYNC_SLEEP_AT": "copied#1:1", "POSYNC_PAUSE_FILE": str(paused)})
    wait_for(paused, proc)
    world.sql("caja1", "INSERT INTO payment_methods VALUES ('QR', 'Código QR')")  # during the first copy
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 0, out + err
    assert world.content() == reference
    final = hashlib.sha256(world.reg("caja1").read_bytes()).hexdigest()
    assert world.posync.scalar("SELECT snapshot_sha256 FROM import_batches WHERE register = 'caja1'") == final
    assert_invariants(world)


@pytest.mark.fault(5)
def test_a_file_that_keeps_changing_is_never_imported_torn(world: World, reference: dict[str, Any]) -> None:
    stop = threading.Event()
    writer = _writer(world.reg("caja1"), stop, every=0.05)
    try:
        result = world.cli("import", "--date", DAY1, "--remote", "caja1", env={"POSYNC_SLEEP_AT": "copied:0.4"})
    finally:
        stop.set()
        writer.join()

    assert result.returncode == 1, result.stdout + result.stderr
    message = ("register caja1: the file kept changing while it was copied (3 tries); "
               "it will be retried on the next run.")
    assert _register_error(result.stdout, "caja1") == message
    assert imported(world) == [] and logged_errors(world, "caja1") == [message]
    assert world.staging_leftovers() == []

    assert world.posync("import", "--date", DAY1).exit_code == 0  # the POS went quiet: it imports
    assert world.content() == reference
    assert_invariants(world)


MID_TRANSACTION_WRITER = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size = 2")  # a big transaction spills: the file changes and a hot -journal exists
con.execute("BEGIN IMMEDIATE")
con.execute("INSERT INTO vouchers VALUES ('FV1', 9001, '2026-11-26', '2026-11-26 20:00:00', NULL, 100, 19, 119, "
            "'issued', '2026-11-26 20:00:00')")
con.execute("INSERT INTO voucher_lines VALUES ('FV1', 9001, 1, 'P00001', 1, 100, 0, 19, 119)")
con.execute("UPDATE products SET name = name || ' ' || hex(randomblob(200))")
print("ready", flush=True)
sys.stdin.readline()
con.execute("COMMIT")
print("committed", flush=True)
"""


@pytest.mark.fault(5)
def test_a_copy_retried_after_the_pos_committed_never_replays_the_journal_of_the_torn_attempt(
    world: World, paused: Path
) -> None:
    pos = subprocess.Popen([sys.executable, "-c", MID_TRANSACTION_WRITER, str(world.reg("caja1"))],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert pos.stdout is not None and pos.stdout.readline().strip() == "ready"
        assert world.reg("caja1").with_name("caja1.db-journal").exists()
        proc = world.start("import", "--date", DAY1, "--remote", "caja1",
                           env={"POSYNC_SLEEP_AT": "copied#1:1", "POSYNC_PAUSE_FILE": str(paused)})
        wait_for(paused, proc)  # the first copy holds the database and its hot -journal …
        out, _ = pos.communicate("commit\n", timeout=30)  # … then the POS commits: that copy is torn
        assert out.strip() == "committed"
    finally:
        if pos.poll() is None:
            pos.kill()
            pos.communicate()
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 0, out + err
    # the second copy is of the committed file alone: the sale committed before it is imported, not rolled back
    assert world.posync.scalar("SELECT count(*) FROM vouchers WHERE voucher_code = 'FV1' AND number = 9001") == 1
    final = hashlib.sha256(world.reg("caja1").read_bytes()).hexdigest()
    assert world.posync.scalar("SELECT snapshot_sha256 FROM import_batches WHERE register = 'caja1'") == final
    assert_invariants(world)


def _flip_a_page_header(path: Path) -> None:
    """XOR the first 16 bytes of the middle page: a b-tree page header `PRAGMA quick_check` must catch."""
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    middle = (len(data) // page_size // 2) * page_size
    for i in range(16):
        data[middle + i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.fault(6)
def test_a_register_with_a_flipped_page_is_refused_as_corrupt(world: World, reference: dict[str, Any]) -> None:
    path = world.reg("caja2")
    good = path.read_bytes()
    _flip_a_page_header(path)

    result = world.posync("import", "--date", DAY1)

    message = _register_error(result.output, "caja2")
    assert message.startswith("register caja2: database file is corrupt (quick_check: Page ")
    _assert_failed_alone(world, "caja2", message, result.output, result.exit_code)
    path.write_bytes(good)
    assert_converges(world, reference)


@pytest.mark.fault(6, 7)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_file_of_the_bad_file_corpus_fails_that_register_alone(
    world: World, reference: dict[str, Any], name: str
) -> None:
    path = world.reg("caja2")
    good = path.read_bytes()
    shutil.copyfile(CORPUS / name, path)
    prefix = f"{path}: " if name in FAILS_AT_ADD else ""

    result = world.posync("import", "--date", DAY1)

    _assert_failed_alone(world, "caja2", f"register caja2: {prefix}{EXPECTED[name]}", result.output, result.exit_code)
    if name in FAILS_AT_ADD:
        added = world.posync("remote", "add", "caja9", str(path))
        assert added.exit_code == 2 and added.output == f"error: {path}: {EXPECTED[name]}\n"
    path.write_bytes(good)
    assert_converges(world, reference)


def test_the_corpus_holds_only_what_expected_describes() -> None:
    assert sorted(p.name for p in CORPUS.iterdir() if p.suffix == ".db") == sorted(EXPECTED)
    assert all((CORPUS / name).stat().st_size <= 16_384 for name in EXPECTED)  # tiny files only


@pytest.mark.fault(7)
def test_a_duckdb_register_of_an_unsupported_storage_version_is_refused_by_its_magic_bytes(
    world: World, tmp_path: Path
) -> None:
    newer = tmp_path / "caja4.duckdb"
    con = duckdb.connect(str(newer))
    con.execute("CREATE TABLE vouchers (voucher_code VARCHAR, number BIGINT)")
    con.close()
    data = bytearray(newer.read_bytes())
    assert data[8:12] == b"DUCK"
    data[12:20] = (99).to_bytes(8, "little")  # a storage version from a DuckDB newer than ours
    newer.write_bytes(bytes(data))
    expected = (f"{newer}: DuckDB storage version 99 is not supported; posync reads versions 64-79 "
                f"(DuckDB {duckdb.__version__}).")

    added = world.posync("remote", "add", "caja4", str(newer))

    assert added.exit_code == 2 and added.output == f"error: {expected}\n"
    assert world.posync("remote", "add", "caja4", str(newer), "--no-check").exit_code == 0
    result = world.posync("import", "--date", DAY1)

    assert result.exit_code == 1
    assert _register_error(result.output, "caja4") == f"register caja4: {expected}"
    assert imported(world) == ["caja1", "caja2", "caja3"]
    assert logged_errors(world, "caja4") == [f"register caja4: {expected}"]
