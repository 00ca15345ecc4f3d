"""Reading a register's day through its own engine (issue 15), on real SQLite files.

The date filter and the header join run inside SQLite (ADBC); these tests pin what that path must keep:
values stored with mixed storage classes come back exact, a bad value late in a big table is a finding
and not a crash, a register without any index on its date column reads the same, a register in WAL
mode is read with what its -wal file holds, and a range read in chunks of dates stages each date as a
single-date read does.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from etl import extract
from etl.registers import SqliteReader
from sample_data import SampleSpec, generate
from tests.conftest import content_sql, sqlite_exec
from tests.test_postgres import Main

DAY = "2026-11-26"


def _register(tmp_path: Path, **spec: object) -> Path:
    return generate(tmp_path / "registers", SampleSpec(**{"registers": 1, "vouchers_per_day": 12, "products": 30,
                                                          "customers": 8, **spec}))[0]


def _main(tmp_path: Path, name: str, path: Path) -> Main:
    main = Main(tmp_path / f"{name}.duckdb")  # type: ignore[arg-type]
    assert main("remote", "add", "caja1", str(path)).exit_code == 0
    return main


def test_mixed_storage_classes_come_back_exact(tmp_path: Path) -> None:
    """A REAL column holding some text: the driver would format its REALs with six digits (0.001 -> 1e-03)."""
    path = _register(tmp_path)
    sqlite_exec(path, "UPDATE voucher_lines SET unit_price = 2327332.2499 WHERE line_no = 1",
                "UPDATE voucher_lines SET unit_price = 0.001 WHERE line_no = 2",
                "UPDATE voucher_lines SET unit_price = '12.5' WHERE line_no = 3")  # text beside the REALs
    main = _main(tmp_path, "main", path)

    result = main("import", "--date", DAY)

    assert result.exit_code == 0, result.output
    prices = main.rows("SELECT line_no, list(DISTINCT unit_price::VARCHAR) FROM voucher_lines "
                       "WHERE line_no <= 3 GROUP BY ALL ORDER BY 1")
    assert prices == [(1, ["2327332.2499"]), (2, ["0.0010"]), (3, ["12.5000"])]


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQL of every query the SQLite reader runs from now on (the real reader: only listened to)."""
    seen: list[str] = []
    fetch = SqliteReader._fetch

    def listening(self: SqliteReader, query: Any, params: Any = ()) -> Any:
        seen.append(self._text(query))
        return fetch(self, query, params)

    monkeypatch.setattr(SqliteReader, "_fetch", listening)
    return seen


