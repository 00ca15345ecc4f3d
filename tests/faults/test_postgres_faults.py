"""PostgreSQL main store and registers on a real server (FAULTS 41, 42).

41: the session holding a PostgreSQL main's run lock ends mid-run (pg_terminate_backend) and a
second run gets in: the first must stop before committing anything (every transaction proves it
still holds the lock), unique constraints refuse a duplicate insert, and main holds each voucher once.
42: with standard_conforming_strings = off on the register and on main, hostile catalog values land
byte-exact, no statement but posync's runs, and the --dry-run file run by psql gives the same register.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl.engines import ENGINES, attach_sql, load_extension
from etl.errors import TransientError
from etl.store import main_schema, open_store
from tests.conftest import DAY1
from tests.faults.conftest import subprocess_env, wait_for
from tests.pg import PgServer
from tests.test_catalogs_support import register_ddl

POSYNC = (sys.executable, "-m", "etl")
LOCK_LOST = "the run lock was lost"
VOUCHERS = 2 * 12  # two registers, 12 vouchers each on DAY1


@dataclass
class PgMain:
    """A PostgreSQL main store; posync runs on it as real subprocesses, and plain SQL reads it back."""

    server: PgServer
    uri: str
    home: Path

    @property
    def dbname(self) -> str:
        return self.uri.rsplit("/", 1)[1]

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return subprocess_env({"POSYNC_HOME": str(self.home), **(extra or {})})

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*POSYNC, "--db", self.uri, *args], capture_output=True, text=True, timeout=180,
                              env=self.env(env))

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen([*POSYNC, "--db", self.uri, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.env(env))

    def once_unlocked(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run; while the server has not yet dropped a terminated session's lock (exit 4), try again."""
        for _ in range(100):
            done = self.cli(*args)
            if done.returncode != 4:
                return done
            time.sleep(0.1)
        raise AssertionError(f"still locked: {done.stderr}")

    def sql(self, *statements: str) -> list[tuple[Any, ...]]:
        return self.server.execute(*statements, dbname=self.dbname)


def _finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


# --- FAULTS 41: the run lock lost mid-run ----------------------------------------------------------


@pytest.fixture
def main(pg_server: PgServer, make_registers: Any, tmp_path: Path) -> PgMain:
    """A PostgreSQL main store with caja1 and caja2 (SQLite, 12 vouchers each on DAY1) registered."""
    store = PgMain(pg_server, pg_server.database("main"), tmp_path / "home")
    for path in make_registers(registers=2, vouchers_per_day=12):
        added = store.cli("remote", "add", path.stem, str(path))
        assert added.returncode == 0, added.stderr
    return store


def _lock_sessions(main: PgMain, pid: int) -> list[int]:
    """The backend of a posync process's lock session: its application_name is 'posync pid N on host'."""
    return [p for (p,) in main.sql(
        f"SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'posync pid {int(pid)} on %'")]


def _terminate_lock_session(main: PgMain, pid: int) -> None:
    (backend,) = _lock_sessions(main, pid)
    assert main.sql(f"SELECT pg_terminate_backend({backend}, 10000)") == [(True,)]


def _copies(main: PgMain) -> dict[str, tuple[int, int]]:
    """Per voucher table: (rows, distinct natural keys)."""
    keys = {"vouchers": "voucher_code, number", "voucher_lines": "voucher_code, number, line_no",
            "payments": "voucher_code, number, seq"}
    return {t: main.sql(f"SELECT count(*), count(DISTINCT ({k})) FROM {t}")[0] for t, k in keys.items()}


def _each_once(main: PgMain) -> dict[str, tuple[int, int]]:
    copies = _copies(main)
    assert copies["vouchers"] == (VOUCHERS, VOUCHERS)
    for table, (rows, keys) in copies.items():
        assert rows == keys, f"{table}: {rows} rows for {keys} keys"
    # data and ledger agree: main holds what the ok batches say they inserted
    assert main.sql("SELECT register, count(*) FROM vouchers GROUP BY 1 ORDER BY 1") == main.sql(
        "SELECT register, sum(inserted)::bigint FROM import_batches WHERE status = 'ok' GROUP BY 1 ORDER BY 1")
    return copies


