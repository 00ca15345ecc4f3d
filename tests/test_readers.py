"""Reading a register's day through its own engine (issue 15), on real SQLite files.

The date filter and the header join run inside SQLite (ADBC); these tests pin what that path must keep:
values stored with mixed storage classes come back exact, a bad value late in a big table is a finding
and not a crash, a register without any index on its date column reads the same, and a register in WAL
mode is read with what its -wal file holds.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

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
