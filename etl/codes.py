"""Voucher-code ownership, managed: `posync codes list|assign|release`.

A voucher code belongs to one register (SPEC "The rule that matters most"): its first clean import
makes it the owner, and every other register's vouchers of that code are held back. Registers are
replaced and renamed, so ownership can be moved (`assign`) or freed (`release`) — with a reason, logged,
taking effect at the next import — but never so that two current registers' vouchers share a code in
main. A removed register's vouchers stay in main as history; a register that replaces it may take its
code over and go on numbering after them (check 8 holds back a number main already holds).
"""

from __future__ import annotations

from typing import Any

import duckdb

from etl import ledger
from etl.errors import ConfigError
from etl.i18n import Nn_, Said
from etl.remotes import get
from etl.store import Store

LISTING = """
WITH known AS (SELECT voucher_code FROM voucher_code_owners UNION SELECT voucher_code FROM code_stats
               UNION SELECT voucher_code FROM held_codes),
     held AS (SELECT voucher_code, list(register || ' on ' || strftime(process_date, '%Y-%m-%d') || ' ('
                                        || vouchers || ')' ORDER BY process_date, register) AS held
              FROM held_codes GROUP BY voucher_code)
SELECT k.voucher_code AS code, o.register AS owner, o.register IS NOT NULL AND r.name IS NULL AS owner_removed,
       o.since AS owner_since, s.first_date, s.last_date, coalesce(s.vouchers, 0) AS vouchers,
       coalesce(s.registers, []) AS registers, coalesce(h.held, []) AS held_back
FROM known k LEFT JOIN voucher_code_owners o USING (voucher_code) LEFT JOIN remotes r ON r.name = o.register
LEFT JOIN code_stats s USING (voucher_code) LEFT JOIN held h USING (voucher_code)
ORDER BY k.voucher_code
"""


def listing(store: Store) -> list[dict[str, Any]]:
    """Every voucher code: owner (and whether it was removed), dates seen, vouchers in main, where held back."""
    rows: list[dict[str, Any]] = store.con.execute(LISTING).to_arrow_table().to_pylist()
    return rows


def _norm(code: str) -> str:
    """Codes are stored trimmed and in upper case (FAULTS 48): ' fv1' is FV1."""
    text = code.strip().upper()
    if not text:
        raise ConfigError(Said("give a voucher code, e.g. FV1."))
    return text


def _reason(reason: str) -> str:
    if not reason.strip():
        raise ConfigError(Said("say why with --reason: the log keeps it beside the change of ownership."))
    return reason.strip()


def _owner(con: duckdb.DuckDBPyConnection, code: str) -> str | None:
    row = con.execute("SELECT register FROM voucher_code_owners WHERE voucher_code = ?", [code]).fetchone()
    return str(row[0]) if row else None


def _current_holders(con: duckdb.DuckDBPyConnection, code: str, besides: str | None) -> list[tuple[str, int]]:
    """Current registers (not removed) other than `besides` whose vouchers of the code main holds."""
    return [(r, int(n)) for r, n in con.execute(
        """SELECT v.register, count(*) FROM vouchers v JOIN remotes r ON r.name = v.register
           WHERE v.voucher_code = ? AND v.register IS DISTINCT FROM ? GROUP BY ALL ORDER BY ALL""",
        [code, besides]).fetchall()]


def assign(store: Store, code: str, register: str, reason: str) -> str:
    """Make `register` the owner of `code`; returns the previous owner's name ('' if none). Logged."""
    code, why = _norm(code), _reason(reason)
    get(store, register)  # a register that does not exist is a usage error
    with store.transaction() as con:
        before = _owner(con, code)
        if before == register:
            raise ConfigError(Said("%(register)s already owns %(code)s; nothing to change.", register=register,
                                   code=code))
        holders = _current_holders(con, code, register)
        if holders:
            who, n = holders[0]
            raise ConfigError(Said(Nn_(
                "%(code)s would be shared: main holds %(num)s voucher of %(code)s from %(who)s, which is still a "
                "register. If %(register)s replaces %(who)s, rename it instead (`posync remote rename %(who)s "
                "%(register)s`), or remove %(who)s first (`posync remote remove %(who)s`); nothing was changed.",
                "%(code)s would be shared: main holds %(num)s vouchers of %(code)s from %(who)s, which is still a "
                "register. If %(register)s replaces %(who)s, rename it instead (`posync remote rename %(who)s "
                "%(register)s`), or remove %(who)s first (`posync remote remove %(who)s`); nothing was changed."),
                num=n, code=code, who=who, register=register))
        con.execute("DELETE FROM voucher_code_owners WHERE voucher_code = ?", [code])
        con.execute("INSERT INTO voucher_code_owners VALUES (?, ?, now()::TIMESTAMP, NULL)", [code, register])
        con.execute("DELETE FROM held_codes WHERE voucher_code = ? AND register = ?", [code, register])
        was = f"from {before}" if before else "(it had no owner)"
        ledger.log(con, "codes assign", "ok", f"{code} assigned to {register} {was}: {why}", register=register)
    return before or ""


def release(store: Store, code: str, reason: str) -> str:
    """Free a code whose owner was removed or never imported it; returns the previous owner. Logged."""
    code, why = _norm(code), _reason(reason)
    with store.transaction() as con:
        owner = _owner(con, code)
        if owner is None:
            raise ConfigError(Said("%(code)s has no owner; `posync codes list` shows every code.", code=code))
        holders = _current_holders(con, code, None)
        if holders:
            who, n = holders[0]
            raise ConfigError(Said(Nn_(
                "%(code)s is in use: main holds %(num)s voucher of %(code)s from %(who)s, which is still a register, "
                "so freeing it would let another register's %(code)s land beside them. To move it, `posync codes "
                "assign %(code)s REGISTER --reason …`; nothing was changed.",
                "%(code)s is in use: main holds %(num)s vouchers of %(code)s from %(who)s, which is still a "
                "register, so freeing it would let another register's %(code)s land beside them. To move it, "
                "`posync codes assign %(code)s REGISTER --reason …`; nothing was changed."),
                num=n, code=code, who=who))
        con.execute("DELETE FROM voucher_code_owners WHERE voucher_code = ?", [code])
        ledger.log(con, "codes release", "ok", f"{code} released (owner was {owner}): {why}", register=owner)
    return owner
