"""`posync demo`: sample registers, a fresh main store, and a tour of every command on them."""

from __future__ import annotations

import contextlib
import datetime as dt
import shlex
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import duckdb

from etl.engines import ENGINES, attach, load_extension
from etl.errors import ConfigError
from etl.i18n import _
from etl.paths import sql_string
from sample_data import SampleSpec, generate

DEMO_START = dt.date(2026, 11, 25)


def build_registers(folder: Path) -> dict[str, tuple[Path, str]]:
    """Three canonical SQLite cajas (caja2 also issues FV1: the conflict) and one legacy_es caja."""
    folder.mkdir(parents=True, exist_ok=True)
    canonical = generate(folder, SampleSpec(registers=3, start=DEMO_START, days=2, vouchers_per_day=25,
                                            products=60, customers=20, faults=frozenset({"code_conflict"})))
    legacy = generate(folder, SampleSpec(registers=1, start=DEMO_START, days=2, vouchers_per_day=25, products=60,
                                         customers=20, flavour="legacy_es", names=("caja4",)))
    return {p.stem: (p, "canonical") for p in canonical} | {p.stem: (p, "legacy_es") for p in legacy}


def build_catalogs(folder: Path, register: Path) -> None:
    """Main's catalogs as the ERP would export them: caja1's, with two new prices, one product
    added and one dropped; a one-row products file for the refused replace; and two products files
    as Excel in Spanish saves them (productos.csv reads, mezcla.csv mixes decimal marks)."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        load_extension(con, "sqlite_scanner")
        attach(con, str(register), "reg", ENGINES["sqlite"])
        for table in ("taxes", "payment_methods", "customers"):
            con.execute(f"COPY (SELECT * FROM reg.{table}) TO {sql_string(str(folder / f'{table}.csv'))} (HEADER)")
        con.execute(
            f"""COPY (
                  SELECT * REPLACE (CASE product_id WHEN 'P00001' THEN 42000 WHEN 'P00002' THEN 79900
                                    ELSE price END AS price)
                  FROM reg.products WHERE product_id <> (SELECT max(product_id) FROM reg.products)
                  UNION ALL
                  SELECT 'P09999', 'Arepa de choclo', '7700000099996', 'Panadería', 'UND', 3500, 'IVA5', 1,
                         '2026-11-27 08:00:00'
                  ORDER BY product_id)
                TO {sql_string(str(folder / 'products.csv'))} (HEADER)"""
        )
        con.execute(f"COPY (SELECT * FROM reg.products LIMIT 1) TO {sql_string(str(folder / 'tiny.csv'))} (HEADER)")
    finally:
        con.close()
    for name, text in EXCEL_EXPORTS.items():
        (folder / name).write_bytes(text.encode("cp1252"))


# Products as Excel in Spanish saves them ("CSV (delimitado por comas)": cp1252, ';', decimal commas), and
# the same file after someone typed one price with a point: what `catalogs load` must read, or refuse.
_EXCEL_HEADER = "product_id;name;barcode;category;unit;price;tax_id;active\r\n"
EXCEL_EXPORTS = {
    "productos.csv": _EXCEL_HEADER + "P00001;Café de Nariño;7700000000019;Bebidas;UND;4200,50;IVA5;1\r\n"
                     "P00002;Té verde;7700000000026;Bebidas;UND;7990;IVA19;1\r\n"
                     "P00003;Jugo de piña;7700000000033;Bebidas;LT;8633,25;IVA19;1\r\n",
    "mezcla.csv": _EXCEL_HEADER + "P00001;Café de Nariño;7700000000019;Bebidas;UND;4200,50;IVA5;1\r\n"
                  "P00002;Té verde;7700000000026;Bebidas;UND;12.5;IVA19;1\r\n",
}


def catalog_steps(db: str, folder: Path) -> list[tuple[str, list[str]]]:
    """The catalog part of the tour (Actualizar catálogos)."""
    cats = folder / "catalogs"
    steps = [(_("main's %(table)s from the ERP's export", table=t),
              ["--db", db, "catalogs", "load", t, str(cats / f"{t}.csv")])
             for t in ("taxes", "payment_methods", "customers", "products")]
    return steps + [
        (_("the SQL a partial push would run on caja1, in SQLite's dialect"),
         ["--db", db, "catalogs", "diff", "--remote", "caja1", "--table", "products"]),
        (_("the same change in the legacy register's own names (productos, codigo, precio)"),
         ["--db", db, "catalogs", "diff", "--remote", "caja4", "--table", "products"]),
        (_("one reviewable SQL file per register, nothing changed"),
         ["--db", db, "catalogs", "push", "--mode", "partial", "--dry-run", "--sql-dir", str(folder / "sql")]),
        (_("push for real: backed up first, one transaction per register"),
         ["--db", db, "catalogs", "push", "--mode", "partial"]),
        (_("again: nothing to change, main remembers what it pushed"),
         ["--db", db, "catalogs", "push", "--mode", "partial"]),
        (_("a one-row products file by mistake…"),
         ["--db", db, "catalogs", "load", "products", str(cats / "tiny.csv")]),
        (_("…so a replace push is refused with the count (exit 2)"),
         ["--db", db, "catalogs", "push", "--mode", "replace", "--remote", "caja1"]),
        (_("back to the real catalog"), ["--db", db, "catalogs", "load", "products", str(cats / "products.csv")]),
        (_("every push and its status"), ["--db", db, "catalogs", "history"]),
    ]


def sync_steps(db: str, day: str) -> list[tuple[str, list[str]]]:
    """Loyalty, rules, the full cycle, watch and status."""
    return [
        (_("loyalty: import the points; caja2's points on its held-back FV1 vouchers wait with them"),
         ["--db", db, "loyalty", "sync"]),
        (_("a rerun never counts points twice"), ["--db", db, "loyalty", "sync"]),
        (_("points of one customer (examinar puntos), summed over every register"),
         ["--db", db, "loyalty", "balances", "--customer", "C0003"]),
        (_("commercial rules: every register sends the same five; newer updated_at wins"),
         ["--db", db, "rules", "sync"]),
        (_("the rules in main, and where each came from"), ["--db", db, "rules", "list"]),
        (_("one full cycle for %(day)s: vouchers, loyalty, rules, then the catalog push", day=day),
         ["--db", db, "sync", "--date", day]),
        (_("automatic sync: two cycles 3 seconds apart, then stop (Ctrl-C would finish the cycle, exit 0)"),
         ["--db", db, "watch", "--every", "0.05", "--date", day, "--max-runs", "2"]),
        (_("health for monitoring: caja2's rejected day is still unresolved (exit 1)"), ["--db", db, "status"]),
        (_("one log row per cycle"), ["--db", db, "log", "--action", "sync", "--limit", "5"]),
    ]


class Later:
    """posync arguments known only when the step runs (a batch id the tour itself just made)."""

    def __init__(self, args: Callable[[], list[str]]) -> None:
        self.args = args


# what to notice; posync's arguments (now or later), or a change at a register
Step = tuple[str, list[str] | Later | Callable[[], str]]


def last_batch(db: str, register: str, mode: str) -> str:
    """The id of the register's newest batch of that mode (the demo's main store is a DuckDB file)."""
    with contextlib.closing(duckdb.connect(db, read_only=True)) as con:
        row = con.execute("SELECT batch_id FROM import_batches WHERE register = ? AND mode = ? "
                          "ORDER BY imported_at DESC LIMIT 1", [register, mode]).fetchone()
    assert row is not None, f"the tour made no {mode} batch for {register}"
    return str(row[0])


def operating_steps(db: str, day1: str, day2: str) -> list[Step]:
    """Undo an import, then a register replaced by a new machine (rename, codes)."""
    undo = ["--db", db, "import", "undo"]
    return [
        (_("every import batch of %(day)s; each can be undone for 30 days", day=day1),
         ["--db", db, "batches", "list", "--date", day1]),
        (_("undo the overwrite, dry run first: what would change"),
         Later(lambda: [*undo, last_batch(db, "caja3", "overwrite"), "--dry-run"])),
        (_("undo it: caja3's voided sale is back to main's previous version, and the import can be run again"),
         Later(lambda: [*undo, last_batch(db, "caja3", "overwrite")])),
        (_("caja3 is replaced by a new machine: a rename keeps its data, codes, push state and log"),
         ["--db", db, "remote", "rename", "caja3", "caja3-nueva"]),
        (_("the codes after the rename: FV3 moved with it, nothing is held back for it"),
         ["--db", db, "codes", "list"]),
        (_("the renamed register imports %(day)s without any hold", day=day2),
         ["--db", db, "import", "--date", day2, "--remote", "caja3-nueva", "--reread"]),
    ]


def at_register(path: Path, statement: str, said: str) -> Callable[[], str]:
    """A change made at a register by its POS (not by posync), for the tour to show what posync then says."""
    def change() -> str:
        with contextlib.closing(sqlite3.connect(path)) as con:
            con.execute(statement)
            con.commit()
        return said

    return change


def script(folder: Path, registers: dict[str, tuple[Path, str]]) -> list[Step]:
    """The tour: (what to notice, posync arguments or a change at a register)."""
    db = str(folder / "posync.duckdb")
    day1, day2 = DEMO_START.isoformat(), (DEMO_START + dt.timedelta(days=1)).isoformat()
    steps: list[Step] = []
    for name, (path, mapping) in registers.items():
        steps.append((_("register %(name)s", name=name),
                      ["--db", db, "remote", "add", name, str(path), "--mapping", mapping]))
    report = str(folder / f"validation-{day1}.html")
    steps += [
        (_("the registers posync knows"), ["--db", db, "remote", "list"]),
        (_("validate %(day)s: caja2 also issued FV1, so caja1 and caja2 are held back", day=day1),
         ["--db", db, "validate", "--date", day1]),
        (_("the same report as one HTML file a manager can open"),
         ["--db", db, "validate", "--date", day1, "--format", "html", "--output", report]),
        (_("import %(day)s: caja3 and caja4 land, caja1 and caja2 wait (exit 3)", day=day1),
         ["--db", db, "import", "--date", day1]),
        (_("import caja1 alone: with caja2 out of the batch it is clean, and now owns FV1"),
         ["--db", db, "import", "--date", day1, "--remote", "caja1"]),
        (_("caja2 again: FV1 belongs to caja1, so caja2 stays held back until it is fixed"),
         ["--db", db, "import", "--date", day1, "--remote", "caja2"]),
        (_("only the clashing code waits: with --hold code caja2's FV2 sales land, its FV1 sales stay held back"),
         ["--db", db, "import", "--date", day1, "--remote", "caja2", "--hold", "code"]),
        (_("rerun: nothing changes (already imported, identical)"), ["--db", db, "import", "--date", day1]),
        (_("catching up %(first)s to %(last)s in one run: one snapshot of each register serves both dates",
           first=day1, last=day2),
         ["--db", db, "import", "--from", day1, "--to", day2, "--hold", "code"]),
        (_("who owns which voucher code now, and what is held back"), ["--db", db, "codes", "list"]),
        (_("the registers with their codes"), ["--db", db, "remote", "list"]),
        (_("a sale voided at caja3 after its import…"),
         at_register(registers["caja3"][0], "UPDATE vouchers SET status = 'void' WHERE voucher_code = 'FV3' "
                     "AND number = (SELECT min(number) FROM vouchers WHERE voucher_code = 'FV3' AND date = "
                     f"'{day1}' AND status = 'issued')", _("the cashier voids caja3's first FV3 sale of the day"))),
        (_("…is named by the next import, which keeps main's version until told"),
         ["--db", db, "import", "--date", day1, "--remote", "caja3"]),
        (_("apply it: --overwrite updates the voucher in main"), ["--db", db, "import", "--date", day1, "--remote",
                                                               "caja3", "--overwrite"]),
        *operating_steps(db, day1, day2),
        *catalog_steps(db, folder),
        *sync_steps(db, day2),
        (_("what happened, newest first"), ["--db", db, "log", "--limit", "12"]),
    ]
    return steps


MARKER = ".posync-demo"  # a folder the demo made itself, and may wipe to start again


def prepare(folder: Path) -> None:
    """An empty folder for the demo: a new one, an empty one, or one the demo made before (wiped).

    Anything else is refused with nothing touched: `demo --dir .` must never delete a user's files.
    """
    if folder.is_file():
        raise ConfigError(_("%(folder)s is a file; give the demo a folder of its own (e.g. --dir demo).",
                            folder=folder))
    if folder.is_dir() and any(folder.iterdir()):
        if not (folder / MARKER).is_file():
            raise ConfigError(_("%(folder)s is not empty and was not made by `posync demo`; nothing was touched. "
                                "Give the demo a new or empty folder, e.g. --dir demo.", folder=folder))
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by posync demo: `posync demo` may wipe this folder to start again\n")


def run(folder: Path, invoke: Callable[[list[str]], int], echo: Callable[[str], None]) -> None:
    """Build the demo under folder and run the tour through `invoke` (the CLI itself)."""
    prepare(folder)
    echo(_("posync demo in %(folder)s", folder=folder) + "\n")
    registers = build_registers(folder / "registers")
    build_catalogs(folder / "catalogs", registers["caja1"][0])
    echo(_("sample registers: ") + ", ".join(f"{n} ({p.name}, {m})" for n, (p, m) in registers.items()) + "\n")
    for note, step in script(folder, registers):
        echo(f"# {note}")
        if isinstance(step, Later):
            step = step.args()
        elif callable(step):
            echo(_("(at the register: %(change)s)", change=step()) + "\n")
            continue
        echo("$ posync " + " ".join(shlex.quote(a) for a in step))
        code = invoke(step)
        echo(_("(exit %(code)s)", code=str(code)) + "\n" if code else "")
    echo(_("Look next at:"))
    echo("  - " + _("the validation report: %(path)s", path=f"{folder}/validation-{DEMO_START}.html"))
    echo("  - " + _("the main store: %(command)s", command=f"posync --db {folder}/posync.duckdb log"))
    echo("  - " + _("the registers: %(path)s", path=f"{folder}/registers/"))
    echo("  - " + _("the same in a browser (Ctrl-C stops it): %(command)s",
                    command=f"posync --db {folder}/posync.duckdb console --open"))
