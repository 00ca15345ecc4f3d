"""Regenerate the parts of the docs that are made from posync's own code and data.

A page holds `<!-- gen:NAME -->` … `<!-- /gen -->`; what is between them is GENERATORS[NAME]() and nothing
else. `python -m docs.gen` (= `make docs-cli`) rewrites them; `python -m docs.gen --check` exits 1 when a
page is stale, which tests/docs/test_docs.py also checks.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
BLOCK = re.compile(r"(<!-- gen:([\w-]+) -->\n)(.*?)(<!-- /gen -->)", re.S)
FAULT_ROW = re.compile(r"^\| (\d+) \|(.*)\|[^|]*\|$")

# What each canonical column means, in the register's terms (etl/schema.py has the names and types).
MEANINGS: dict[str, str] = {
    "voucher_types.code": "the voucher code (prefix) a register issues, e.g. FV1",
    "voucher_types.name": "its name as the POS shows it",
    "voucher_types.kind": "`invoice`, `credit_note` or `other`: credit notes may carry negative amounts",
    "vouchers.voucher_code": "the voucher code; compared trimmed and case-insensitively, stored trimmed in upper case",
    "vouchers.number": "the consecutive number within the code",
    "vouchers.date": "the business date the voucher belongs to (the date an import reads)",
    "vouchers.issued_at": "when it was issued",
    "vouchers.customer_id": "the customer, if any (loyalty points go to them)",
    "vouchers.subtotal": "amount before tax",
    "vouchers.tax": "tax amount",
    "vouchers.total": "amount with tax; compared with the sum of lines and of payments (0.01 tolerance)",
    "vouchers.status": "`issued` or `void`",
    "vouchers.updated_at": "last change at the register",
    "voucher_lines.voucher_code": "the voucher's code",
    "voucher_lines.number": "the voucher's number",
    "voucher_lines.line_no": "line number within the voucher",
    "voucher_lines.product_id": "the product sold",
    "voucher_lines.quantity": "quantity, 3 decimals",
    "voucher_lines.unit_price": "price of one unit, 4 decimals",
    "voucher_lines.discount": "discount on the line",
    "voucher_lines.tax": "tax on the line",
    "voucher_lines.total": "line amount with tax",
    "payments.voucher_code": "the voucher's code",
    "payments.number": "the voucher's number",
    "payments.seq": "payment number within the voucher",
    "payments.method_id": "the payment method (a `payment_methods.method_id`)",
    "payments.amount": "amount paid",
    "products.product_id": "the product's code",
    "products.name": "its name",
    "products.barcode": "its barcode",
    "products.category": "its category",
    "products.unit": "unit of sale (UND, KG, …)",
    "products.price": "sale price, 4 decimals",
    "products.tax_id": "its tax (a `taxes.tax_id`)",
    "products.active": "whether it is sold",
    "products.updated_at": "last change",
    "customers.customer_id": "the customer's code",
    "customers.name": "name",
    "customers.doc_type": "identity document type (CC, NIT, …)",
    "customers.doc_number": "document number",
    "customers.email": "e-mail",
    "customers.phone": "phone",
    "customers.updated_at": "last change",
    "taxes.tax_id": "the tax's code",
    "taxes.name": "its name",
    "taxes.rate": "rate as a fraction (0.19 is 19%)",
    "payment_methods.method_id": "the method's code",
    "payment_methods.name": "its name",
    "loyalty_movements.movement_id": "the movement's id, unique at its register",
    "loyalty_movements.customer_id": "the customer who earns or spends the points",
    "loyalty_movements.date": "the date of the movement",
    "loyalty_movements.points": "points earned (positive) or taken back (negative)",
    "loyalty_movements.voucher_code": "the voucher that earned them, if any: the movement waits until main has it",
    "loyalty_movements.number": "that voucher's number",
    "commercial_rules.rule_id": "the rule's id",
    "commercial_rules.name": "its name",
    "commercial_rules.kind": "what kind of rule (`discount`, `promo`, …)",
    "commercial_rules.params": "its parameters, as JSON text (invalid JSON is rejected)",
    "commercial_rules.valid_from": "first day it applies",
    "commercial_rules.valid_to": "last day it applies",
    "commercial_rules.active": "whether it is on",
    "commercial_rules.updated_at": "last change: the newer one wins across registers",
}


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def schema() -> str:
    """The canonical register schema, one table of columns per canonical table."""
    from etl.schema import TABLES

    canonical = json.loads((REPO / "etl" / "mappings" / "canonical.json").read_text(encoding="utf-8"))["tables"]
    out: list[str] = []
    for table in TABLES.values():
        read = canonical.get(table.name)
        source = f"`canonical.json` reads it from table `{read['source']}`" if read else "not read by `canonical.json`"
        out += [f"### `{table.name}`", "", f"Key: {', '.join(f'`{k}`' for k in table.key)}; {source}.", "",
                _row("column", "type", "required", "meaning"), _row("---", "---", "---", "---")]
        out += [_row(f"`{c}`", t, "yes" if c in table.required else "", MEANINGS[f"{table.name}.{c}"])
                for c, t in table.columns]
        out.append("")
    return "\n".join(out)


def _mapping_cell(value: object) -> str:
    if value is None:
        return "*(none)*"
    text = value if isinstance(value, str) else str(value["expr"])  # type: ignore[index]
    return f"`{text}`"


def legacy() -> str:
    """How legacy_es.json reads each canonical table: source table, then each column's source."""
    mapping = json.loads((REPO / "etl" / "mappings" / "legacy_es.json").read_text(encoding="utf-8"))
    out: list[str] = []
    for name, table in mapping["tables"].items():
        out += [f"**`{name}`** ← `{table['source']}`", "", _row("canonical column", "legacy_es column or expression"),
                _row("---", "---")]
        out += [_row(f"`{c}`", _mapping_cell(v).replace("|", "\\|")) for c, v in table["columns"].items()]
        out.append("")
    return "\n".join(out)


