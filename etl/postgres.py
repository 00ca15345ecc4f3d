"""PostgreSQL as a register or as the main store: URIs, secrets, connect errors and the run lock.

Passwords never travel in a URI posync stores or prints: they come from PGPASSWORD or
~/.pgpass, which libpq (under both psycopg and DuckDB's postgres extension) reads itself.

The run lock of a PostgreSQL main store is a session-level advisory lock, held for the whole
run by one dedicated psycopg session. It is not taken through DuckDB: the postgres extension
pools its connections, so a session lock taken on one of them could be released, or reused by
another statement, without posync knowing. PostgreSQL drops the lock if the process dies.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import socket
import urllib.parse
from typing import TYPE_CHECKING, Any

import duckdb

from etl.errors import ConfigError, PosyncError, StoreLocked, TransientError
from etl.faults import checkpoint
from etl.i18n import Said

if TYPE_CHECKING:
    import psycopg

DEFAULT_CONNECT_TIMEOUT = 10  # seconds; libpq's PGCONNECT_TIMEOUT or the URI's connect_timeout win
# Forced on every session posync opens (psycopg and DuckDB's postgres extension alike): with
# standard_conforming_strings off a backslash escapes the quote that ends a literal, and a client
# encoding other than UTF-8 would misread the UTF-8 bytes posync sends (FAULTS 42).
SAFE_OPTIONS = "-c standard_conforming_strings=on -c client_encoding=UTF8"
LOCK_NAMESPACE = "posync main store"

# libpq messages that mean "try again later" rather than "fix the configuration".
_TRANSIENT = ("timeout expired", "timed out", "connection refused", "could not connect", "no route to host",
              "network is unreachable", "could not translate host name", "server closed the connection",
              "the database system is starting up", "the database system is shutting down",
              "too many connections", "connection timed out", "temporary failure in name resolution")


def has_password(uri: str) -> bool:
    """Whether a PostgreSQL URI carries a password (user:pw@ or ?password=).

    >>> has_password("postgresql://pos:s3cret@db/main"), has_password("postgresql://pos@db/main?password=x")
    (True, True)
    >>> has_password("postgresql://pos@db:5432/main?sslmode=require")
    False
    """
    parts = urllib.parse.urlsplit(uri)
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    return parts.password is not None or "password" in query


def redact(uri: str) -> str:
    """The URI without any password, for messages and logs.

    >>> redact("postgresql://pos:s3cret@10.0.0.5:5432/main?password=x&sslmode=require")
    'postgresql://pos@10.0.0.5:5432/main?sslmode=require'
    >>> redact("postgresql://10.0.0.5/main")
    'postgresql://10.0.0.5/main'
    """
    parts = urllib.parse.urlsplit(uri)
    netloc = parts.netloc.rpartition("@")[2]
    if parts.username is not None:
        netloc = f"{urllib.parse.quote(urllib.parse.unquote(parts.username), safe='')}@{netloc}"
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != "password"]
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=urllib.parse.urlencode(query)))


def refuse_password(uri: str, what: str) -> None:
    """ConfigError when a URI carries a password: it would end up in the remotes table, the log, ps."""
    if has_password(uri):
        raise ConfigError(Said(
            "leave the password out of the PostgreSQL URI of %(what)s (%(uri)s); posync reads it from PGPASSWORD or "
            "~/.pgpass (one line host:port:database:user:password, chmod 600).", what=what, uri=redact(uri)))


def connect_uri(uri: str) -> str:
    """The URI to connect with: a bounded connect timeout, and the session settings that keep SQL safe.

    The connect timeout is added unless the URI or PGCONNECT_TIMEOUT sets one. SAFE_OPTIONS are
    appended to the URI's own `options` (or to PGOPTIONS, which libpq ignores once the URI has
    options): later `-c` settings win, so a server or user default can't turn them off.

    >>> connect_uri("postgresql://pos@db/main?connect_timeout=3")
    'postgresql://pos@db/main?connect_timeout=3&options=-c%20standard_conforming_strings%3Don%20-c%20client_encoding%3DUTF8'
    >>> connect_uri("postgresql://pos@db/main?options=-c%20search_path%3Dtienda&connect_timeout=3")
    'postgresql://pos@db/main?connect_timeout=3&options=-c%20search_path%3Dtienda%20-c%20standard_conforming_strings%3Don%20-c%20client_encoding%3DUTF8'
    """
    parts = urllib.parse.urlsplit(uri)
    query = _query(parts.query)
    if not any(k == "connect_timeout" for k, _ in query) and not os.environ.get("PGCONNECT_TIMEOUT"):
        query.append(("connect_timeout", str(DEFAULT_CONNECT_TIMEOUT)))
    given = [v for k, v in query if k == "options"]
    options = " ".join(given) if given else os.environ.get("PGOPTIONS", "")
    query = [(k, v) for k, v in query if k != "options"]
    query.append(("options", f"{options} {SAFE_OPTIONS}".strip()))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, quote_via=urllib.parse.quote)))


def _query(text: str) -> list[tuple[str, str]]:
    """A URI's query as libpq reads it: only %XX is decoded (a '+' stays a '+', unlike form encoding)."""
    pairs = [item.partition("=") for item in text.split("&") if item]
    return [(urllib.parse.unquote(k), urllib.parse.unquote(v)) for k, _, v in pairs]


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def is_transient(message: str) -> bool:
    """Whether a libpq/DuckDB connect error is worth retrying (network, server starting) or a config error.

    >>> is_transient('connection to server at "10.0.0.9", port 5432 failed: timeout expired')
    True
    >>> is_transient('connection to server at "db" failed: FATAL:  password authentication failed for user "pos"')
    False
    """
    low = message.lower()
    return any(t in low for t in _TRANSIENT)


