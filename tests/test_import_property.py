"""Property: whatever the register does and however we import, no voucher is lost or doubled,
and main equals what the spec's rules say (insert-only keeps, --overwrite replaces, nothing deletes)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from etl.pipeline import ImportRequest, import_day
from etl.remotes import add
from etl.store import open_store

DAY = dt.date(2026, 11, 26)
SCHEMA = """
CREATE TABLE voucher_types(code TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL);
INSERT INTO voucher_types VALUES ('FV1', 'Factura', 'invoice');
CREATE TABLE vouchers(voucher_code TEXT, number INTEGER, date DATE, issued_at TIMESTAMP, customer_id TEXT,
  subtotal DECIMAL(18,2), tax DECIMAL(18,2), total DECIMAL(18,2), status TEXT, updated_at TIMESTAMP,
  PRIMARY KEY (voucher_code, number));
CREATE TABLE voucher_lines(voucher_code TEXT, number INTEGER, line_no INTEGER, product_id TEXT,
  quantity DECIMAL(18,3), unit_price DECIMAL(18,2), discount DECIMAL(18,2), tax DECIMAL(18,2),
  total DECIMAL(18,2), PRIMARY KEY (voucher_code, number, line_no));
CREATE TABLE payments(voucher_code TEXT, number INTEGER, seq INTEGER, method_id TEXT, amount DECIMAL(18,2),
  PRIMARY KEY (voucher_code, number, seq));
"""

Content = tuple[str, tuple[tuple[int, str], ...]]  # (status, ((line_no, line total), ...))

numbers = st.integers(1, 8)
contents = st.tuples(
    st.sampled_from(["issued", "void"]),
    st.lists(st.sampled_from(["1.00", "2.50", "10.05", "0.01"]), min_size=1, max_size=3).map(
        lambda totals: tuple((i + 1, t) for i, t in enumerate(totals))
    ),
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("put"), numbers, contents),
        st.tuples(st.just("delete"), numbers, st.none()),
        st.tuples(st.just("import"), st.booleans(), st.none()),
    ),
    min_size=1,
    max_size=7,
)


def _put(con: sqlite3.Connection, number: int, content: Content) -> None:
    status, lines = content
    total = sum(Decimal(t) for _, t in lines)
    _delete(con, number)
    con.execute("INSERT INTO vouchers VALUES ('FV1', ?, ?, ?, NULL, ?, 0, ?, ?, NULL)",
                [number, DAY.isoformat(), f"{DAY} 10:00:00", str(total), str(total), status])
    con.executemany("INSERT INTO voucher_lines VALUES ('FV1', ?, ?, 'P1', 1, ?, 0, 0, ?)",
                    [(number, n, t, t) for n, t in lines])
    con.execute("INSERT INTO payments VALUES ('FV1', ?, 1, 'EF', ?)", [number, str(total)])
    con.commit()


def _delete(con: sqlite3.Connection, number: int) -> None:
    for table in ("vouchers", "voucher_lines", "payments"):
        con.execute(f"DELETE FROM {table} WHERE number = ?", [number])
    con.commit()


def _main_state(db: Path) -> dict[int, Content]:
    store = open_store(str(db))
    try:
        headers = store.con.execute("SELECT number, status FROM vouchers ORDER BY number").fetchall()
        keys = [n for n, _ in headers]
        assert len(keys) == len(set(keys)), "a voucher is doubled in main"
        lines = store.con.execute(
            "SELECT number, line_no, total FROM voucher_lines ORDER BY number, line_no").fetchall()
        dup_lines = store.con.execute(
            "SELECT count(*) FROM (SELECT number, line_no FROM voucher_lines GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()[0]
        assert dup_lines == 0, "a line is doubled in main"
    finally:
        store.close()
    return {
        n: (status, tuple((ln, f"{t:.2f}") for m, ln, t in lines if m == n)) for n, status in headers
    }


@settings(max_examples=20, deadline=None)
@given(program=steps)
def test_imports_never_lose_or_double_a_voucher(program: list[tuple]) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp:
        register, db = Path(tmp) / "caja1.db", Path(tmp) / "main.duckdb"
        con = sqlite3.connect(register)
        con.executescript(SCHEMA)
        store = open_store(str(db))
        add(store, "caja1", str(register), None, "canonical")
        store.close()
        at_register: dict[int, Content] = {}
        model: dict[int, Content] = {}
        for op, arg, content in program:
            if op == "put":
                _put(con, arg, content)
                at_register[arg] = content
            elif op == "delete":
                _delete(con, arg)
                at_register.pop(arg, None)
            else:
                store = open_store(str(db))
                try:
                    result = import_day(store, ImportRequest(DAY, overwrite=arg))
                finally:
                    store.close()
                assert result.exit_code == 0
                for number, value in at_register.items():
                    if number not in model or arg:
                        model[number] = value
                assert _main_state(db) == model
        con.close()