def _converges(main: PgMain, copies: dict[str, tuple[int, int]]) -> None:
    rerun = main.cli("import", "--date", DAY1)
    assert rerun.returncode == 0, rerun.stderr
    assert _copies(main) == copies


@pytest.mark.fault(41)
def test_a_run_whose_lock_session_was_terminated_stops_before_committing_and_nothing_doubles(
    main: PgMain, tmp_path: Path
) -> None:
    paused, resume = tmp_path / "paused", tmp_path / "resume"
    first = main.start("import", "--date", DAY1, env={
        "POSYNC_PAUSE_AT": "merge", "POSYNC_PAUSE_FILE": str(paused), "POSYNC_RESUME_FILE": str(resume)})
    try:
        wait_for(paused, first)  # staged, checked and planned: every voucher is "new" to it
        _terminate_lock_session(main, first.pid)
        second = main.once_unlocked("import", "--date", DAY1)
        assert second.returncode == 0, second.stderr
        resume.touch()
    finally:
        _, err = _finish(first)

    copies = _each_once(main)
    assert first.returncode == 1, err
    assert LOCK_LOST in err and "nothing of this transaction was written" in err
    assert err.startswith(f"error: main store {main.uri}: ") and err.count("\n") == 1, err
    assert main.sql("SELECT count(*) FROM sync_log WHERE action = 'import' AND status = 'error'") == [(0,)]
    _converges(main, copies)


@pytest.mark.fault(41)
def test_a_new_run_waits_for_a_transaction_that_proved_the_lock_just_before_it_was_lost(
    main: PgMain, tmp_path: Path
) -> None:
    """The window between the proof and COMMIT: the next run must not read main until that commit is done."""
    paused, resume = tmp_path / "paused", tmp_path / "resume"
    # the run's first transaction (caja1's merge), paused after its proof and before its COMMIT
    first = main.start("import", "--date", DAY1, env={
        "POSYNC_PAUSE_AT": "lock_proved#1", "POSYNC_PAUSE_FILE": str(paused), "POSYNC_RESUME_FILE": str(resume)})
    second: subprocess.Popen[str] | None = None
    try:
        wait_for(paused, first)
        _terminate_lock_session(main, first.pid)
        time.sleep(0.5)  # let the server drop the lock
        second = main.start("import", "--date", DAY1)
        deadline = time.monotonic() + 30
        while not main.sql("SELECT 1 FROM pg_stat_activity WHERE wait_event = 'advisory' "
                           f"AND application_name LIKE 'posync pid {second.pid} on %'"):
            assert second.poll() is None, second.communicate()
            assert time.monotonic() < deadline, "the second run never waited on the commit barrier"
            time.sleep(0.05)
        resume.touch()  # the first commits caja1; only then may the second read main
        out, second_err = _finish(second)
        assert second.returncode == 0, second_err
    finally:
        resume.touch()
        _, err = _finish(first)

    assert first.returncode == 1 and LOCK_LOST in err, err  # caja2's merge: the lock is gone
    assert main.sql("SELECT register, status, inserted FROM import_batches ORDER BY 1") == [
        ("caja1", "ok", 12), ("caja2", "ok", 12)]
    _converges(main, _each_once(main))


