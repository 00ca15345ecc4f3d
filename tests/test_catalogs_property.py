"""Property: for random main and register catalogs with awkward text, a push leaves the register as promised.

partial and replace: the register equals main; total: every main row is at the register with main's
values. Then main changes again and a partial push goes through the recorded state: equal again.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl import remotes
from etl.catalogs import PushRequest, push_catalogs
from tests.test_catalogs_support import main_rows, main_store, make_register, read_register, set_main

AWKWARD_CHARS = st.one_of(
    st.sampled_from(["'", "''", '"', "--", ";", "\n", "\r", "\t", "\\", "%", "_", " ", "ñ", "Ñ", "€", "😀", "/*",
                     "NULL", "1.5", "0", "é"]),
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
)
TEXT = st.lists(AWKWARD_CHARS, max_size=4).map("".join)
MAYBE_TEXT = st.one_of(st.none(), TEXT)
PRICE = st.one_of(st.none(), st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False,
                                          allow_infinity=False))
ACTIVE = st.one_of(st.none(), st.booleans())
UPDATED = st.one_of(st.none(), st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)))
VALUES = st.tuples(MAYBE_TEXT, MAYBE_TEXT, MAYBE_TEXT, MAYBE_TEXT, PRICE, MAYBE_TEXT, ACTIVE, UPDATED)
KEYS = st.sampled_from(["P1", "P2", "P3", "it's", "--", "ñandú", "😀", " ", "", "a\nb", "NULL", "0"])


def _rows(d: dict[str, tuple]) -> list[tuple]:  # type: ignore[type-arg]
    return sorted(((k, *v) for k, v in d.items()), key=lambda r: r[0])


CATALOG = st.dictionaries(KEYS, VALUES, max_size=6).map(_rows)


def _normal(rows: list[tuple]) -> list[tuple]:  # type: ignore[type-arg]
    """Decimals as main stores them (DECIMAL(18,2)), so main and register compare exactly."""
    return [tuple(Decimal(v).quantize(Decimal("0.01")) if isinstance(v, Decimal) else v for v in r) for r in rows]


@pytest.mark.fault(18, 32)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(register=CATALOG, main=CATALOG, later=CATALOG, mode=st.sampled_from(["partial", "total", "replace"]),
       mapping=st.sampled_from(["canonical", "legacy_es"]))
def test_a_push_leaves_the_register_as_promised(register: list[tuple], main: list[tuple], later: list[tuple],  # type: ignore[type-arg]
                                                 mode: str, mapping: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = make_register(Path(folder) / "caja1.db", mapping, rows={"products": register})
        with main_store(Path(folder)) as store:
            remotes.add(store, "caja1", str(path), None, mapping)
            set_main(store, "products", _normal(main))
            result = push_catalogs(store, PushRequest(mode, tables=("products",), force=True))
            assert result.exit_code == 0, result.registers[0].error
            expected = main_rows(store, "products")
            at_register = read_register(path, mapping, "products")
            if mode == "total":
                by_key = {r[0]: r for r in at_register}
                assert all(by_key.get(r[0]) == r for r in expected)
                assert set(by_key) == {r[0] for r in expected} | {r[0] for r in register}
            else:
                assert at_register == expected
            set_main(store, "products", _normal(later))
            result = push_catalogs(store, PushRequest("partial", tables=("products",), force=True))
            assert result.exit_code == 0, result.registers[0].error
            assert read_register(path, mapping, "products") == main_rows(store, "products")
            again = push_catalogs(store, PushRequest("partial", tables=("products",)))
            assert again.registers[0].status == "unchanged"