def test_a_day_reads_each_table_once_and_a_mixed_column_costs_one_more_read(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """DATE and TIMESTAMP columns holding ISO text (the usual register) are read as text at once; only a column
    that truly mixes storage classes is read a second time, value by value. (Each table's first read was
    doubled: the `__bytes` beside a text column was taken for a new mixed column.)"""
    path = _register(tmp_path)
    sqlite_exec(path, f"UPDATE vouchers SET date = 2461371.5 WHERE rowid = (SELECT min(rowid) FROM vouchers "
                      f"WHERE date = '{DAY}')",  # a Julian day number where the text of a date belongs
                "UPDATE voucher_lines SET unit_price = '12,5' WHERE line_no = 3")  # text in a REAL column
    main = _main(tmp_path, "main", path)
    seen = _reads(monkeypatch)

    result = main("validate", "--date", DAY)

    reads = [q for q in seen if "pragma" not in q.lower() and "sqlite_master" not in q]
    of = {t: [q for q in reads if f'FROM "{t}" AS src' in q.split(" UNION ")[0]]
          for t in ("vouchers", "voucher_lines", "payments")}
    assert len(reads) == len(set(reads)), reads  # no query is run twice
    assert [len(of[t]) for t in of] == [2, 2, 1], of  # headers: the date values, the day; lines: typed, then mixed
    assert "date: '2461371.5' is not a date" in result.output, result.output  # the number as SQLite holds it
    assert result.exit_code == 3


def test_a_bad_value_after_thousands_of_clean_rows_is_held_back_not_a_crash(tmp_path: Path) -> None:
    path = _register(tmp_path, vouchers_per_day=3000)
    with sqlite3.connect(path) as con:
        last = con.execute("SELECT max(number) FROM vouchers WHERE date = ?", [DAY]).fetchone()[0]
        lines = con.execute("SELECT count(*) FROM voucher_lines").fetchone()[0]
    sqlite_exec(path, f"UPDATE voucher_lines SET unit_price = 'abc' WHERE number = {last} AND line_no = 1")
    main = _main(tmp_path, "main", path)

    result = main("import", "--date", DAY)

    assert lines > 10_000
    assert result.exit_code == 3, result.output
    assert "'abc' is not a number" in main("validate", "--date", DAY).output
    assert main.rows("SELECT count(*) FROM vouchers") == [(3000 - 1,)]  # only that voucher waits


def test_a_register_without_an_index_on_date_reads_the_same_as_one_with_it(tmp_path: Path) -> None:
    path = _register(tmp_path, days=3, start=dt.date(2026, 11, 24))
    indexed = tmp_path / "indexed.db"
    shutil.copyfile(path, indexed)
    sqlite_exec(indexed, "CREATE INDEX vouchers_date ON vouchers (date)")
    with sqlite3.connect(path) as con:
        assert not con.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '%date%'").fetchall()
    plain, fast = _main(tmp_path, "plain", path), _main(tmp_path, "fast", indexed)

    assert plain("import", "--date", DAY).exit_code == fast("import", "--date", DAY).exit_code == 0
    for table in ("vouchers", "voucher_lines", "payments"):
        assert plain.rows(content_sql(table)) == fast.rows(content_sql(table)), table
    assert plain.rows("SELECT DISTINCT date FROM vouchers") == [(dt.date(2026, 11, 26),)]


def test_a_register_in_wal_mode_is_read_with_what_its_wal_holds(tmp_path: Path) -> None:
    path = _register(tmp_path)
    pos = sqlite3.connect(path, isolation_level=None)  # the POS, still running: its last sales only in -wal
    try:
        pos.execute("PRAGMA journal_mode = WAL")
        pos.execute("PRAGMA wal_autocheckpoint = 0")
        pos.execute("UPDATE vouchers SET status = 'void' WHERE number = (SELECT min(number) FROM vouchers)")
        pos.execute("DELETE FROM payments WHERE number = (SELECT max(number) FROM vouchers)")
        assert Path(f"{path}-wal").stat().st_size > 0
        main = _main(tmp_path, "main", path)

        result = main("import", "--date", DAY)

        assert result.exit_code == 0, result.output
        assert main.rows("SELECT count(*) FROM vouchers WHERE status = 'void'") == [(1,)]
        payments = pos.execute("SELECT count(*) FROM payments p JOIN vouchers v USING (voucher_code, number) "
                               "WHERE v.date = ?", [DAY]).fetchone()[0]
        assert main.rows("SELECT count(*) FROM payments") == [(payments,)]
    finally:
        pos.close()


def test_a_legacy_register_on_a_date_without_sales_is_read_as_empty(tmp_path: Path) -> None:
    """With no rows the driver types every column int64: a mapping expression over a TEXT column
    (legacy_es: `try_strptime(fecha, '%Y%m%d')`) must still bind, as on a date with sales."""
    path = _register(tmp_path, flavour="legacy_es", names=("caja4",))
    main = Main(tmp_path / "main.duckdb")  # type: ignore[arg-type]
    assert main("remote", "add", "caja4", str(path), "--mapping", "legacy_es").exit_code == 0

    empty = main("validate", "--date", "2026-11-25", "--format", "json")
    ranged = main("import", "--from", "2026-11-25", "--to", DAY, "--json")

    assert empty.exit_code == 0, empty.output
    assert ranged.exit_code == 0, ranged.output
    assert main.rows("SELECT count(*) FROM vouchers") == [(12,)]


def test_a_range_indexes_posyncs_copy_never_the_register(tmp_path: Path) -> None:
    """A range reads many dates of one copy: the copy gets an index on the date, the register keeps its bytes."""
    path = _register(tmp_path, days=3, start=dt.date(2026, 11, 24))
    before = path.read_bytes()
    main = _main(tmp_path, "main", path)

    result = main("import", "--from", "2026-11-24", "--to", DAY)

    assert result.exit_code == 0, result.output
    assert path.read_bytes() == before
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'posync_run_date'").fetchone() == (0,)
    assert main.rows("SELECT count(DISTINCT date) FROM vouchers") == [(3,)]


def test_the_reader_plans_with_the_index_it_just_made(tmp_path: Path) -> None:
    """The reader's connection reads inside one transaction: after indexing the copy it must see the index,
    or every date of a range scans the whole table (it did: 0.27 s a read instead of 3 ms)."""
    import duckdb

    from etl.engines import ENGINES
    from etl.mapping import load_mapping
    from etl.registers import opened
    from etl.staging import Snapshot

    path = _register(tmp_path, days=3, start=dt.date(2026, 11, 24))
    query = "SELECT * FROM vouchers WHERE date = '2026-11-25'"
    with opened(duckdb.connect(), Snapshot("caja1", str(path), ENGINES["sqlite"], "x"),
                load_mapping("canonical")) as register:
        reader = register.reader
        assert isinstance(reader, SqliteReader)
        assert reader.tables()  # a first read: the connection's transaction has begun
        reader.index("vouchers", "date")
        cursor = reader._con.cursor()
        cursor.execute(query)  # a read (an EXPLAIN alone plans with whatever schema the connection holds)
        assert len(cursor.fetchall()) == 12
        cursor.execute(f"EXPLAIN QUERY PLAN {query}")
        details = [row["detail"] for row in cursor.fetch_arrow_table().to_pylist()]
        cursor.close()
    assert any("USING INDEX posync_run_date" in d for d in details), details


# Everything a read can get wrong, on one register: undated headers and dates that are not dates (read for
# every date), a voucher numbered inside another date's numbers, orphan lines at the edges of dates'
# windows and with no number, a duplicated number, a date without sales, bad values, a code on two registers.
_AWKWARD = (
    "UPDATE vouchers SET date = NULL WHERE rowid = (SELECT min(rowid) FROM vouchers WHERE date = '2026-11-22')",
    "UPDATE vouchers SET date = 'mañana' WHERE rowid = (SELECT max(rowid) FROM vouchers WHERE date = '2026-11-23')",
    "UPDATE vouchers SET date = '2026-11-24' WHERE rowid = (SELECT max(rowid) FROM vouchers WHERE date = '2026-11-21')",
    "DELETE FROM vouchers WHERE rowid = (SELECT min(rowid) FROM vouchers WHERE date = '2026-11-24')",
    "DELETE FROM vouchers WHERE rowid = (SELECT max(rowid) FROM vouchers WHERE date = '2026-11-22')",
    "INSERT INTO voucher_lines (voucher_code, number, line_no, product_id, quantity, unit_price, discount, tax, total) "
    "SELECT voucher_code, NULL, 99, product_id, quantity, unit_price, discount, tax, total FROM voucher_lines LIMIT 1",
    "DELETE FROM vouchers WHERE date = '2026-11-23' AND voucher_code = (SELECT min(voucher_code) FROM vouchers)",
)


@pytest.mark.parametrize("budget", [extract.CHUNK_HEADERS, 25])  # the whole range at once; two dates at a time
def test_a_range_read_in_chunks_stages_each_date_as_a_single_date_import_does(tmp_path: Path, budget: int,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract, "CHUNK_HEADERS", budget)
    start = dt.date(2026, 11, 20)
    paths = generate(tmp_path / "registers", SampleSpec(
        registers=2, days=6, start=start, vouchers_per_day=10, products=30, customers=8,
        faults=frozenset({"code_conflict", "duplicate_number", "orphan_lines", "bad_types"})))
    sqlite_exec(paths[0], *_AWKWARD)
    dates = [str(start + dt.timedelta(days=i)) for i in range(7)]  # the last one has no sales
    mains = [Main(tmp_path / f"{name}.duckdb") for name in ("range", "single")]  # type: ignore[arg-type]
    for main in mains:
        for path in paths:
            assert main("remote", "add", path.stem, str(path)).exit_code == 0

    checked = mains[0]("validate", "--from", dates[0], "--to", dates[-1], "--format", "json")
    validated = [mains[1]("validate", "--date", day, "--format", "json") for day in dates]
    ranged = mains[0]("import", "--from", dates[0], "--to", dates[-1])
    singles = [mains[1]("import", "--date", day) for day in dates]

    assert ranged.exit_code == max(i.exit_code for i in singles) == 3, ranged.output
    findings = [_findings(day) for day in json.loads(checked.output)["dates"]]
    assert findings == [_findings(json.loads(v.output)) for v in validated]
    assert all(findings[:6]), "every date of the awkward register gives findings"
    for table in ("vouchers", "voucher_lines", "payments", "voucher_types"):
        assert mains[0].rows(content_sql(table)) == mains[1].rows(content_sql(table)), table
    owners = "SELECT voucher_code, register FROM voucher_code_owners ORDER BY ALL"
    assert mains[0].rows(owners) == mains[1].rows(owners)
    log = "SELECT register, process_date, status, read, inserted, rejected, message FROM sync_log ORDER BY ALL"
    assert mains[0].rows(log) == mains[1].rows(log)


def _findings(doc: dict[str, object]) -> list[tuple[str, str, str]]:
    report = doc.get("report", doc)
    assert isinstance(report, dict)
    return sorted((f["check"], ",".join(f["registers"]), f["message"]) for f in report["findings"])
