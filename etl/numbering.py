"""DIAN numbering resolutions per voucher code: prefix, authorised range and validity dates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from etl import ledger
from etl.errors import ConfigError
from etl.i18n import Said
from etl.store import Store


@dataclass(frozen=True)
class Resolution:
    voucher_code: str
    prefix: str
    range_from: int
    range_to: int
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    enforce: bool = False


def set_resolution(store: Store, r: Resolution) -> None:
    """Create or replace the numbering resolution of one voucher code."""
    if r.range_from > r.range_to:
        raise ConfigError(Said("--from %(first)s is after --to %(last)s; give the authorised range in order.",
                               first=str(r.range_from), last=str(r.range_to)))
    if r.valid_from and r.valid_to and r.valid_from > r.valid_to:
        raise ConfigError(Said("--valid-from %(first)s is after --valid-to %(last)s.", first=str(r.valid_from),
                               last=str(r.valid_to)))
    with store.transaction() as con:
        con.execute("DELETE FROM numbering WHERE voucher_code = ?", [r.voucher_code])
        con.execute("INSERT INTO numbering VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [r.voucher_code, r.prefix, r.range_from, r.range_to, r.valid_from, r.valid_to, r.enforce])
        ledger.log(con, "numbering set", "ok",
                   f"{r.voucher_code}: prefix {r.prefix}, {r.range_from}-{r.range_to}"
                   f"{', enforced' if r.enforce else ''}")


def resolutions(store: Store) -> list[dict[str, object]]:
    table = store.con.execute("SELECT * FROM numbering ORDER BY voucher_code").to_arrow_table()
    rows: list[dict[str, object]] = table.to_pylist()
    return rows
