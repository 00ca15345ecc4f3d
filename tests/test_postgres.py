"""PostgreSQL registers and a PostgreSQL main store, against a real server (tests/pg.py).

The same end-to-end scenario runs on four combinations and must leave the same main contents:
DuckDB or PostgreSQL main, SQLite or PostgreSQL registers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl import remotes
from etl.catalogs import PushRequest, push_catalogs, restore_backup
from etl.catalogs import push as push_module
from etl.engines import load_extension
from etl.schema import CATALOG_TABLES, TABLES
from etl.store import Store
from sample_data import SampleSpec, generate
from tests.conftest import DAY1, Posync, content_sql
from tests.pg import PgServer, copy_to_postgres, read_main, register_exec
from tests.test_catalogs_push import MAIN_PRODUCTS, REGISTER_PRODUCTS
from tests.test_catalogs_support import TAX_ROWS, main_rows, main_store, product, register_ddl, set_main

DAY2 = "2026-11-27"
REFERENCE = "duckdb-main+sqlite-regs"
POSYNC = (sys.executable, "-m", "etl")
COMBINATIONS = {
    "duckdb-main+sqlite-regs": ("duckdb", "sqlite"),
    "duckdb-main+pg-regs": ("duckdb", "postgres"),
    "pg-main+sqlite-regs": ("postgres", "sqlite"),
    "pg-main+pg-regs": ("postgres", "postgres"),
}


class Main(Posync):
    """Posync bound to a DuckDB file or a PostgreSQL URI; reads main back the way posync sees it."""

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return read_main(self.db, sql, params)


@dataclass
class Setup:
    posync: Main
    registers: dict[str, str]  # name -> SQLite path or PostgreSQL URI


def _setup(combo: str, root: Path, server: PgServer | None, monkeypatch: pytest.MonkeyPatch) -> Setup:
    """Four sample registers (two days; caja2 also issues caja1's FV1) on the combination's engines."""
    main, regs = COMBINATIONS[combo]
    root.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("POSYNC_HOME", str(root / "home"))  # a PostgreSQL main keeps its staging here
    paths = generate(root / "registers", SampleSpec(registers=4, days=2, faults={"code_conflict"}))
    registers: dict[str, str] = {}
    for path in paths:
        if regs == "postgres":
            assert server is not None
            registers[path.stem] = server.database(path.stem)
            copy_to_postgres(path, registers[path.stem])
        else:
            registers[path.stem] = str(path)
    db: Any = server.database("main") if main == "postgres" and server else root / "main.duckdb"
    return Setup(Main(db), registers)


def _statuses(posync: Main, day: str) -> dict[str, str]:
    return dict(posync.rows("SELECT register, status FROM import_batches WHERE process_date = ?", [day]))


DATA_TABLES = ("vouchers", "voucher_lines", "payments", "voucher_types")


def main_contents(posync: Main) -> dict[str, list[tuple[Any, ...]]]:
    """Everything an import decides, without what differs by nature (import times, file vs row digests)."""
    contents = {t: posync.rows(content_sql(t)) for t in DATA_TABLES}
    contents["voucher_code_owners"] = posync.rows("SELECT voucher_code, register FROM voucher_code_owners ORDER BY ALL")
    contents["import_batches"] = posync.rows(
        "SELECT register, process_date, mode, read, inserted, updated, skipped, rejected, status "
        "FROM import_batches ORDER BY ALL")
    contents["sync_log"] = posync.rows(
        "SELECT register, action, mode, process_date, read, inserted, updated, skipped, rejected, status, message "
        "FROM sync_log WHERE action <> 'remote add' ORDER BY ALL")
    return contents


def run_voucher_scenario(s: Setup) -> None:
    """Conflict → fix at the register → rerun → changed at source → overwrite → next day; asserting each step."""
    posync, regs = s.posync, s.registers
    for name, target in regs.items():
        added = posync("remote", "add", name, target)
        assert added.exit_code == 0, added.output

    conflict = posync("import", "--date", DAY1)
    assert conflict.exit_code == 3, conflict.output
    assert "FV1 was issued by both caja1 and caja2 on 2026-11-26" in conflict.output
    assert _statuses(posync, DAY1) == {"caja1": "rejected", "caja2": "rejected", "caja3": "ok", "caja4": "ok"}
    assert posync.scalar("SELECT count(*) FROM vouchers WHERE register IN ('caja1', 'caja2')") == 0

    # caja2's POS is reconfigured: its borrowed FV1 vouchers become FV2 900000+.
    register_exec(regs["caja2"], *[
        f"UPDATE {t} SET voucher_code = 'FV2', number = number + 900000 WHERE voucher_code = 'FV1'"
        for t in ("vouchers", "voucher_lines", "payments", "loyalty_movements")
    ])
    fixed = posync("import", "--date", DAY1)
    assert fixed.exit_code == 0, fixed.output
    assert _statuses(posync, DAY1) == {"caja1": "ok", "caja2": "ok", "caja3": "ok", "caja4": "ok"}
    before = main_contents(posync)
    identical = ("SELECT count(*) FROM sync_log WHERE action = 'import' AND status = 'skipped' "
                 "AND message LIKE 'already imported, identical%'")
    skipped_before = posync.scalar(identical)

    rerun = posync("import", "--date", DAY1)
    assert rerun.exit_code == 0, rerun.output
    after = main_contents(posync)
    assert {t: after[t] for t in DATA_TABLES} == {t: before[t] for t in DATA_TABLES}
    assert posync.scalar(identical) == skipped_before + 4  # every register: same snapshot, nothing re-read

    register_exec(regs["caja3"], "UPDATE vouchers SET status = 'void' WHERE voucher_code = 'FV3' AND number = 1003",
                  "UPDATE voucher_lines SET quantity = quantity + 1 WHERE voucher_code = 'FV3' AND number = 1002")
    plain = posync("import", "--date", DAY1, "--remote", "caja3", "--json")
    assert plain.exit_code == 0, plain.output
    document = json.loads(plain.stdout)
    assert document["report"]["registers"][0]["plan"]["changed_at_source"] == 2
    assert document["counts"]["caja3"]["updated"] == 0
    assert posync.scalar("SELECT status FROM vouchers WHERE voucher_code = 'FV3' AND number = 1003") == "issued"

    forced = posync("import", "--date", DAY1, "--remote", "caja3", "--overwrite", "--json")
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["counts"]["caja3"]["updated"] == 2
    assert posync.scalar("SELECT status FROM vouchers WHERE voucher_code = 'FV3' AND number = 1003") == "void"
    assert posync.rows("SELECT count(*) = count(DISTINCT line_no) FROM voucher_lines "
                       "WHERE voucher_code = 'FV3' AND number = 1002") == [(True,)]
    again = posync("import", "--date", DAY1, "--remote", "caja3", "--overwrite", "--json")
    assert json.loads(again.stdout)["counts"]["caja3"]["updated"] == 0

    day2 = posync("import", "--date", DAY2)
    assert day2.exit_code == 0, day2.output
    assert _statuses(posync, DAY2) == {"caja1": "ok", "caja2": "ok", "caja3": "ok", "caja4": "ok"}


def _catalog_files(root: Path, caja1: Path) -> Path:
    """CSV files of caja1's catalogs (the same sample on every combination), and the edits main makes later."""
    folder = root / "catalogs"
    folder.mkdir()
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        load_extension(con, "sqlite_scanner")
        for table in CATALOG_TABLES:
            con.execute(f"COPY (SELECT * FROM sqlite_scan(?, '{table}') ORDER BY 1) TO '{folder / table}.csv'",
                        [str(caja1)])
        con.execute(f"COPY (SELECT * FROM read_csv('{folder}/customers.csv') WHERE customer_id <> 'C0050') "
                    f"TO '{folder}/customers_minus_one.csv'")
        edits = {
            "partial": "SELECT * REPLACE ('Café de origen' AS name) FROM products WHERE product_id = 'P00001' "
                       "UNION ALL SELECT * REPLACE (NULL AS price, NULL AS active) FROM products "
                       "WHERE product_id = 'P00002' UNION ALL SELECT * REPLACE ('P99999' AS product_id, "
                       "'Nuevo' AS name) FROM products WHERE product_id = 'P00003'",
            "total": "SELECT * REPLACE (price + 100 AS price) FROM products WHERE product_id = 'P00004'",
            "replace": "SELECT * REPLACE ('Renombrado' AS name, TIMESTAMP '2026-11-27 10:00:00.5' AS updated_at) "
                       "FROM products WHERE product_id = 'P00005'",
        }
        con.execute(f"CREATE TABLE products AS SELECT * FROM read_csv('{folder}/products.csv')")
        for mode, sql in edits.items():
            con.execute(f"COPY ({sql}) TO '{folder}/products_{mode}.csv'")
    finally:
        con.close()
    return folder


def _register_catalogs(target: str) -> dict[str, list[tuple[Any, ...]]]:
    """A register's catalogs in canonical types, SQLite file or PostgreSQL database alike."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        if target.startswith("postgresql://"):
            load_extension(con, "postgres_scanner")
            con.execute(f"ATTACH '{target}' AS reg (TYPE postgres, READ_ONLY)")
        else:
            load_extension(con, "sqlite_scanner")
            con.execute("SET sqlite_all_varchar = true")
            con.execute(f"ATTACH '{target}' AS reg (TYPE sqlite, READ_ONLY)")
        out = {}
        for table in CATALOG_TABLES:
            cols = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in TABLES[table].columns)
            out[table] = con.execute(f'SELECT {cols} FROM reg."{table}" ORDER BY ALL').fetchall()
        return out
    finally:
        con.close()


def run_extras_scenario(s: Setup, root: Path) -> dict[str, Any]:
    """Loyalty, rules, then catalogs loaded on main and pushed in the three modes; the exit codes."""
    posync, regs = s.posync, s.registers
    exits = {"loyalty": posync("loyalty", "sync").exit_code, "rules": posync("rules", "sync").exit_code}
    files = _catalog_files(root, root / "registers" / "caja1.db")
    for table in CATALOG_TABLES:
        loaded = posync("catalogs", "load", table, str(files / f"{table}.csv"))
        assert loaded.exit_code == 0, loaded.output
    assert posync("catalogs", "load", "customers", str(files / "customers_minus_one.csv")).exit_code == 0
    register_exec(regs["caja3"], "UPDATE products SET name = 'edited at the POS' WHERE product_id = 'P00003'")
    for mode in ("partial", "total", "replace"):
        merged = posync("catalogs", "load", "products", str(files / f"products_{mode}.csv"), "--merge")
        assert merged.exit_code == 0, merged.output
        pushed = posync("catalogs", "push", "--mode", mode, "--json")
        assert pushed.exit_code == 0, pushed.output
        exits[f"push {mode}"] = sorted((r["register"], r["status"]) for r in json.loads(pushed.stdout)["registers"])
    again = posync("catalogs", "push", "--mode", "partial", "--json")
    assert {r["status"] for r in json.loads(again.stdout)["registers"]} == {"unchanged"}
    main_catalogs = {t: posync.rows(f'SELECT * FROM "{t}" ORDER BY ALL') for t in CATALOG_TABLES}
    assert ("P99999",) in {r[:1] for r in main_catalogs["products"]}
    for name, target in regs.items():
        assert _register_catalogs(target) == main_catalogs, name
    return exits


def extras_contents(posync: Main) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "loyalty_movements": posync.rows("SELECT * EXCLUDE (imported_at) FROM loyalty_movements ORDER BY ALL"),
        "commercial_rules": posync.rows("SELECT * EXCLUDE (imported_at) FROM commercial_rules ORDER BY ALL"),
        "catalogs": [(t, *r) for t in CATALOG_TABLES for r in posync.rows(f'SELECT * FROM "{t}" ORDER BY ALL')],
        "push_state": posync.rows("SELECT * FROM push_state ORDER BY ALL"),
        "pushes": posync.rows("SELECT register, mode, tables, status FROM pushes ORDER BY ALL"),
        "extras_log": posync.rows(
            "SELECT register, action, mode, read, inserted, updated, skipped, rejected, status FROM sync_log "
            "WHERE action NOT IN ('remote add', 'import') ORDER BY ALL"),
    }


_RESULTS: dict[str, dict[str, Any]] = {}


def _scenario(combo: str, root: Path, server: PgServer | None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    if combo not in _RESULTS:
        setup = _setup(combo, root, server, monkeypatch)
        run_voucher_scenario(setup)
        contents: dict[str, Any] = main_contents(setup.posync)
        contents["exit codes"] = run_extras_scenario(setup, root)
        contents.update(extras_contents(setup.posync))
        _RESULTS[combo] = contents
    return _RESULTS[combo]


@pytest.mark.parametrize("combo", list(COMBINATIONS), ids=list(COMBINATIONS))
def test_same_scenario_same_main_on_every_engine_combination(
    combo: str, tmp_path: Path, pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    contents = _scenario(combo, tmp_path / combo, pg_server, monkeypatch)
    with monkeypatch.context() as m:
        reference = _scenario(REFERENCE, tmp_path / REFERENCE, None, m)

    assert contents["vouchers"], "the scenario imported nothing"
    for table, rows in reference.items():
        assert contents[table] == rows, f"{combo}: {table} differs from {REFERENCE}"
    assert {r[0] for r in contents["voucher_code_owners"] if r[0].startswith("FV")} == {"FV1", "FV2", "FV3", "FV4"}


def test_a_second_run_on_a_postgres_main_gets_exit_4_until_the_first_dies(
    pg_database: Any, make_registers: Any, tmp_path: Path
) -> None:
    uri = pg_database("main")
    env = {**os.environ, "POSYNC_HOME": str(tmp_path / "home")}
    (register,) = make_registers(registers=1)
    assert subprocess.run([*POSYNC, "--db", uri, "remote", "add", "caja1", str(register)], env=env,
                          capture_output=True, timeout=60).returncode == 0
    paused = tmp_path / "paused"
    first = subprocess.Popen([*POSYNC, "--db", uri, "import", "--date", DAY1], text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**env, "POSYNC_PAUSE_AT": "merge", "POSYNC_PAUSE_FILE": str(paused)})
    try:
        deadline = time.monotonic() + 60
        while not paused.exists():  # the first run holds the advisory lock and sleeps before merging
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        started = time.monotonic()
        second = subprocess.run([*POSYNC, "--db", uri, "import", "--date", DAY1], env=env,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 4, second.stderr
        assert time.monotonic() - started < 15  # at once: pg_try_advisory_lock does not wait
        assert second.stderr.startswith(f"error: another posync run (pid {first.pid} on ")
        assert f"holds the main store {uri}; wait for it to finish, or stop it, then run again." in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.kill()  # like kill -9: no cleanup runs; PostgreSQL drops the dead session's lock
        first.communicate()

    for _ in range(50):
        third = subprocess.run([*POSYNC, "--db", uri, "import", "--date", DAY1], env=env,
                               capture_output=True, text=True, timeout=60)
        if third.returncode != 4:
            break
        time.sleep(0.1)  # the server notices the dead client's socket within moments
    assert third.returncode == 0, third.stderr
    assert read_main(uri, "SELECT count(*) FROM vouchers") == [(20,)]


def test_a_failed_merge_leaves_a_postgres_main_exactly_as_before(
    pg_database: Any, make_registers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSYNC_HOME", str(tmp_path / "home"))
    posync = Main(pg_database("main"))
    for path in make_registers(registers=2):
        assert posync("remote", "add", path.stem, str(path)).exit_code == 0

    failed = posync("import", "--date", DAY1, env={"POSYNC_FAIL_AT": "log"})

    assert failed.exit_code != 0
    assert posync.scalar("SELECT count(*) FROM vouchers") == 0
    assert posync.scalar("SELECT count(*) FROM voucher_lines") == 0
    assert posync.scalar("SELECT count(*) FROM import_batches") == 0
    assert posync("import", "--date", DAY1).exit_code == 0
    assert posync.rows("SELECT register, count(*) FROM vouchers GROUP BY ALL ORDER BY ALL") == [
        ("caja1", 20), ("caja2", 20)]


@pytest.mark.parametrize(
    "uri", ["postgresql://pos:s3cr3t-pw@{host}/main", "postgresql://pos@{host}/main?password=s3cr3t-pw"],
    ids=["user-password", "query-password"],
)
def test_a_password_in_a_uri_is_refused_for_db_and_remote_add(pg_database: Any, uri: str) -> None:
    main = pg_database("main")
    host = main.split("@", 1)[1].split("/", 1)[0]
    with_password = uri.format(host=host)

    as_db = Main(with_password)("remote", "list")
    assert as_db.exit_code == 2
    assert "leave the password out of the PostgreSQL URI of --db" in as_db.stderr
    assert "PGPASSWORD or ~/.pgpass" in as_db.stderr

    posync = Main(main)
    as_register = posync("remote", "add", "caja1", with_password)
    assert as_register.exit_code == 2
    assert "leave the password out of the PostgreSQL URI of a register" in as_register.stderr
    for result in (as_db, as_register):
        assert "s3cr3t-pw" not in result.output
    assert posync.scalar("SELECT count(*) FROM remotes") == 0


def test_pgpassword_and_pgpass_reach_libpq_and_the_password_is_never_stored(
    pg_server: PgServer, make_registers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The least a main-store user needs (README "PostgreSQL"): CONNECT, and USAGE + CREATE on the schema.
    password = "pw-n0t-in-any-uri"
    pg_server.require_password("posync_app", password)
    main_db = pg_server.database("main").rsplit("/", 1)[1]
    pg_server.execute(f'GRANT CONNECT ON DATABASE "{main_db}" TO posync_app')
    pg_server.execute("GRANT USAGE, CREATE ON SCHEMA public TO posync_app", dbname=main_db)
    (sqlite_register,) = make_registers(registers=1)
    register_uri = pg_server.database("caja1")
    copy_to_postgres(sqlite_register, register_uri)
    register_db = register_uri.rsplit("/", 1)[1]
    pg_server.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO posync_app", dbname=register_db)
    monkeypatch.setenv("POSYNC_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-such-pgpass"))
    posync = Main(pg_server.uri(main_db, user="posync_app"))

    no_password = posync("remote", "list")
    assert no_password.exit_code == 2
    assert "refused the connection" in no_password.stderr and "set PGPASSWORD or add the password to ~/.pgpass" \
        in no_password.stderr

    added = posync("remote", "add", "caja1", pg_server.uri(register_db, user="posync_app"),
                   env={"PGPASSWORD": password})
    assert added.exit_code == 0, added.output
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{pg_server.port}:*:posync_app:{password}\n")
    pgpass.chmod(0o600)
    imported = posync("import", "--date", DAY1, env={"PGPASSFILE": str(pgpass)})
    assert imported.exit_code == 0, imported.output
    superuser = Main(pg_server.uri(main_db))  # reads main back over the trusted superuser login
    assert superuser.scalar("SELECT count(*) FROM vouchers WHERE register = 'caja1'") == 20
    assert pg_server.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'vouchers'", dbname=main_db) \
        == [("posync_app",)]

    for table in ("remotes", "sync_log", "import_batches"):
        text = repr(superuser.rows(f"SELECT * FROM {table}"))
        assert password not in text, table
    assert password not in added.output + imported.output


def test_an_unreachable_postgres_register_is_a_transient_error_within_the_connect_timeout(
    tmp_path: Path, make_registers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    silent = _silent_server()  # accepts TCP connections and never answers, like a dead host behind a NAT
    port = silent.getsockname()[1]
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "2")
    posync = Posync(tmp_path / "main.duckdb")
    (good,) = make_registers(registers=1)
    assert posync("remote", "add", "caja1", str(good)).exit_code == 0
    uri = f"postgresql://pos@127.0.0.1:{port}/caja9"
    refused = posync("remote", "add", "caja9", uri)
    assert refused.exit_code == 2 and "Pass --no-check to register it anyway." in refused.stderr
    assert posync("remote", "add", "caja9", uri, "--no-check").exit_code == 0

    started = time.monotonic()
    result = posync("import", "--date", DAY1)
    elapsed = time.monotonic() - started

    assert result.exit_code == 1
    assert f"register caja9: cannot reach PostgreSQL at {uri} (" in result.output
    assert "timeout expired); it will be retried on the next run." in result.output
    assert elapsed < 30
    assert posync.rows("SELECT register, count(*) FROM vouchers GROUP BY ALL") == [("caja1", 20)]
    listing = {r["name"]: r["reachable"] for r in json.loads(posync("remote", "list", "--json").stdout)}
    assert listing == {"caja1": True, "caja9": False}
    silent.close()


def test_an_unreachable_postgres_main_is_one_clear_transient_error() -> None:
    closed = _free_port()
    result = Main(f"postgresql://pos@127.0.0.1:{closed}/main")("remote", "list")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: main store: cannot reach PostgreSQL at postgresql://pos@127.0.0.1:{closed}/main "
        "(Connection refused); it will be retried on the next run.")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _silent_server() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    return server


# -- catalog push to a PostgreSQL register -----------------------------------------------------------------


def _catalog_register(server: PgServer, rows: dict[str, list[tuple[Any, ...]]]) -> str:
    """A PostgreSQL register with the canonical catalog tables (+ a `stock` column no mapping knows)."""
    uri = server.database("caja")
    server.execute(*register_ddl("canonical", "duckdb"), dbname=_dbname(uri))
    import psycopg

    with psycopg.connect(uri) as con:
        for table, table_rows in rows.items():
            cols = ", ".join(f'"{c}"' for c in TABLES[table].column_names)
            marks = ", ".join("%s" for _ in TABLES[table].column_names)
            con.cursor().executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', table_rows)
    return uri


def _dbname(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


def _catalog_rows(server: PgServer, uri: str, table: str, extra: bool = False) -> list[tuple[Any, ...]]:
    cols = ", ".join(f'"{c}"' for c in (*TABLES[table].column_names, *(("stock",) if extra else ())))
    return server.execute(f'SELECT {cols} FROM "{table}" ORDER BY 1', dbname=_dbname(uri))


def _register_equals_main(server: PgServer, uri: str, store: Store) -> None:
    for table in CATALOG_TABLES:
        assert _catalog_rows(server, uri, table) == main_rows(store, table), table


@pytest.fixture
def catalog_store(tmp_path: Path) -> Iterator[Store]:
    with main_store(tmp_path) as store:
        set_main(store, "products", MAIN_PRODUCTS)
        set_main(store, "taxes", TAX_ROWS)
        yield store


REGISTER_CATALOGS = {"products": REGISTER_PRODUCTS, "taxes": TAX_ROWS[:1]}


needs_psql = pytest.mark.skipif(shutil.which("psql") is None, reason="the psql client is not installed")


@needs_psql
@pytest.mark.parametrize("mode", ["partial", "total", "replace"])
def test_dry_run_sql_run_by_psql_gives_the_register_a_push_gives(
    catalog_store: Store, pg_server: PgServer, tmp_path: Path, mode: str
) -> None:
    register = _catalog_register(pg_server, REGISTER_CATALOGS)
    twin = _catalog_register(pg_server, REGISTER_CATALOGS)  # what psql runs the dry-run file on
    remotes.add(catalog_store, "caja1", register, None, "canonical")
    before = {t: _catalog_rows(pg_server, register, t, extra=True) for t in CATALOG_TABLES}

    dry = push_catalogs(catalog_store, PushRequest(mode, dry_run=True, sql_dir=tmp_path / "sql")).registers[0]
    assert dry.status == "dry-run" and dry.sql_file is not None
    text = dry.sql_file.read_text(encoding="utf-8")
    start = ("\\set ON_ERROR_STOP on\nSET client_encoding = 'UTF8';\n"
             "BEGIN;\nSET LOCAL standard_conforming_strings = on;\n")
    assert start in text and "psql REGISTER_URI < THIS_FILE" in text
    assert {t: _catalog_rows(pg_server, register, t, extra=True) for t in CATALOG_TABLES} == before
    with dry.sql_file.open() as script:
        ran = subprocess.run(["psql", "-X", "-q", twin], stdin=script, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr

    pushed = push_catalogs(catalog_store, PushRequest(mode))
    assert pushed.exit_code == 0 and pushed.registers[0].status == "applied"
    after = {t: _catalog_rows(pg_server, register, t, extra=True) for t in CATALOG_TABLES}
    assert after == {t: _catalog_rows(pg_server, twin, t, extra=True) for t in CATALOG_TABLES}
    assert after != before
    if mode == "total":  # total deletes nothing: the register's own P9 stays
        assert "P9" in [r[0] for r in after["products"]]
    else:
        _register_equals_main(pg_server, register, catalog_store)
    # columns posync does not map are left alone (replace re-inserts: the column default)
    assert {r[-1] for r in after["products"]} == {7}
    assert push_catalogs(catalog_store, PushRequest(mode)).registers[0].status == "unchanged"


def test_replace_on_a_postgres_register_is_undone_by_restore(catalog_store: Store, pg_server: PgServer) -> None:
    register = _catalog_register(pg_server, REGISTER_CATALOGS)
    remotes.add(catalog_store, "caja1", register, None, "canonical")
    before = {t: _catalog_rows(pg_server, register, t) for t in CATALOG_TABLES}
    pushed = push_catalogs(catalog_store, PushRequest("replace")).registers[0]
    assert pushed.status == "applied" and pushed.backup_id
    _register_equals_main(pg_server, register, catalog_store)

    restored = restore_backup(catalog_store, "caja1", pushed.backup_id)

    assert restored.status == "applied"
    assert {t: _catalog_rows(pg_server, register, t) for t in CATALOG_TABLES} == before


@needs_psql
def test_psql_stops_at_the_first_error_and_keeps_nothing(
    catalog_store: Store, pg_server: PgServer, tmp_path: Path
) -> None:
    register = _catalog_register(pg_server, REGISTER_CATALOGS)
    remotes.add(catalog_store, "caja1", register, None, "canonical")
    sql = push_catalogs(catalog_store, PushRequest(dry_run=True, sql_dir=tmp_path)).registers[0].sql_file
    assert sql is not None
    pg_server.execute("INSERT INTO products (product_id) VALUES ('P4')", dbname=_dbname(register))
    before = {t: _catalog_rows(pg_server, register, t, extra=True) for t in CATALOG_TABLES}
    with sql.open() as script:
        ran = subprocess.run(["psql", "-X", "-q", register], stdin=script, capture_output=True, text=True,
                             timeout=60)
    assert ran.returncode != 0 and "duplicate key value violates unique constraint" in ran.stderr
    assert {t: _catalog_rows(pg_server, register, t, extra=True) for t in CATALOG_TABLES} == before


def test_a_row_the_pos_holds_locked_makes_the_push_busy_and_changes_nothing(
    catalog_store: Store, pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    monkeypatch.setattr(push_module, "BUSY_SECONDS", 0.2)
    register = _catalog_register(pg_server, REGISTER_CATALOGS)
    remotes.add(catalog_store, "caja1", register, None, "canonical")
    before = {t: _catalog_rows(pg_server, register, t) for t in CATALOG_TABLES}
    with psycopg.connect(register) as pos:  # the POS is in the middle of a sale that touches P1
        pos.execute("SELECT * FROM products WHERE product_id = 'P1' FOR UPDATE")
        result = push_catalogs(catalog_store, PushRequest("partial"))
        assert {t: _catalog_rows(pg_server, register, t) for t in CATALOG_TABLES} == before
    r = result.registers[0]
    assert (result.exit_code, r.status) == (1, "busy")
    assert r.error == "register caja1 is busy (locked by the POS); the push will be retried."
    assert push_catalogs(catalog_store, PushRequest("partial")).exit_code == 0
    _register_equals_main(pg_server, register, catalog_store)


def test_decimals_timestamps_nulls_and_quotes_survive_a_push_to_postgres(
    catalog_store: Store, pg_server: PgServer
) -> None:
    rows = [product("A'1", "it's -- not a comment; DROP TABLE products", "-0.01",
                    updated=dt.datetime(2026, 11, 26, 23, 59, 59, 123456)),
            product("B\n2", "línea\nnueva\ttab \\ backslash % %s", "123456789012.99", active=False),
            product("C", None, None, active=None, tax=None)]
    set_main(catalog_store, "products", rows)
    register = _catalog_register(pg_server, {"products": [product("A'1", "old", "1.00"), product("C", "c", "2")]})
    remotes.add(catalog_store, "caja1", register, None, "canonical")
    for mode in ("partial", "total"):  # partial updates through VALUES: its NULLs and timestamps must be typed
        assert push_catalogs(catalog_store, PushRequest(mode, tables=("products",))).exit_code == 0
        assert _catalog_rows(pg_server, register, "products") == sorted(rows)