def libpq_reason(err: BaseException) -> str:
    """libpq's own words from a failed connect, without the URI DuckDB repeats in front of them.

    >>> libpq_reason(Exception('IO Error: Unable to connect to Postgres at "postgresql://a@h/db": '
    ...                        'connection to server at "h", port 5432 failed: Connection refused\\n\\tIs the server…'))
    'Connection refused'
    """
    text = first_line(err)
    for marker in (" failed: ", "Unable to connect to Postgres at "):
        if marker in text:
            return text.rsplit(marker, 1)[1].strip() or text
    return text


def connect_error(uri: str, err: BaseException, what: str,
                  terminal: type[PosyncError] = ConfigError) -> PosyncError:
    """One clear sentence for a failed connection: transient (retried) or `terminal` (a configuration problem)."""
    reason = libpq_reason(err)
    if is_transient(reason):
        return TransientError(Said("%(what)s: cannot reach PostgreSQL at %(uri)s (%(why)s); it will be retried on "
                                   "the next run.", what=what, uri=redact(uri), why=reason))
    if "password" in reason.lower():
        return terminal(Said("%(what)s: PostgreSQL at %(uri)s refused the connection (%(why)s); set PGPASSWORD or "
                             "add the password to ~/.pgpass.", what=what, uri=redact(uri), why=reason))
    if "does not exist" in reason.lower():
        return terminal(Said("%(what)s: PostgreSQL at %(uri)s refused the connection (%(why)s); create it, or "
                             "check the URI.", what=what, uri=redact(uri), why=reason))
    return terminal(Said("%(what)s: PostgreSQL at %(uri)s refused the connection (%(why)s).", what=what,
                         uri=redact(uri), why=reason))


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as err:  # pragma: no cover - a dependency of posync
        raise ConfigError(Said("PostgreSQL support needs psycopg; run: pip install 'psycopg[binary]'")) from err
    return psycopg


def connect(uri: str, what: str, terminal: type[PosyncError] = ConfigError,
            autocommit: bool = True) -> psycopg.Connection[Any]:
    """A plain libpq session (psycopg), with the bounded connect timeout; errors become PosyncErrors."""
    pg = _psycopg()
    try:
        session: psycopg.Connection[Any] = pg.connect(
            connect_uri(uri), autocommit=autocommit, keepalives=1, keepalives_idle=60,
            application_name=f"posync pid {os.getpid()} on {socket.gethostname()}")
        return session
    except pg.Error as err:
        raise connect_error(uri, err, what, terminal) from None


def check_register(register: str, uri: str) -> None:
    """A PostgreSQL register is read in place: make sure it answers (bounded) before attaching it.

    Unreachable → TransientError (retried by `watch`); refused (password, no such database) → PosyncError.
    """
    connect(uri, f"register {register}", PosyncError).close()