def catalogs() -> str:
    """The columns of each catalog file, with the Parquet type that holds each exactly."""
    import duckdb

    from etl.schema import CATALOG_TABLES, TABLES

    con = duckdb.connect()
    out: list[str] = []
    for name in CATALOG_TABLES:
        table = TABLES[name]
        arrow = con.execute("SELECT " + ", ".join(f"NULL::{t} AS c{i}" for i, (_, t) in enumerate(table.columns)))
        types = [str(f.type) for f in arrow.to_arrow_table().schema]
        out += [f"### `{name}`", "", f"CSV header: `{','.join(table.column_names)}`; key `{table.key[0]}`.", "",
                _row("column", "type", "Parquet type", "meaning"), _row("---", "---", "---", "---")]
        out += [_row(f"`{c}`", t, f"`{p}`", MEANINGS[f"{name}.{c}"]) for (c, t), p in zip(table.columns, types,
                                                                                           strict=True)]
        out.append("")
    con.close()
    return "\n".join(out)


def status_schema() -> str:
    """etl/status.schema.json as it ships."""
    return "```json\n" + (REPO / "etl" / "status.schema.json").read_text(encoding="utf-8").strip() + "\n```\n"


def commands(group: click.Group | None = None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """Every posync command (a group that runs by itself too) as ('remote add', command), sorted."""
    from etl.cli import cli

    group = group or cli
    for name in sorted(group.commands):
        command = group.commands[name]
        if not isinstance(command, click.Group) or command.invoke_without_command:
            yield " ".join((*path, name)), command
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def cli_reference() -> str:
    """`posync COMMAND --help` for every command, as click prints it."""
    from etl.cli import cli

    def help_of(command: click.Command, name: str, parent: click.Context | None) -> str:
        ctx = click.Context(command, info_name=name, parent=parent, terminal_width=100, max_content_width=100)
        return command.get_help(ctx)

    root = click.Context(cli, info_name="posync", terminal_width=100, max_content_width=100, **cli.context_settings)
    out = ["## posync", "", "```text", cli.get_help(root), "```", ""]
    for name, command in commands():
        parent = root
        for part in name.split()[:-1]:
            parent = click.Context(cli, info_name=part, parent=parent)
        out += [f"## posync {name}", "", "```text", help_of(command, name.split()[-1], parent), "```", ""]
    return "\n".join(out)


def fault_tests() -> dict[int, list[str]]:
    """FAULTS row number → the tests in tests/faults that carry its mark, as 'file.py::test_name'.

    A mark (`@pytest.mark.fault(…)`, or `marks=pytest.mark.fault(…)` in a parameter list) belongs to the
    next test function of its file.
    """
    marker = re.compile(r"mark\.fault\(([\d, ]+)\)")
    found: dict[int, list[str]] = {}
    for source in sorted((REPO / "tests" / "faults").glob("test_*.py")):
        rows: list[int] = []
        for line in source.read_text(encoding="utf-8").splitlines():
            rows += [int(n) for m in marker.finditer(line) for n in m.group(1).split(",") if n.strip()]
            if (test := re.match(r"\s*(?:async )?def (test_\w+)", line)) and rows:
                for n in dict.fromkeys(rows):
                    found.setdefault(n, []).append(f"{source.name}::{test.group(1)}")
                rows = []
    return found


GENERATORS: dict[str, Callable[[], str]] = {
    "schema": schema, "legacy": legacy, "catalogs": catalogs, "status-schema": status_schema, "cli": cli_reference,
}


def proved_by(text: str) -> str:
    """The guarantees page with each row's last cell naming the tests in tests/faults that prove it."""
    tests = fault_tests()

    def link(test: str) -> str:
        source, name = test.split("::")
        return f"[{name.removeprefix('test_').replace('_', ' ')}](../tests/faults/{source}) ({source})"

    def cell(n: int) -> str:
        return "<br>".join(link(t) for t in tests.get(n, [])) or "**none**"

    lines = [f"| {m.group(1)} |{m.group(2)}| {cell(int(m.group(1)))} |" if (m := FAULT_ROW.match(line)) else line
             for line in text.splitlines()]
    return "\n".join(lines) + "\n"


def render(text: str, page: str = "") -> str:
    """The page with every generated block made anew."""
    text = BLOCK.sub(lambda m: m.group(1) + GENERATORS[m.group(2)]().rstrip("\n") + "\n" + m.group(4), text)
    return proved_by(text) if page == "guarantees.md" else text


def stale() -> list[Path]:
    """Pages whose generated parts differ from what the code and data give now."""
    return [p for p in sorted(DOCS.rglob("*.md")) if render(t := p.read_text(encoding="utf-8"), p.name) != t]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        old = stale()
        for page in old:
            print(f"{page.relative_to(REPO)} is stale: run `python -m docs.gen`")
        return 1 if old else 0
    for page in stale():
        page.write_text(render(page.read_text(encoding="utf-8"), page.name), encoding="utf-8")
        print(f"rewrote {page.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