@pytest.mark.fault(41)
def test_every_main_transaction_proves_the_lock_not_only_the_merge(
    main: PgMain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Store.transaction itself checks: a catalog load, a log row, a remote edit… all stop once the lock is gone."""
    monkeypatch.setenv("POSYNC_HOME", str(main.home))
    store = open_store(main.uri)
    try:
        with store.transaction() as con:  # holding the lock: commits
            con.execute("UPDATE remotes SET ip = '10.0.0.1' WHERE name = 'caja1'")
        _terminate_lock_session(main, os.getpid())
        for _ in range(100):  # until the server has dropped the session's locks
            if not main.sql("SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"):
                break
            time.sleep(0.05)
        with pytest.raises(TransientError, match=LOCK_LOST), store.transaction() as con:
            con.execute("UPDATE remotes SET ip = '10.0.0.2' WHERE name = 'caja1'")
            con.execute("INSERT INTO sync_log (id, action, status) VALUES ('x', 'test', 'ok')")
    finally:
        store.close()
    assert main.sql("SELECT ip FROM remotes WHERE name = 'caja1'") == [("10.0.0.1",)]
    assert main.sql("SELECT count(*) FROM sync_log WHERE id = 'x'") == [(0,)]


NATURAL_KEYS = {  # SPEC "Doubling is impossible": the natural keys a PostgreSQL main store enforces
    "vouchers": ["voucher_code", "number"],
    "voucher_lines": ["voucher_code", "number", "line_no"],
    "payments": ["voucher_code", "number", "seq"],
    "loyalty_movements": ["register", "movement_id"],
    "commercial_rules": ["rule_id"],
    "voucher_code_owners": ["voucher_code"],
    "import_batches": ["batch_id"],
    "remotes": ["name"],
    "push_state": ["register", "table_name", "key"],
}
KEY_VALUES = {"voucher_code": "ZZ9", "number": 1, "line_no": 1, "seq": 1, "register": "cajaX", "movement_id": "M1",
              "rule_id": "R1", "batch_id": "B1", "name": "cajaX", "table_name": "products", "key": "P1"}


def _unique_constraints(main: PgMain) -> dict[str, list[str]]:
    rows = main.sql(
        """SELECT c.conrelid::regclass::text, array_agg(a.attname::text ORDER BY k.ord)
           FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
           WHERE c.contype = 'u' AND c.connamespace = 'public'::regnamespace GROUP BY c.oid, c.conrelid""")
    return dict(rows)


@pytest.mark.fault(41)
def test_a_duplicate_insert_into_a_postgres_main_fails(main: PgMain) -> None:
    import psycopg

    assert main.cli("import", "--date", DAY1).returncode == 0
    assert _unique_constraints(main) == NATURAL_KEYS
    with psycopg.connect(main.uri, autocommit=True) as con:
        for table in ("vouchers", "voucher_lines", "payments", "import_batches", "voucher_code_owners", "remotes"):
            with pytest.raises(psycopg.errors.UniqueViolation, match=f"{table}_natural_key"):
                con.execute(f"INSERT INTO {table} SELECT * FROM {table} LIMIT 1")
        for table, columns in NATURAL_KEYS.items():  # the empty ones too: a key-only row, twice
            insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('%s' for _ in columns)})"
            values = [KEY_VALUES[c] for c in columns]
            con.execute(insert, values)
            with pytest.raises(psycopg.errors.UniqueViolation):
                con.execute(insert, values)
            con.execute(f"DELETE FROM {table} WHERE ({', '.join(columns)}) = ({', '.join('%s' for _ in columns)})",
                        values)
    _each_once(main)


def _version_1_store(uri: str, payments: list[tuple[Any, ...]]) -> None:
    """A PostgreSQL main store as posync left it before the natural keys (schema version 1)."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        load_extension(con, "postgres_scanner")
        con.execute(attach_sql(uri, "m", ENGINES["postgres"], read_only=False))
        con.execute("USE m")
        for statement in main_schema():
            con.execute(statement)
        con.execute("INSERT INTO schema_version VALUES (1, now()::TIMESTAMP)")
        con.executemany("INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?, now()::TIMESTAMP)", payments)
    finally:
        con.close()


PAYMENTS = [("caja1", "FV1", 1001, 1, "CASH", 10), ("caja1", "FV1", 1001, 2, "CARD", 5)]
UPGRADE = ("numbering", "set", "FV1", "--prefix", "SETT", "--from", "1", "--to", "9")  # any command that writes


@pytest.mark.fault(41)
def test_a_version_1_postgres_main_is_upgraded_with_its_natural_keys(pg_server: PgServer, tmp_path: Path) -> None:
    main = PgMain(pg_server, pg_server.database("main"), tmp_path / "home")
    _version_1_store(main.uri, PAYMENTS)
    assert _unique_constraints(main) == {}

    opened = main.cli(*UPGRADE)

    assert opened.returncode == 0, opened.stderr
    assert main.sql("SELECT version FROM schema_version ORDER BY 1") == [(1,), (2,), (3,)]
    assert _unique_constraints(main) == NATURAL_KEYS
    assert main.sql("SELECT count(*) FROM payments") == [(2,)]


@pytest.mark.fault(41)
def test_upgrading_a_postgres_main_that_holds_duplicates_names_the_table_and_the_query(
    pg_server: PgServer, tmp_path: Path
) -> None:
    main = PgMain(pg_server, pg_server.database("main"), tmp_path / "home")
    _version_1_store(main.uri, [*PAYMENTS, PAYMENTS[1]])  # seq 2 landed twice (two runs overlapped)

    refused = main.cli(*UPGRADE)

    query = ("SELECT voucher_code, number, seq, count(*) AS copies FROM payments WHERE voucher_code IS NOT NULL "
             "AND number IS NOT NULL AND seq IS NOT NULL GROUP BY voucher_code, number, seq HAVING count(*) > 1")
    assert refused.returncode == 1
    assert refused.stderr == (
        f"error: main store {main.uri}: cannot add the unique key (voucher_code, number, seq) to table payments: "
        "1 key occurs more than once (left by runs that overlapped before posync checked its run lock); "
        f"list them with `{query}`, remove the extra copies, then run again (nothing was changed).\n")
    assert main.sql("SELECT version FROM schema_version") == [(1,)]
    assert _unique_constraints(main) == {}  # not even the tables checked before payments
    assert main.sql(query) == [("FV1", 1001, 2, 2)]

    main.sql("DELETE FROM payments WHERE ctid = (SELECT max(ctid) FROM payments WHERE seq = 2)")
    again = main.cli(*UPGRADE)
    assert again.returncode == 0, again.stderr
    assert _unique_constraints(main) == NATURAL_KEYS


@pytest.mark.fault(41)
def test_upgrading_a_postgres_main_whose_tables_belong_to_another_role_is_one_clear_error(
    pg_server: PgServer, tmp_path: Path
) -> None:
    owner = PgMain(pg_server, pg_server.database("main"), tmp_path / "home")
    _version_1_store(owner.uri, PAYMENTS)
    pg_server.execute("CREATE ROLE posync_guest LOGIN")
    owner.sql("GRANT USAGE, CREATE ON SCHEMA public TO posync_guest",
              "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO posync_guest")
    guest = PgMain(pg_server, pg_server.uri(owner.dbname, user="posync_guest"), owner.home)

    refused = guest.cli(*UPGRADE)

    assert refused.returncode == 1
    assert refused.stderr == (
        f"error: main store {guest.uri}: cannot add the unique key (voucher_code, number) to table vouchers "
        "(must be owner of table vouchers); run posync once as the tables' owner, or make posync's role their "
        "owner (ALTER TABLE … OWNER TO), then run again (nothing was changed).\n")
    assert owner.cli(*UPGRADE).returncode == 0
    assert guest.cli(*UPGRADE).returncode == 0
    assert _unique_constraints(owner) == NATURAL_KEYS


# --- FAULTS 42: standard_conforming_strings = off -------------------------------------------------

# `a\` then a barcode that, were the backslash to escape the closing quote, would end the row and add one.
CARRIER = ("~carrier", "a\\", ",NULL,NULL,NULL,NULL,NULL,NULL,NULL),($$PWN$$,$$pwned$$,NULL,NULL,NULL,NULL,NULL,NULL,"
           "NULL)--")
HOSTILE = [  # (product_id, name, barcode); keys sort before the carrier, which ends its INSERT
    ("K'quote", "it's O'Brien's", "'"),
    ("K\\backslash", "back\\slash \\n \\t \\x41 \\101 \\u0041", "\\"),
    ("K\\'mixed", "a\\'b\\''c", "\\'"),
    ("K$dollar", "$$ dollar $$", "$tag$ x $tag$"),
    ("K-comment", "-- not a comment", "/* not a comment */ */"),
    ("K-newline", "line 1\nline 2", "cr\rhere"),
    ("K-crlf", "crlf\r\nend", "tab\there\t"),
    ("K-emoji", "café ☕ 🧾 ñandú", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢"),
    ("K-10kB", "x" * 10_000 + "\\", "y\\"),
    ("K-percent", "%s %(x)s %% {0}", "E'\\x41'"),
    ("K-statement", "'; DROP TABLE products; --", "x'); DELETE FROM products; --"),
    CARRIER,
]
COLUMNS = ("product_id", "name", "barcode", "category", "unit", "price", "tax_id", "active", "updated_at")


def _full(rows: list[tuple[str, str, str]]) -> list[tuple[Any, ...]]:
    return [(*r, "cat", "u", "1.50", "T1", "true", "2026-11-26 10:00:00") for r in rows]


def _csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(_full(rows))
    return path


def _nonstandard(server: PgServer, uri: str) -> str:
    """Every new session of this database starts with standard_conforming_strings = off (and warns of `\\`)."""
    name = uri.rsplit("/", 1)[1]
    server.execute(f'ALTER DATABASE "{name}" SET standard_conforming_strings = off')
    assert server.execute("SHOW standard_conforming_strings", dbname=name) == [("off",)]
    return uri


def _register(server: PgServer) -> str:
    """A PostgreSQL register (canonical catalog tables) with three products: one main updates, one it lacks."""
    uri = _nonstandard(server, server.database("caja"))
    name = uri.rsplit("/", 1)[1]
    server.execute(*register_ddl("canonical", "duckdb"), dbname=name)
    server.execute("INSERT INTO products (product_id, name, price) VALUES ('K''quote', 'old', 1), "
                   "('K-emoji', 'old', 2), ('Z-gone', 'not on main', 3)", dbname=name)
    return uri


def _products(server: PgServer, uri: str) -> list[tuple[Any, ...]]:
    """product_id, name, barcode as PostgreSQL stores them (bytes compared through psycopg, no DuckDB)."""
    return server.execute("SELECT product_id, name, barcode, octet_length(name) FROM products ORDER BY 1",
                          dbname=uri.rsplit("/", 1)[1])


def _expected(rows: list[tuple[str, str, str]]) -> list[tuple[Any, ...]]:
    return sorted((p, n, b, len(n.encode())) for p, n, b in rows)


@pytest.fixture
def hostile_main(pg_server: PgServer, tmp_path: Path) -> PgMain:
    """A PostgreSQL main store under standard_conforming_strings = off, the hostile corpus loaded into products."""
    main = PgMain(pg_server, _nonstandard(pg_server, pg_server.database("main")), tmp_path / "home")
    loaded = main.cli("catalogs", "load", "products", str(_csv(tmp_path / "products.csv", HOSTILE)))
    assert loaded.returncode == 0, loaded.stderr
    assert _products(pg_server, main.uri) == _expected(HOSTILE)  # main's own copy is byte-exact
    return main


def _push(main: PgMain, *args: str) -> dict[str, Any]:
    pushed = main.cli("catalogs", "push", "--table", "products", "--json", *args)
    assert "Traceback" not in pushed.stderr
    document = json.loads(pushed.stdout)
    document["exit"] = pushed.returncode
    (document["register"],) = document["registers"]
    return document


@pytest.mark.fault(42)
@pytest.mark.skipif(shutil.which("psql") is None, reason="the psql client is not installed")
@pytest.mark.parametrize("mode", ["partial", "total", "replace"])
def test_hostile_values_reach_a_postgres_register_byte_exact_whatever_its_string_settings(
    hostile_main: PgMain, pg_server: PgServer, tmp_path: Path, mode: str
) -> None:
    main = hostile_main
    register, twin = _register(pg_server), _register(pg_server)
    assert main.cli("remote", "add", "caja1", register).returncode == 0
    before = _products(pg_server, register)

    dry = _push(main, "--mode", mode, "--dry-run", "--sql-dir", str(tmp_path / "sql"))
    assert (dry["exit"], dry["register"]["status"]) == (0, "dry-run")
    assert _products(pg_server, register) == before
    sql_file = Path(dry["register"]["sql_file"])
    ran = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(sql_file), twin],
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr

    pushed = _push(main, "--mode", mode)

    assert (pushed["exit"], pushed["register"]["status"]) == (0, "applied"), pushed
    landed = _products(pg_server, register)
    kept = [r for r in before if r[0] == "Z-gone"] if mode == "total" else []  # total deletes nothing
    assert landed == sorted(_expected(HOSTILE) + kept)
    assert "PWN" not in {r[0] for r in landed}
    assert _products(pg_server, twin) == landed  # psql ran the dry-run file to the same register
    verify = _push(main, "--mode", mode, "--verify")  # pushed state equals the register
    assert (verify["exit"], verify["register"]["status"]) == (0, "unchanged"), verify
    assert "\nBEGIN;\nSET LOCAL standard_conforming_strings = on;\n" in sql_file.read_text(encoding="utf-8")


@pytest.mark.fault(42)
def test_duckdb_filter_pushdown_to_a_postgres_main_is_exact_under_nonstandard_strings(
    hostile_main: PgMain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB writes a filter's value into the query it sends (`WHERE name = 'a\\'`): the session must read it right."""
    monkeypatch.setenv("POSYNC_HOME", str(hostile_main.home))
    store = open_store(hostile_main.uri)
    try:
        for product_id, name, barcode in HOSTILE:
            assert store.con.execute("SELECT product_id FROM products WHERE name = ? AND barcode = ?",
                                     [name, barcode]).fetchall() == [(product_id,)]
        settings = "SELECT current_setting('standard_conforming_strings') AS s, current_setting('client_encoding') AS e"
        assert store.con.execute("SELECT * FROM postgres_query('m', ?)", [settings]).fetchall() == [("on", "UTF8")]
    finally:
        store.close()


@pytest.mark.fault(42)
def test_a_backslash_before_a_crafted_barcode_can_not_add_a_row_to_a_postgres_register(
    pg_server: PgServer, tmp_path: Path
) -> None:
    main = PgMain(pg_server, pg_server.database("main"), tmp_path / "home")
    rows = [("P1", "plain", "123"), CARRIER]
    assert main.cli("catalogs", "load", "products", str(_csv(tmp_path / "p.csv", rows))).returncode == 0
    register = _register(pg_server)
    assert main.cli("remote", "add", "caja1", register).returncode == 0

    pushed = _push(main, "--mode", "replace", "--force")  # main lacks all three of the register's rows

    assert (pushed["exit"], pushed["register"]["status"]) == (0, "applied"), pushed
    assert _products(pg_server, register) == _expected(rows)


@pytest.mark.fault(42)
def test_a_nul_character_pushed_to_postgres_is_one_clear_error_and_nothing_is_applied(
    pg_server: PgServer, tmp_path: Path
) -> None:
    db = tmp_path / "main.duckdb"  # a DuckDB main can hold a NUL; a PostgreSQL register can't
    run = lambda *a: subprocess.run([*POSYNC, "--db", str(db), *a], capture_output=True, text=True,  # noqa: E731
                                    timeout=120, env=subprocess_env())
    rows = [("P1", "plain", "123"), ("P2", "nul", "x"), ("P3", "nul", "y")]
    assert run("catalogs", "load", "products", str(_csv(tmp_path / "p.csv", rows))).returncode == 0
    con = duckdb.connect(str(db))  # `catalogs load` refuses NUL: another program writes it into main
    try:
        con.execute("UPDATE products SET name = 'bad' || chr(0) || 'name', barcode = '4' || chr(0) "
                    "WHERE product_id = 'P2'")
        con.execute("UPDATE products SET barcode = chr(0) WHERE product_id = 'P3'")
    finally:
        con.close()
    register = _register(pg_server)
    assert run("remote", "add", "caja1", register).returncode == 0
    before = _products(pg_server, register)

    for extra in ((), ("--dry-run", "--sql-dir", str(tmp_path / "sql"))):
        pushed = run("catalogs", "push", "--mode", "total", "--table", "products", *extra)
        assert pushed.returncode == 1, pushed.stdout + pushed.stderr
        assert ("  caja1: register caja1: products product_id 'P2' (and 1 more row): a NUL character in name, "
                "barcode, which a postgres register can't store in text; remove it from main's catalog, then push "
                "again (nothing was changed).\n") in pushed.stdout
        assert "Traceback" not in pushed.stdout + pushed.stderr
    assert _products(pg_server, register) == before
    assert not (tmp_path / "sql" / "caja1.sql").exists()
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM pushes").fetchone() == (0,)  # never pending: refused before
    finally:
        con.close()
