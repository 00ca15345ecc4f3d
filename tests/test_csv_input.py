"""`catalogs load` reads CSV as shops write it: Excel's cp1252 with `;` and decimal commas, UTF-8 with a BOM,
tabs; and says what went wrong, where and why, when it can't."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import Posync

# As Excel on a Spanish Windows saves "CSV (delimitado por comas)": cp1252, `;`, decimal commas, CRLF.
EXCEL_PRODUCTS = ("product_id;name;barcode;category;unit;price;tax_id;active\r\n"
                  "P00001;Caña de azúcar;7700000000011;Panadería;UND;1234,50;IVA19;1\r\n"
                  "P00002;Café Ñapanga;7700000000028;Bebidas;KG;79900;IVA5;1\r\n"
                  "P00003;Té €uro « frío »;;Bebidas;UND;0,125;IVA5;0\r\n")
EXCEL_TAXES = "tax_id;name;rate\r\nIVA19;IVA general;0,19\r\nIVA5;IVA reducido;0,05\r\nEXE;Exento (Ñ);0\r\n"


def _write(tmp_path: Path, text: str, encoding: str, name: str = "products.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_an_excel_cp1252_file_with_semicolons_and_decimal_commas_loads_exactly(posync: Posync,
                                                                               tmp_path: Path) -> None:
    products = _write(tmp_path, EXCEL_PRODUCTS, "cp1252")
    taxes = _write(tmp_path, EXCEL_TAXES, "cp1252", "impuestos.csv")

    loaded = posync("catalogs", "load", "products", str(products))
    assert loaded.exit_code == 0, loaded.output
    assert loaded.stdout.splitlines() == [
        "3 rows from products.csv loaded into main's products: 3 new, 0 changed, 0 deleted, 0 unchanged",
        "read as cp1252 text, separated by ';', with decimal commas",
        "columns not in the file, left empty: updated_at"]
    assert posync("catalogs", "load", "taxes", str(taxes)).exit_code == 0

    assert posync.rows("SELECT product_id, name, barcode, category, unit, price::VARCHAR, tax_id, active "
                       "FROM products ORDER BY product_id") == [
        ("P00001", "Caña de azúcar", "7700000000011", "Panadería", "UND", "1234.5000", "IVA19", True),
        ("P00002", "Café Ñapanga", "7700000000028", "Bebidas", "KG", "79900.0000", "IVA5", True),
        ("P00003", "Té €uro « frío »", None, "Bebidas", "UND", "0.1250", "IVA5", False)]
    assert posync.rows("SELECT tax_id, name, rate FROM taxes ORDER BY tax_id") == [
        ("EXE", "Exento (Ñ)", Decimal("0.0000")), ("IVA19", "IVA general", Decimal("0.1900")),
        ("IVA5", "IVA reducido", Decimal("0.0500"))]
    # Loading the same catalog saved as UTF-8 with a BOM, commas and decimal points changes nothing.
    plain = EXCEL_PRODUCTS.replace(";", ",").replace("1234,50", "1234.50").replace("0,125", "0.125")
    again = posync("catalogs", "load", "products", str(_write(tmp_path, "\ufeff" + plain, "utf-8", "bom.csv")))
    assert again.stdout.splitlines()[:2] == [
        "3 rows from bom.csv loaded into main's products: 0 new, 0 changed, 0 deleted, 3 unchanged",
        "columns not in the file, left empty: updated_at"]


def test_tabs_and_latin1_are_found_and_the_options_say_them_outright(posync: Posync, tmp_path: Path) -> None:
    # 0x81 is undefined in cp1252: a latin-1 file; tabs; decimal points.
    path = tmp_path / "tabs.csv"
    path.write_bytes(b"method_id\tname\nEF\tEfectivo \x81\xd1\nTC\tTarjeta\n")
    result = posync("catalogs", "load", "payment_methods", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == "read as latin-1 text, separated by tab"
    assert posync.rows("SELECT name FROM payment_methods ORDER BY method_id") == [("Efectivo \x81Ñ",), ("Tarjeta",)]

    told = posync("catalogs", "load", "taxes", str(_write(tmp_path, EXCEL_TAXES, "cp1252", "t.csv")),
                  "--encoding", "cp1252", "--separator", ";", "--decimal-comma", "--json")
    assert told.exit_code == 0, told.output
    assert '"csv": {\n    "encoding": "cp1252",\n    "separator": ";",\n    "decimal_comma": true,\n' \
           '    "found": []\n  }' in told.stdout


@pytest.mark.parametrize(
    ("text", "encoding", "options", "message"),
    [
        pytest.param(  # a decimal comma beside a decimal point: ambiguous, so not guessed
            "product_id;price\r\nP1;1234,50\r\nP2;12.5\r\n", "cp1252", [],
            "products.csv: 1 value(s) do not cast (row 1: price '1234,50' is not a number (decimal comma? use "
            "--decimal-comma)) (read as utf-8 text, separated by ';'); fix them and load again.", id="ambiguous-comma"),
        pytest.param(  # a comma-separated file never gets a guessed decimal comma
            'product_id,price\nP1,"3,5"\n', "utf-8", [],
            "products.csv: 1 value(s) do not cast (row 1: price '3,5' is not a number (decimal comma? use "
            "--decimal-comma)); fix them and load again.", id="comma-separated"),
        pytest.param(
            "product_id;price\r\nP1;1.234,50\r\n", "cp1252", ["--decimal-comma"],
            "products.csv: 1 value(s) do not cast (row 1: price '1.234,50' is not a number (a thousands separator? "
            "write the number without it)) (read as utf-8 text, separated by ';', with decimal commas); fix them "
            "and load again.", id="thousands-separator"),
        pytest.param(
            EXCEL_PRODUCTS, "cp1252", ["--encoding", "utf-8"],
            "products.csv: line 2 is not valid utf-8 (byte 68); is the file cp1252 (Excel on Windows)? give its "
            "encoding with --encoding, or leave it out to detect it.", id="told-utf8-but-cp1252"),
        pytest.param(
            "product_id;name;price\r\nP1;Pan;3\r\nP2;Arepa; grande;4\r\n", "utf-8", [],
            "products.csv: line 3 has 4 values where the header has 3 (read as utf-8 text, separated by ';'); "
            "a ';' inside a value needs quotes, or give the separator with --separator.", id="ragged-row"),
        pytest.param(
            "product_id;name;Name\r\nP1;a;b\r\n", "utf-8", [],
            "products.csv: column(s) name appear more than once in the header (read as utf-8 text, separated by "
            "';').", id="header-twice"),
    ],
)
def test_a_file_that_does_not_read_is_one_sentence_naming_row_column_value_and_cause(
        posync: Posync, tmp_path: Path, text: str, encoding: str, options: list[str], message: str) -> None:
    result = posync("catalogs", "load", "products", str(_write(tmp_path, text, encoding)), *options)

    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"error: {message}\n")
    assert posync.scalar("SELECT count(*) FROM products") == 0  # nothing loaded


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--encoding", "klingon", "unknown encoding; shops' files are usually utf-8, cp1252 (Excel on Windows) or "
                              "latin-1."),
    ("--separator", "|", "give ',', ';' or 'tab'."),
])
def test_a_bad_csv_option_is_a_usage_error_before_main_is_touched(posync: Posync, tmp_path: Path, option: str,
                                                                  value: str, said: str) -> None:
    result = posync("catalogs", "load", "products", str(_write(tmp_path, EXCEL_PRODUCTS, "cp1252")), option, value)

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: Invalid value for '{option}': {said}"
    assert not posync.db.exists()
