"""The remote registry ("Administrar POS remotos"): add, list, edit, remove, open."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from etl import fit, ledger, paths, postgres, share
from etl.engines import ENGINES, is_postgres_uri, sniff
from etl.errors import ConfigError, PosyncError, TransientError
from etl.i18n import N_, Said, said_of
from etl.mapping import load_mapping
from etl.store import Store

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Remote:
    name: str
    path: str
    ip: str | None
    mapping: str
    engine: str


def check_name(name: str) -> str:
    """A register name: letters, digits, _ and -, 1 to 64 characters."""
    if not NAME_RE.fullmatch(name):
        raise ConfigError(Said("register name %(name)r is not allowed; use 1-64 letters, digits, '_' or '-' (e.g. "
                               "caja1).", name=name))
    return name


def resolve_path(path: str) -> tuple[str, str]:
    """Check a register path: (path to store, engine). A folder must hold exactly one database.

    The path is stored as given: an absolute one (/srv/…, C:\\…, \\\\SERVIDOR\\share\\…) exactly as typed, a
    relative one joined to the current folder; symlinks are not followed: a symlink is followed at each
    run, so repointing it takes effect (FAULTS 47). Every look at the share is bounded in time and
    anything but a regular file is refused: a FIFO or a dead share never hangs `remote add` (FAULTS 51).
    """
    if is_postgres_uri(path):
        postgres.refuse_password(path, "a register")  # user:pw@ or ?password=: it would be stored and logged
        return path, "postgres"
    candidate = paths.as_given(path)
    try:
        kind = share.regular_file(candidate)
        if kind == "is a folder":
            candidate = _only_database(candidate)
        elif kind == "does not exist":
            raise ConfigError(Said("path %(path)s %(kind)s; check it, or pass --no-check to register it anyway.",
                                   path=path, kind=kind))
        elif kind is not True:
            raise ConfigError(Said("path %(path)s %(kind)s; give the register's database file.", path=path,
                                   kind=kind))
        engine = share.bounded("path", N_("reading the file"), sniff, Path(candidate))
    except TransientError as err:
        why = err.why if isinstance(err, share.TimedOut) else str(err).split(": ", 1)[-1].split(";")[0]
        raise ConfigError(Said("path %(path)s: %(why)s; check the share, or pass --no-check to register it anyway.",
                               path=path, why=why)) from None
    except PosyncError as err:
        raise ConfigError(said_of(err)) from None
    return candidate, engine.name


def _only_database(folder: str) -> str:
    """The one SQLite or DuckDB file in a folder (bounded: the folder may be on a dead share)."""
    entries = share.bounded("path", N_("listing the folder"), lambda: sorted(os.listdir(folder)))
    found = [os.path.join(folder, e) for e in entries
             if share.regular_file(os.path.join(folder, e)) is True and _is_database(Path(folder, e))]
    if len(found) != 1:
        names = ", ".join(os.path.basename(p) for p in found) or "none"
        raise ConfigError(Said("folder %(folder)s must hold exactly one SQLite or DuckDB database (found: %(names)s); "
                               "give the file itself.", folder=str(folder), names=names))
    return found[0]


def _is_database(path: Path) -> bool:
    try:
        share.bounded("path", N_("reading the file"), sniff, path)
    except PosyncError:
        return False
    return True


def _guess_engine(path: str) -> str:
    if is_postgres_uri(path):
        return "postgres"
    return "duckdb" if path.endswith((".duckdb", ".ddb")) else "sqlite"


def get(store: Store, name: str) -> Remote:
    row = store.con.execute("SELECT name, path, ip, mapping, engine FROM remotes WHERE name = ?", [name]).fetchone()
    if row is None:
        known = [r[0] for r in store.con.execute("SELECT name FROM remotes ORDER BY name").fetchall()]
        if known:
            raise ConfigError(Said("no register named %(name)s. Registered: %(known)s.", name=name,
                                   known=", ".join(known)))
        raise ConfigError(Said("no register named %(name)s. None is registered yet: `posync remote add`.", name=name))
    return Remote(*row)


def all_remotes(store: Store, names: tuple[str, ...] = ()) -> list[Remote]:
    """The named registers (each must exist), or every register when names is empty."""
    if names:
        return [get(store, n) for n in dict.fromkeys(names)]
    rows = store.con.execute("SELECT name, path, ip, mapping, engine FROM remotes ORDER BY name").fetchall()
    return [Remote(*r) for r in rows]


def add(store: Store, name: str, path: str, ip: str | None, mapping: str, no_check: bool = False) -> Remote:
    """Register a remote after checking its name, path, engine and mapping."""
    check_name(name)
    described = load_mapping(mapping)
    if no_check and not is_postgres_uri(path):
        stored, engine = paths.as_given(path), _guess_engine(path)
    else:
        stored, engine = resolve_path(path)
        if engine == "postgres" and not no_check:
            _check_postgres(stored)
    if store.con.execute("SELECT 1 FROM remotes WHERE name = ?", [name]).fetchone():
        raise ConfigError(Said("a register named %(name)s already exists; use `posync remote edit %(name)s`.",
                               name=name))
    fit.refuse_twice(store, name, stored)
    if not no_check:
        fit.check(store, name, stored, described)
    with store.transaction() as con:
        con.execute(
            "INSERT INTO remotes VALUES (?, ?, ?, ?, ?, now()::TIMESTAMP, now()::TIMESTAMP)",
            [name, stored, ip, mapping, engine],
        )
        ledger.log(con, "remote add", "ok", f"{engine} at {stored}, mapping {mapping}", register=name)
    return Remote(name, stored, ip, mapping, engine)


def edit(store: Store, name: str, path: str | None, ip: str | None, mapping: str | None,
         no_check: bool = False) -> Remote:
    current = get(store, name)
    described = load_mapping(mapping or current.mapping)
    stored, engine = current.path, current.engine
    if path and is_postgres_uri(path):  # a URI is stored as given (never resolved as a file path)
        stored, engine = resolve_path(path)
        if not no_check:
            _check_postgres(stored)
    elif path:
        stored, engine = ((paths.as_given(path), _guess_engine(path)) if no_check
                          else resolve_path(path))
    updated = Remote(name, stored, ip if ip is not None else current.ip, mapping or current.mapping, engine)
    if path:
        fit.refuse_twice(store, name, stored)
    if (path or mapping) and not no_check:
        fit.check(store, name, stored, described)
    with store.transaction() as con:
        con.execute(
            "UPDATE remotes SET path = ?, ip = ?, mapping = ?, engine = ?, updated_at = now()::TIMESTAMP "
            "WHERE name = ?",
            [updated.path, updated.ip, updated.mapping, updated.engine, name],
        )
        ledger.log(con, "remote edit", "ok", f"{engine} at {stored}, mapping {updated.mapping}", register=name)
    return updated


def remove(store: Store, name: str) -> None:
    """Forget a register. Its imported data and the codes it owns stay in main."""
    get(store, name)
    with store.transaction() as con:
        con.execute("DELETE FROM remotes WHERE name = ?", [name])
        ledger.log(con, "remote remove", "ok", "imported data and code ownership kept", register=name)


# Every main column that names a register: a rename moves them all, in one transaction.
REGISTER_COLUMNS = (
    ("remotes", "name"), ("vouchers", "register"), ("voucher_lines", "register"), ("payments", "register"),
    ("voucher_types", "register"), ("loyalty_movements", "register"), ("commercial_rules", "source_register"),
    ("voucher_code_owners", "register"), ("sync_log", "register"), ("import_batches", "register"),
    ("pushes", "register"), ("push_state", "register"), ("source_changes", "register"), ("held_codes", "register"),
    ("held_codes", "owner"), ("batch_saved_vouchers", "register"), ("batch_saved_voucher_lines", "register"),
    ("batch_saved_payments", "register"), ("batch_saved_source_changes", "register"),
)
_HISTORY = ("sync_log", "vouchers", "loyalty_movements", "voucher_code_owners", "import_batches", "push_state")


def rename(store: Store, old: str, new: str) -> list[str]:
    """Rename a register keeping its identity: data, codes, push state, log and ownership move with it.

    One main transaction; then the manifests of its catalog backups are rewritten (best effort: a
    manifest that can't be rewritten is returned, and restores by the old name still work by its id).
    """
    check_name(new)
    get(store, old)
    with store.transaction() as con:
        if con.execute("SELECT 1 FROM remotes WHERE name = ?", [new]).fetchone():
            raise ConfigError(Said("a register named %(name)s already exists; choose another name.", name=new))
        for table in _HISTORY:
            if con.execute(f"SELECT 1 FROM {table} WHERE register = ? LIMIT 1", [new]).fetchone():
                raise ConfigError(Said("%(name)s was a register before: main still holds its %(what)s under that "
                                       "name; choose another name (nothing was changed).", name=new,
                                       what=table.replace('_', ' ')))
        for table, column in REGISTER_COLUMNS:
            con.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", [new, old])
        ledger.log(con, "remote rename", "ok", f"renamed {old} to {new}: its data, codes, push state and log "
                   "moved with it", register=new)
    return _rename_backups(store, old, new)


def _rename_backups(store: Store, old: str, new: str) -> list[str]:
    from etl.catalogs.backup import rename_register  # etl.catalogs imports this module: import when used

    return rename_register(store.data_dir, old, new)


def _check_postgres(uri: str) -> None:
    """Connect once (bounded timeout) so a typo is caught at `remote add`, like a missing file is."""
    try:
        postgres.connect(uri, "register").close()
    except PosyncError as err:
        raise ConfigError(Said("%(why)s Pass --no-check to register it anyway.", why=said_of(err))) from None


def reachable(remote: Remote) -> bool:
    """Whether the register can be seen right now: its file exists, or its PostgreSQL server answers."""
    if remote.engine == "postgres":
        return postgres.probe(remote.path)
    try:
        return share.regular_file(remote.path, remote.name) is True
    except TransientError:
        return False


def listing(store: Store) -> list[dict[str, Any]]:
    """Every remote with reachability, its last sales and the voucher codes it owns.

    "Last import" means the last import that brought vouchers, and "last sales" the newest date main
    holds of that register: an import of an empty day moves neither, so a register that stopped
    sending sales never looks current.
    """
    rows = store.con.execute(
        """
        SELECT r.name, r.path, r.ip, r.mapping, r.engine,
               (SELECT max(b.imported_at) FROM import_batches b WHERE b.register = r.name
                  AND b.status IN ('ok', 'partial') AND b.inserted + b.updated + b.skipped > 0) AS last_import,
               (SELECT s.last_sales FROM register_sales s WHERE s.register = r.name) AS last_sales,
               (SELECT list(o.voucher_code ORDER BY o.voucher_code) FROM voucher_code_owners o
                  WHERE o.register = r.name) AS codes
        FROM remotes r ORDER BY r.name
        """
    ).fetchall()
    out = []
    for name, path, ip, mapping, engine, last, sales, codes in rows:
        remote = Remote(name, path, ip, mapping, engine)
        out.append({
            "name": name, "path": path, "ip": ip, "mapping": mapping, "engine": engine,
            "reachable": reachable(remote),
            "last_import": last.isoformat(sep=" ", timespec="seconds") if last else None,
            "last_sales": sales.isoformat() if sales else None,
            "codes": list(codes or []),
        })
    return out


def folder_of(remote: Remote) -> PurePath:
    """The register's folder, in its path's own flavour (a UNC path keeps its share: \\\\SERVIDOR\\cajas)."""
    if remote.engine == "postgres":
        raise ConfigError(Said("register %(name)s is a PostgreSQL database; it has no folder to open.",
                               name=remote.name))
    return paths.parent_folder(remote.path)


def file_manager(platform: str = sys.platform, environ: Mapping[str, str] = os.environ) -> str | None:
    """How this machine opens a folder: 'startfile' (Windows), 'open' (macOS), 'xdg-open' on a desktop.

    None where there is no desktop (a server over SSH, cron): the folder is printed instead.

    >>> file_manager("win32", {}), file_manager("darwin", {}), file_manager("linux", {"DISPLAY": ""})
    ('startfile', 'open', None)
    """
    if platform == "win32":
        return "startfile"
    if platform == "darwin":
        return "open"
    has_desktop = bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))
    return "xdg-open" if has_desktop and shutil.which("xdg-open") else None


def open_folder(remote: Remote) -> tuple[PurePath, bool]:
    """Open the register's folder in the desktop's file manager; (folder, opened?).

    The folder goes to the opener as one argv item, never through a shell; a file manager that fails
    (a share that is down) leaves the folder printed instead.
    """
    folder = folder_of(remote)
    how = file_manager()
    try:
        if how is None:
            return folder, False
        if sys.platform == "win32":
            os.startfile(str(folder))  # Explorer, for a drive or a UNC folder alike
        else:
            subprocess.Popen([how, str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    except OSError:
        return folder, False
    return folder, True


ENGINE_NAMES = tuple(ENGINES)
