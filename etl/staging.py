"""Never read a live register over the share: copy it (with its -wal/-journal) to local staging.

The copy is checked for a torn snapshot (size/mtime before and after), hashed in the same
pass, checked with `PRAGMA quick_check` (SQLite), and only then attached, read-only.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from etl import share
from etl.engines import Engine, is_postgres_uri, sniff
from etl.errors import PosyncError, TransientError
from etl.faults import checkpoint
from etl.i18n import N_, Said, said_of

COPY_ATTEMPTS = 3
CHUNK = 1 << 20

CORRUPT = N_("register %(register)s: database file is corrupt (%(why)s).")


@dataclass(frozen=True)
class Snapshot:
    """A staged, checked copy of one register (or a PostgreSQL URI, which is read in place)."""

    register: str
    target: str  # local path of the copy, or the URI
    engine: Engine
    sha256: str


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _files(source: Path, engine: Engine) -> list[Path]:
    return [source] + [source.with_name(source.name + s) for s in engine.sidecars]


def _copy_hashing(src: Path, dst: Path, digest: hashlib._Hash) -> None:
    with src.open("rb") as fin, dst.open("wb") as fout:
        while chunk := fin.read(CHUNK):
            digest.update(chunk)
            fout.write(chunk)


def _copy_once(files: list[Path], dest_dir: Path) -> tuple[bool, str]:
    """Copy the database and its sidecars; (stable, sha256). Unstable if any file changed meanwhile.

    A file that vanishes during the copy (the POS committed and deleted its -journal) is a torn copy
    too: unstable, tried again (FAULTS 50).
    """
    before = [_stat(f) for f in files]
    if before[0] is None:  # the share went away between attempts
        raise FileNotFoundError(2, Said("the file disappeared while it was copied"), str(files[0]))
    digest = hashlib.sha256()
    for f, st in zip(files, before, strict=True):
        if st is not None:
            checkpoint("copying")
            try:
                _copy_hashing(f, dest_dir / f.name, digest)
            except FileNotFoundError:
                return False, ""
    checkpoint("copied")
    after = [_stat(f) for f in files]
    return before == after, digest.hexdigest()


def stage(register: str, source: str, staging_root: Path) -> Snapshot:
    """Copy a register to staging_root/<register>/ and hash it; the caller attaches and checks it."""
    if is_postgres_uri(source):  # read in place: check it answers (bounded), attach with a connect timeout
        from etl import postgres
        from etl.engines import ENGINES

        postgres.check_register(register, source)
        return Snapshot(register, postgres.connect_uri(source), ENGINES["postgres"], "")
    checkpoint("copy")
    path = share.locate(register, source)  # a symlink is followed now: its target today (FAULTS 47)
    try:  # reading the header can hang on a dead share too
        engine = share.bounded(register, N_("reading the file"), sniff, path)
    except TransientError:
        raise
    except PosyncError as err:
        raise PosyncError(Said("register %(register)s: %(why)s", register=register, why=said_of(err))) from None
    dest = staging_root / register
    files = _files(path, engine)
    for attempt in range(COPY_ATTEMPTS):
        # A fresh folder per attempt: a -journal copied by a torn attempt must not be replayed onto the next copy.
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        try:
            stable, sha = share.bounded(register, N_("copying the file"), _copy_once, files, dest)
        except OSError as err:
            shutil.rmtree(dest, ignore_errors=True)
            if err.errno == 28:  # ENOSPC
                raise PosyncError(Said("register %(register)s: disk full at %(path)s while staging; free space, "
                                       "then rerun.", register=register, path=str(dest))) from None
            raise TransientError(Said(
                "register %(register)s: copy failed (%(why)s: %(path)s); the share may have dropped; it will be "
                "retried on the next run.", register=register,
                why=err.strerror if isinstance(err.strerror, Said) else str(err.strerror or err),
                path=str(err.filename or source))) from None
        if stable:
            return Snapshot(register, str(dest / path.name), engine, sha)
        time.sleep(0.2 * (attempt + 1))
    shutil.rmtree(dest, ignore_errors=True)
    raise TransientError(Said("register %(register)s: the file kept changing while it was copied (%(n)s tries); "
                              "it will be retried on the next run.", register=register, n=COPY_ATTEMPTS))


def check(snapshot: Snapshot) -> None:
    """quick_check a SQLite copy and fold its WAL in, so the copy is one consistent file."""
    if snapshot.engine.name != "sqlite":
        return
    try:
        con = sqlite3.connect(snapshot.target)
        try:
            result = con.execute("PRAGMA quick_check").fetchall()
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        raise PosyncError(Said(CORRUPT, register=snapshot.register, why=str(err))) from None
    if result != [("ok",)]:
        sample = "; ".join(" ".join(str(r[0]).replace("*** in database main ***", "").split()) for r in result[:3])
        raise PosyncError(Said(CORRUPT, register=snapshot.register, why=f"quick_check: {sample}"))


def cleanup(staging_root: Path, register: str | None = None) -> None:
    """Remove one register's staging folder, or the whole staging area."""
    target = staging_root / register if register else staging_root
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(target)
