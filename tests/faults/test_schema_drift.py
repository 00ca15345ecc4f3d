"""Schema drift at a register (FAULTS 8-10): extra columns are ignored and listed; a missing or renamed
column or table stops that register with a message naming the register, the mapping file, the table,
the column and the JSON path; a column of another type gets its rows rejected, never coerced.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sample_data import SampleSpec, generate
from tests.faults.conftest import (
    DAY1,
    World,
    assert_converges,
    assert_invariants,
    imported,
    logged_errors,
)


def _failed_alone(world: World, register: str, message: str) -> None:
    result = world.posync("import", "--date", DAY1)
    assert result.exit_code == 1, result.output
    assert f"  {register}: {message}" in result.output.splitlines()
    assert imported(world) == sorted({"caja1", "caja2", "caja3"} - {register})
    assert logged_errors(world, register) == [message]
    assert_invariants(world)


@pytest.mark.fault(8)
def test_columns_added_at_the_register_are_ignored_and_listed(world: World, reference: dict[str, Any]) -> None:
    world.sql("caja1", "ALTER TABLE vouchers ADD COLUMN propina DECIMAL(18,2) DEFAULT 1000",
              "ALTER TABLE voucher_lines ADD COLUMN lote TEXT", "ALTER TABLE voucher_lines ADD COLUMN vence DATE")

    result = world.posync("import", "--date", DAY1)

    assert result.exit_code == 0, result.output
    assert world.content() == reference
    message = world.posync.scalar("SELECT message FROM sync_log WHERE register = 'caja1' AND action = 'import'")
    assert message.endswith("unmapped columns: vouchers: propina; voucher_lines: lote, vence")


@pytest.mark.fault(9)
@pytest.mark.parametrize("change", ["ALTER TABLE vouchers DROP COLUMN total",
                                    "ALTER TABLE vouchers RENAME COLUMN total TO valor_total"])
def test_a_required_column_removed_or_renamed_stops_that_register(
    world: World, reference: dict[str, Any], change: str
) -> None:
    world.sql("caja2", change)

    _failed_alone(world, "caja2", "register caja2: vouchers.total missing, needed for vouchers.total "
                                  "(mapping canonical.json, $.tables.vouchers.columns.total).")

    world.sql("caja2", "ALTER TABLE vouchers ADD COLUMN total DECIMAL(18,2)" if "DROP" in change
              else "ALTER TABLE vouchers RENAME COLUMN valor_total TO total")
    if "DROP" in change:  # the POS put the column back; the rows need their totals again
        world.sql("caja2", "UPDATE vouchers SET total = subtotal + tax")
        result = world.posync("import", "--date", DAY1)
        assert result.exit_code == 0, result.output
        assert imported(world) == ["caja1", "caja2", "caja3"]
    else:
        assert_converges(world, reference)


@pytest.mark.fault(9)
def test_a_missing_table_stops_that_register(world: World) -> None:
    world.sql("caja3", "ALTER TABLE payments RENAME TO pagos_2026")

    _failed_alone(world, "caja3", "register caja3: table payments missing (mapping canonical.json, "
                                  "$.tables.payments.source); the register's schema does not match its mapping.")


@pytest.fixture(scope="module")
def legacy_register(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = SampleSpec(names=("caja4",), flavour="legacy_es", vouchers_per_day=5, products=20, customers=5)
    (path,) = generate(tmp_path_factory.mktemp("legacy"), spec)
    return path


@pytest.mark.fault(9)
def test_a_legacy_register_missing_a_mapped_column_names_its_mapping_file_and_json_path(
    world: World, legacy_register: Path
) -> None:
    path = world.root / "share4" / "caja4.db"
    path.parent.mkdir()
    path.write_bytes(legacy_register.read_bytes())
    assert world.posync("remote", "add", "caja4", str(path), "--mapping", "legacy_es").exit_code == 0
    world.sql("caja4", "ALTER TABLE comprobantes RENAME COLUMN valor_total TO total_factura")

    result = world.posync("import", "--date", DAY1)

    message = ("register caja4: comprobantes.valor_total missing, needed for vouchers.total "
               "(mapping legacy_es.json, $.tables.vouchers.columns.total).")
    assert result.exit_code == 1
    assert f"  caja4: {message}" in result.output.splitlines()
    assert imported(world) == ["caja1", "caja2", "caja3"]
    assert logged_errors(world, "caja4") == [message]


RETYPED = [  # vouchers rebuilt the way a POS upgrade might: dates as numbers, amounts as Spanish text
    """CREATE TABLE v2 (voucher_code TEXT, number INTEGER, date INTEGER, issued_at TIMESTAMP, customer_id TEXT,
       subtotal DECIMAL(18,2), tax DECIMAL(18,2), total TEXT, status TEXT, updated_at TIMESTAMP,
       PRIMARY KEY (voucher_code, number))""",
    """INSERT INTO v2 SELECT voucher_code, number, CAST(replace(date, '-', '') AS INTEGER), issued_at, customer_id,
       subtotal, tax, replace(printf('%.2f', total), '.', ','), status, updated_at FROM vouchers""",
    "DROP TABLE vouchers",
    "ALTER TABLE v2 RENAME TO vouchers",
]


@pytest.mark.fault(10)
def test_columns_of_another_type_get_their_rows_rejected_with_samples_never_coerced(
    world: World, reference: dict[str, Any]
) -> None:
    world.sql("caja2", *RETYPED)
    vouchers = world.reg_rows("caja2", "SELECT count(*) FROM vouchers")[0][0]

    result = world.posync("import", "--date", DAY1, "--json")

    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)["report"]
    bad = [f for f in report["findings"] if f["check"] == "bad_values" and f["registers"] == ["caja2"]]
    assert bad and bad[0]["rows"] == vouchers
    assert {s["bad_columns"] for s in bad[0]["samples"]} == {"date,total"}
    assert all(re.fullmatch(r"date: '202611\d\d' is not a date; total: '\d+,\d\d' is not a number", s["problem"])
               for s in bad[0]["samples"])
    assert imported(world) == ["caja1", "caja3"]  # nothing of caja2 turned into NULL, 0 or a wrong date
    assert world.posync.scalar("SELECT count(*) FROM vouchers WHERE total IS NULL OR total = 0") == 0
    assert_invariants(world)
