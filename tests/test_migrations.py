"""Upgrading a main store written by schema version 2 (tests/fixtures/main-v2): nothing lost or changed.

Version 3 widens every amount to DECIMAL(18,4), stores voucher codes trimmed and in upper case,
and recomputes the vouchers' content hashes, so that the next import of the same registers reads
every voucher as unchanged. Checked on a DuckDB and on a PostgreSQL main store.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sample_data import SampleSpec, generate
from tests.conftest import DAY1
from tests.test_postgres import Main

FIXTURES = Path(__file__).parent / "fixtures"
MONEY = "SELECT voucher_code, number, total FROM vouchers ORDER BY ALL"
LINES = "SELECT upper(trim(voucher_code)), number, line_no, unit_price, total FROM voucher_lines ORDER BY ALL"


def _registers(folder: Path) -> list[Path]:
    """The fixture's registers again: the generator is deterministic; caja2's loose spelling re-applied."""
    paths = generate(folder, SampleSpec(registers=2, vouchers_per_day=6, products=12, customers=5, days=1))
    con = sqlite3.connect(paths[1])
    for table in ("vouchers", "voucher_lines", "payments"):
        con.execute(f"UPDATE {table} SET voucher_code = 'fv2 ' WHERE voucher_code = 'FV2' AND number % 2 = 0")
    con.execute("UPDATE voucher_lines SET unit_price = 1234.5 WHERE line_no = 1")
    con.commit()
    con.close()
    return paths


def _duckdb_v2(tmp_path: Path) -> str:
    db = tmp_path / "main.duckdb"
    con = duckdb.connect(str(db))
    folder = FIXTURES / "main-v2"
    con.execute((folder / "schema.sql").read_text())
    con.execute((folder / "load.sql").read_text().replace("FIXTURE_DIR", str(folder)))
    con.close()
    return str(db)


def _postgres_v2(pg_database: Callable[..., str], pg_server: Any) -> str:
    uri = pg_database()
    subprocess.run([*pg_server._as, str(pg_server.bindir / "psql"), "-q", "-v", "ON_ERROR_STOP=1",
                    "-h", "127.0.0.1", "-p", str(pg_server.port), "-U", "postgres", "-d", uri.rsplit("/", 1)[1],
                    "-f", str(FIXTURES / "main-v2.pg.sql")], check=True, capture_output=True)
    return uri


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_a_version_2_store_upgrades_without_losing_or_changing_a_value(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    target = (_postgres_v2(request.getfixturevalue("pg_database"), request.getfixturevalue("pg_server"))
              if engine == "postgres" else _duckdb_v2(tmp_path))
    posync = Main(target)  # type: ignore[arg-type]
    before_money, before_lines = posync.rows(MONEY), posync.rows(LINES)
    assert {code for code, _, _ in before_money} == {"FV1", "FV2", "fv2 ", "NC1", "NC2"}
    assert Decimal("1234.50") in {price for _, _, _, price, _ in before_lines}

    paths = _registers(tmp_path / "registers")
    result = posync("remote", "list")  # any command upgrades the store first
    assert result.exit_code == 0, result.output
    for path in paths:
        assert posync("remote", "edit", path.stem, "--path", str(path)).exit_code == 0

    assert posync.rows("SELECT max(version) FROM schema_version") == [(3,)]
    types = dict(posync.rows("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = "
                               "current_database() AND table_name = 'voucher_lines'"))
    assert types["unit_price"] == "DECIMAL(18,4)" and types["quantity"] == "DECIMAL(18,3)"
    after_money = posync.rows(MONEY)
    assert sorted((c.strip().upper(), n, t) for c, n, t in before_money) == sorted(after_money)  # same values
    assert posync.rows(LINES) == before_lines
    assert {c for c, _, _ in after_money} == {"FV1", "FV2", "NC1", "NC2"}
    (message,) = [m for (m,) in posync.rows("SELECT message FROM sync_log WHERE action = 'upgrade'")]
    assert message == "amounts keep 4 decimals; voucher codes stored trimmed and in upper case"

    again = posync("import", "--date", DAY1, "--json")
    assert again.exit_code == 0, again.output
    assert '"changed_at_source": 0' in again.output and '"new": 0' in again.output  # hashes recomputed
    assert sorted(after_money) == sorted(posync.rows(MONEY))
    loyalty = posync("loyalty", "sync")
    assert loyalty.exit_code == 0 and "voucher not in main yet" not in loyalty.output  # 'fv2 ' was FV2 all along
