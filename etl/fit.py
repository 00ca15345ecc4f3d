"""Does a register fit its mapping? Checked at `remote add` and `remote edit`, not first at the nightly import.

The register is staged (copied and checked, never read live over the share) and every table and column
its mapping reads must be there. When they are not, the one sentence names what is missing and, when
another built-in mapping fits, says so (`this looks like a legacy_es register: add --mapping legacy_es`).
"""

from __future__ import annotations

from etl import extract, registers, staging
from etl.errors import ConfigError, PosyncError
from etl.mapping import Mapping, builtin_mappings, load_mapping
from etl.store import Store


def _missing(register: registers.Register) -> str | None:
    """What the register lacks for its mapping's voucher tables (the schema-drift sentence), or None when it fits.

    The voucher tables make a register: a missing catalog, loyalty or rules table is named by the step
    that needs it, as before.
    """
    tables = tuple(t for t in extract.STAGED_TABLES if t in register.mapping.tables)
    try:
        extract.check_columns(register, tables)
    except PosyncError as err:
        return str(err)
    return None


def check(store: Store, name: str, path: str, mapping: Mapping) -> None:
    """ConfigError (exit 2) when the register at path does not have what its mapping reads."""
    root = store.data_dir / "staging" / f"check-{name}"
    try:
        snapshot = staging.stage(name, path, root)
        staging.check(snapshot)
        with registers.opened(store.con, snapshot, mapping) as register:
            missing = _missing(register)
            if missing is None:
                return
            fits = [m for m in builtin_mappings() if m != mapping.name and _fits(register, m)]
    finally:
        staging.cleanup(root)
    hint = (f"; this looks like a {fits[0]} register: add --mapping {fits[0]}" if fits
            else "; give the mapping that describes this register with --mapping, or pass --no-check")
    raise ConfigError(f"{missing.removesuffix('.')}{hint}.")


def _fits(register: registers.Register, other: str) -> bool:
    trial = registers.Register(register.snapshot, load_mapping(other), register.reader)
    return _missing(trial) is None


def refuse_twice(store: Store, name: str, real: str) -> None:
    """Two registers on one database would import the same sales twice under two names: refused."""
    for other, path in store.con.execute("SELECT name, path FROM remotes WHERE name <> ?", [name]).fetchall():
        if path == real or registers.same_file(path, real):
            raise ConfigError(f"register {other} already reads {path}; two registers can't share one database "
                              f"(`posync remote edit {other}` if it moved, or `posync remote remove {other}`).")