def snapshot_digest(con: duckdb.DuckDBPyConnection, register: str, tables: tuple[str, ...]) -> str:
    """sha256 over every row one register staged for the date, in sorted order.

    The snapshot identity of a register read in place, where there is no file to hash: the
    same rows give the same digest, hence the same import batch id, and a rerun is skipped as
    "already imported, identical" exactly like an unchanged SQLite file. Row order, MVCC
    bookkeeping (xmin, ctid) and other dates' rows do not change it; any staged value does.
    """
    digest = hashlib.sha256()
    for table in tables:
        row = con.execute(
            f"""SELECT count(*), coalesce(sha256(string_agg(t, chr(30) ORDER BY t)), '')
                FROM (SELECT CAST(s AS VARCHAR) AS t
                      FROM (SELECT * EXCLUDE (register) FROM stage.{table} WHERE register = ?) s)""",
            [register],
        ).fetchone()
        count, text = (row[0], row[1]) if row else (0, "")
        digest.update(f"{table}\x1f{count}\x1f{text}\x1e".encode())
    return digest.hexdigest()


def lock_key(schema: str = "public", purpose: str = "") -> int:
    """An advisory lock key of a main store (per database, per schema within it, and per purpose).

    >>> lock_key() == lock_key("public") != lock_key("tienda2")
    True
    >>> lock_key() != lock_key(purpose="commit barrier")
    True
    """
    name = f"{LOCK_NAMESPACE}\x1f{schema}" + (f"\x1f{purpose}" if purpose else "")
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


BARRIER_SECONDS = 30  # how long a new run waits for a transaction of a run that lost the lock to end


def _held(key: int, alias: str) -> str:
    """SQL condition: pg_locks row `alias` is a granted session lock on `key` in this database."""
    high, low = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    return (f"{alias}.locktype = 'advisory' AND {alias}.granted AND {alias}.classid = {high}::bigint::oid "
            f"AND {alias}.objid = {low}::bigint::oid AND {alias}.objsubid = 1 "
            f"AND {alias}.database = (SELECT oid FROM pg_database WHERE datname = current_database())")


class RunLock:
    """The advisory lock of a PostgreSQL main store, held by one dedicated session.

    The session also holds a second lock on a key drawn at random for this run, so that "this
    run still holds the lock" is one exact question to pg_locks (no pid that could be reused).
    """

    def __init__(self, session: psycopg.Connection[Any], key: int, run_key: int, target: str) -> None:
        self._session, self._key, self._run_key, self._target = session, key, run_key, target

    def prove(self, con: duckdb.DuckDBPyConnection, catalog: str) -> None:
        """Inside the caller's open DuckDB transaction: prove this run still holds the lock, or abort it.

        postgres_query runs on the connection of the DuckDB transaction, inside its PostgreSQL
        transaction (same backend, same xid). First a shared transaction-level lock on the commit
        barrier, held until this transaction ends: a run that takes the lock after ours was lost
        waits on that barrier (take_run_lock) until this transaction is over, so it can't read main
        between this check and our COMMIT. Then the check: the lock session is alive and holds both keys.
        """
        enter = f"SELECT pg_try_advisory_xact_lock_shared({lock_key(purpose='commit barrier')}) AS entered"
        check = (f"SELECT count(*) AS held FROM pg_locks r JOIN pg_locks k ON k.pid = r.pid "
                 f"WHERE {_held(self._run_key, 'r')} AND {_held(self._key, 'k')}")
        try:  # two statements, in this order: the barrier is entered before the lock is checked
            entered = con.execute("SELECT * FROM postgres_query(?, ?)", [catalog, enter]).fetchone()
            held = con.execute("SELECT * FROM postgres_query(?, ?)", [catalog, check]).fetchone()
        except duckdb.Error as err:  # the data connection itself broke (server restart, network)
            raise TransientError(Said(
                "main store %(store)s: could not check the run lock (%(why)s); nothing of this transaction was "
                "written; it will be retried on the next run.", store=redact(self._target), why=first_line(err)
            )) from None
        if not (entered and entered[0] and held and held[0]):
            raise TransientError(Said(
                "main store %(store)s: the run lock was lost (the PostgreSQL session holding it ended: terminated, "
                "server restart or dropped connection), so nothing of this transaction was written; this run stops "
                "here, run it again.", store=redact(self._target)))
        checkpoint("lock_proved")  # proved, not yet committed: the window the commit barrier closes

    info: dict[str, Any] = {}

    def stage(self, text: str) -> None:
        """What the run is doing now, where `status` sees it: the lock session's last statement.

        pg_stat_activity shows each session's last statement to sessions of the same role, so the
        session publishes who it is and what it is doing as a literal in a SELECT (run_in_progress).
        """
        self.info = {**self.info, "stage": text[:200]}
        self.publish()

    def publish(self) -> None:
        from psycopg import sql

        statement = sql.SQL("SELECT {}").format(sql.Literal(RUN_TAG + json.dumps(self.info, ensure_ascii=False)))
        with contextlib.suppress(_psycopg().Error):
            self._session.execute(statement)

    def close(self) -> None:
        """Unlock, then close. The explicit unlock is a round trip: when it returns the lock is free.

        Only closing the session would leave the release to the server's backend a moment later, and
        a run started right after this one (`posync import && posync catalogs push`) could find it held.
        """
        with contextlib.suppress(_psycopg().Error):
            self._session.execute("SELECT pg_advisory_unlock_all()")
        self._session.close()


