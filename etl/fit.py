"""Does a register fit its mapping? Checked at `remote add` and `remote edit`, not first at the nightly import.

The register is staged (copied and checked, never read live over the share) and every table and column
its mapping reads must be there. When they are not, the one sentence names what is missing and, when
another built-in mapping fits, says so (`this looks like a legacy_es register: add --mapping legacy_es`).
"""

from __future__ import annotations

from etl import extract, registers, staging
from etl.errors import ConfigError, PosyncError
from etl.i18n import Clause, Said, said_of
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
        return said_of(err)
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
    if fits:
        raise ConfigError(Said("%(missing)s; this looks like a %(mapping)s register: add --mapping %(mapping)s.",
                               missing=Clause(missing), mapping=fits[0]))
    raise ConfigError(Said("%(missing)s; give the mapping that describes this register with --mapping, or pass "
                           "--no-check.", missing=Clause(missing)))


def _fits(register: registers.Register, other: str) -> bool:
    trial = registers.Register(register.snapshot, load_mapping(other), register.reader)
    return _missing(trial) is None


def refuse_twice(store: Store, name: str, real: str) -> None:
    """Two registers on one database would import the same sales twice under two names: refused."""
    for other, path in store.con.execute("SELECT name, path FROM remotes WHERE name <> ?", [name]).fetchall():
        if path == real or registers.same_file(path, real):
            raise ConfigError(Said("register %(other)s already reads %(path)s; two registers can't share one "
                                   "database (`posync remote edit %(other)s` if it moved, or `posync remote remove "
                                   "%(other)s`).", other=other, path=path))
