"""The canonical register schema (SPEC "Canonical register schema") as data.

Every other module reads table names, column types and keys from here, so the
spec lives in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """One canonical table: ordered (column, DuckDB type) pairs and its key."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    required: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def type_of(self, column: str) -> str:
        """DuckDB type of a column.

        >>> TABLES["vouchers"].type_of("total")
        'DECIMAL(18,4)'
        """
        return dict(self.columns)[column]


def _table(name: str, cols: str, key: tuple[str, ...], required: tuple[str, ...] = ()) -> Table:
    pairs = tuple((column, type_) for column, type_ in (part.strip().split(" ", 1) for part in cols.split(";")))
    return Table(name, pairs, key, required or key)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        _table("voucher_types", "code VARCHAR; name VARCHAR; kind VARCHAR", ("code",), ("code", "kind")),
        _table(
            "vouchers",
            "voucher_code VARCHAR; number BIGINT; date DATE; issued_at TIMESTAMP; customer_id VARCHAR;"
            " subtotal DECIMAL(18,4); tax DECIMAL(18,4); total DECIMAL(18,4); status VARCHAR;"
            " updated_at TIMESTAMP",
            ("voucher_code", "number"),
            ("voucher_code", "number", "date", "total", "status"),
        ),
        _table(
            "voucher_lines",
            "voucher_code VARCHAR; number BIGINT; line_no INTEGER; product_id VARCHAR;"
            " quantity DECIMAL(18,3); unit_price DECIMAL(18,4); discount DECIMAL(18,4);"
            " tax DECIMAL(18,4); total DECIMAL(18,4)",
            ("voucher_code", "number", "line_no"),
            ("voucher_code", "number", "line_no", "quantity", "total"),
        ),
        _table(
            "payments",
            "voucher_code VARCHAR; number BIGINT; seq INTEGER; method_id VARCHAR; amount DECIMAL(18,4)",
            ("voucher_code", "number", "seq"),
            ("voucher_code", "number", "seq", "amount"),
        ),
        _table(
            "products",
            "product_id VARCHAR; name VARCHAR; barcode VARCHAR; category VARCHAR; unit VARCHAR;"
            " price DECIMAL(18,4); tax_id VARCHAR; active BOOLEAN; updated_at TIMESTAMP",
            ("product_id",),
        ),
        _table(
            "customers",
            "customer_id VARCHAR; name VARCHAR; doc_type VARCHAR; doc_number VARCHAR; email VARCHAR;"
            " phone VARCHAR; updated_at TIMESTAMP",
            ("customer_id",),
        ),
        _table("taxes", "tax_id VARCHAR; name VARCHAR; rate DECIMAL(6,4)", ("tax_id",)),
        _table("payment_methods", "method_id VARCHAR; name VARCHAR", ("method_id",)),
        _table(
            "loyalty_movements",
            "movement_id VARCHAR; customer_id VARCHAR; date DATE; points INTEGER; voucher_code VARCHAR;"
            " number BIGINT",
            ("movement_id",),
            ("movement_id", "customer_id", "points"),
        ),
        _table(
            "commercial_rules",
            "rule_id VARCHAR; name VARCHAR; kind VARCHAR; params VARCHAR; valid_from DATE; valid_to DATE;"
            " active BOOLEAN; updated_at TIMESTAMP",
            ("rule_id",),
            ("rule_id", "updated_at"),
        ),
    )
}

VOUCHER_TABLES = ("vouchers", "voucher_lines", "payments")
# Voucher codes: compared trimmed and case-insensitively, stored trimmed and in upper case (FAULTS 48).
CODE_COLUMNS = frozenset({("voucher_types", "code"), ("vouchers", "voucher_code"), ("voucher_lines", "voucher_code"),
                          ("payments", "voucher_code"), ("loyalty_movements", "voucher_code")})
# Dependency order for a push: parents first; deletes run in reverse.
CATALOG_TABLES = ("taxes", "payment_methods", "customers", "products")
VOUCHER_KINDS = ("invoice", "credit_note", "other")