RUN_TAG = "posync run "


def take_run_lock(uri: str, command: str = "posync") -> RunLock:
    """Hold the main store's advisory lock on a dedicated session; StoreLocked (exit 4) when another run has it.

    pg_try_advisory_lock never waits: a second run learns at once who holds the store. Once it
    has the lock, it waits (at most BARRIER_SECONDS) for any transaction of a run that lost the
    lock to end, so it never reads main while such a transaction is still committing.
    """
    session = connect(uri, "main store")
    try:
        with contextlib.suppress(_psycopg().Error):  # a server-wide idle timeout must not end the run's lock
            session.execute("SET idle_session_timeout = 0")  # PostgreSQL 14+; older servers have none
        key = lock_key()
        row = session.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()
        if row and row[0]:
            run_key = secrets.randbits(63)
            session.execute("SELECT pg_advisory_lock(%s)", [run_key])
            _pass_barrier(session, uri)
            lock = RunLock(session, key, run_key, uri)
            lock.info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                         "started": dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"), "stage": "starting"}
            lock.publish()
            return lock
        holder = _lock_holder(session, key)
    except BaseException:
        session.close()
        raise
    session.close()
    raise StoreLocked(Said("another posync run (%(holder)s) holds the main store %(store)s; wait for it to finish, "
                           "or stop it, then run again.", holder=holder, store=redact(uri)))


def _pass_barrier(session: psycopg.Connection[Any], uri: str) -> None:
    """Wait until no transaction of an earlier run that proved its lock is still open (see RunLock.prove)."""
    psycopg = _psycopg()
    barrier = lock_key(purpose="commit barrier")
    session.execute(f"SET lock_timeout = '{BARRIER_SECONDS}s'")
    try:
        session.execute("SELECT pg_advisory_lock(%s)", [barrier])
    except psycopg.errors.LockNotAvailable:
        raise StoreLocked(Said("a posync run that lost its lock on the main store %(store)s is still finishing a "
                               "transaction after %(seconds)s s; stop it, then run again.", store=redact(uri),
                               seconds=BARRIER_SECONDS)) from None
    session.execute("SELECT pg_advisory_unlock(%s)", [barrier])
    session.execute("RESET lock_timeout")


def run_in_progress(uri: str) -> dict[str, Any] | None:
    """The run holding a PostgreSQL main store's lock right now, as it published itself (None when none)."""
    key = lock_key()
    high, low = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    session = connect(uri, "main store")
    try:
        row = session.execute(
            """SELECT a.query, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::bigint::oid
                 AND l.objid = %s::bigint::oid AND l.objsubid = 1
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1""",
            [high, low]).fetchone()
    finally:
        session.close()
    if row is None:
        return None
    text, since = row
    start = (text or "").find(RUN_TAG)
    if start >= 0:
        with contextlib.suppress(ValueError):
            info: dict[str, Any] = json.loads(text[start + len(RUN_TAG):].rstrip("' ;").replace("''", "'"))
            return info
    started = since.astimezone().strftime("%Y-%m-%d %H:%M:%S") if isinstance(since, dt.datetime) else None
    return {"pid": None, "host": None, "command": None, "started": started, "stage": None}


def _lock_holder(session: psycopg.Connection[Any], key: int) -> str:
    """Who holds the lock, from pg_locks + pg_stat_activity: 'posync pid N on host, since …'."""
    high, low = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    row = session.execute(
        """SELECT a.application_name, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid
             AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           LIMIT 1""",
        [high, low],
    ).fetchone()
    if not row:
        return "pid unknown"
    name, since = row
    when = f", since {since.astimezone().strftime('%Y-%m-%d %H:%M:%S')}" if isinstance(since, dt.datetime) else ""
    return f"{(name or 'pid unknown').removeprefix('posync ')}{when}"


def probe(uri: str, timeout: int = 3) -> bool:
    """Whether a PostgreSQL register answers right now (for `remote list`)."""
    psycopg = _psycopg()
    try:
        with psycopg.connect(connect_uri(uri), connect_timeout=timeout, autocommit=True):
            return True
    except psycopg.Error:
        return False
