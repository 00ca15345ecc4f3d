"""A throw-away PostgreSQL server for the tests, and helpers to fill it with sample registers.

One server per test session (initdb + pg_ctl in a temporary folder, bound to 127.0.0.1 on a
free port, trust authentication), one fresh database per test. The server refuses to run as
root, so when the tests run as root it runs as the `postgres` system user (runuser).
"""

from __future__ import annotations

import contextlib
import functools
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from etl.engines import load_extension
from etl.schema import TABLES

SKIP_REASON = "PostgreSQL server binaries not found (Debian package postgresql); .ci/run installs them"
SUPERUSER = "postgres"


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: $PG_BINDIR, Debian's /usr/lib/postgresql/N/bin, or PATH."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    if found := shutil.which("pg_ctl"):
        candidates.append(str(Path(found).resolve().parent))
    for candidate in filter(None, candidates):
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    return None


def _version_key(path: str) -> int:
    digits = Path(path).parent.name
    return int(digits) if digits.isdigit() else 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """A running server; `database()` hands out a fresh, empty database and its URI."""

    bindir: Path
    root: Path
    port: int = 0
    _as: list[str] = field(default_factory=list)
    _names: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]

    @property
    def data(self) -> Path:
        return self.root / "data"

    def uri(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr or done.stdout}")

    def start(self) -> None:
        if os.geteuid() == 0:  # the server refuses root: run it as the postgres system user
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", SUPERUSER,
                  "-E", "UTF8", "--locale=C", "--no-sync")
        for attempt in range(5):  # a port picked free can be taken before the server binds it
            self.port = _free_port()
            options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                       f"-c unix_socket_directories={self.root} -c max_connections=200 "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                       "-c wal_level=minimal -c max_wal_senders=0 -c max_wal_size=64MB -c min_wal_size=32MB")
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "60",
                          "-l", str(self.root / "server.log"), "start", timeout=90)
                return
            except RuntimeError:
                if attempt == 4:
                    raise RuntimeError(f"PostgreSQL did not start: {self.log_tail()}") from None

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "stop", "-m", "immediate", "-w",
                      timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.root / "server.log").read_text().splitlines()[-lines:])
        return ""

    def execute(self, *statements: str, dbname: str = "postgres") -> list[tuple[Any, ...]]:
        """Run statements in autocommit as the superuser; the last one's rows."""
        import psycopg

        rows: list[tuple[Any, ...]] = []
        with psycopg.connect(self.uri(dbname), autocommit=True) as con:
            for statement in statements:
                cur = con.execute(statement)
                rows = cur.fetchall() if cur.description else []
        return rows

    def database(self, prefix: str = "t") -> str:
        """CREATE a fresh database; its URI (no password: the server trusts loopback)."""
        name = f"{prefix}_{next(self._names)}"
        # FILE_COPY (PostgreSQL 15+): copies template1's files instead of writing them all through the WAL.
        strategy = " STRATEGY FILE_COPY" if self.version >= 15 else ""
        self.execute(f'CREATE DATABASE "{name}"{strategy}')
        return self.uri(name)

    def require_password(self, role: str, password: str) -> None:
        """Create a login role that must authenticate with a password (scram) over TCP; the rest stay trusted."""
        self.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{_q(password)}'")
        hba = self.data / "pg_hba.conf"
        hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        self.execute("SELECT pg_reload_conf()")

    @functools.cached_property
    def version(self) -> int:
        return int(self.execute("SHOW server_version_num")[0][0]) // 10000


def start_server() -> PgServer:
    """initdb + start a server in a new temporary folder (caller stops it)."""
    bindir = find_bindir()
    if bindir is None:
        raise FileNotFoundError(SKIP_REASON)
    server = PgServer(bindir, Path(tempfile.mkdtemp(prefix="posync-pg-")))
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


# -- sample registers in PostgreSQL -------------------------------------------------------------------------

# DuckDB types of the canonical schema, as PostgreSQL will store them (via the postgres extension).
_TABLE_TYPES = {name: dict(t.columns) for name, t in TABLES.items()}


def copy_to_postgres(sqlite_path: Path, uri: str, keys: bool = True) -> None:
    """Copy a generated SQLite register into an empty PostgreSQL database, set-based, keeping canonical types.

    Each table is read from SQLite as text and cast to its canonical type by DuckDB, so
    PostgreSQL receives numeric(18,2), date, timestamp, boolean… as a real register would have.
    """
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        load_extension(con, "sqlite_scanner")
        load_extension(con, "postgres_scanner")
        con.execute("SET sqlite_all_varchar = true")
        con.execute(f"ATTACH '{_q(str(sqlite_path))}' AS lite (TYPE sqlite, READ_ONLY)")
        con.execute(f"ATTACH '{_q(uri)}' AS pg (TYPE postgres)")
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'lite' ORDER BY table_name"
        ).fetchall()]
        for table in tables:
            columns = [r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = 'lite' AND table_name = ? "
                "ORDER BY column_index", [table]).fetchall()]
            types = _TABLE_TYPES.get(table, {})
            select = ", ".join(
                f'CAST("{c}" AS {types.get(c, "VARCHAR")}) AS "{c}"' for c in columns
            )
            con.execute(f'CREATE TABLE pg.public."{table}" AS SELECT {select} FROM lite."{table}"')
            key = TABLES[table].key if table in TABLES else ()
            if keys and key:  # a real register has its keys; the tests' faults with duplicates pass keys=False
                cols = ", ".join(f'"{k}"' for k in key)
                ddl = f'ALTER TABLE public."{table}" ADD PRIMARY KEY ({cols})'
                con.execute(f"CALL postgres_execute('pg', '{_q(ddl)}')")
    finally:
        con.close()


def _q(text: str) -> str:
    return text.replace("'", "''")


def register_exec(target: str | Path, *statements: str) -> None:
    """Change a register the way its POS would: a SQLite file, or a PostgreSQL database (one transaction)."""
    if str(target).startswith("postgresql://"):
        import psycopg

        with psycopg.connect(str(target)) as con, con.transaction():
            for statement in statements:
                con.execute(statement)  # type: ignore[arg-type]
        return
    from tests.conftest import sqlite_exec

    sqlite_exec(Path(target), *statements)


def read_main(target: str | Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Query a main store as posync sees it (DuckDB SQL, `USE m`): a DuckDB file, or PostgreSQL read-only."""
    target = str(target)
    if not target.startswith("postgresql://"):
        with duckdb.connect(target, read_only=True) as con:
            return con.execute(sql, params or []).fetchall()
    con = _READERS.get(target)
    if con is None:  # one reader per PostgreSQL main: LOADing the extension costs ~0.4 s a connection
        con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
        load_extension(con, "postgres_scanner")
        con.execute(f"ATTACH '{_q(target)}' AS m (TYPE postgres, READ_ONLY)")
        con.execute("USE m")
        _READERS[target] = con
    con.execute("CALL pg_clear_cache()")  # posync runs may have changed the schema since the last read
    return con.execute(sql, params or []).fetchall()


_READERS: dict[str, duckdb.DuckDBPyConnection] = {}
