"""Register layouts: how each canonical table is stored in a flavour, as data.

The generator builds canonical rows once (in DuckDB temp tables named like the
canonical tables); a layout only says which table and column each canonical
column lands in and how it is formatted there. That is what guarantees that
both flavours carry the same logical data.
"""

from __future__ import annotations

from dataclasses import dataclass

from etl.schema import TABLES


@dataclass(frozen=True)
class Column:
    """One register column, rendered from one canonical column."""

    name: str  # column name in the register
    type: str  # DuckDB type; each engine translates it for its DDL
    source: str  # the canonical column it carries
    fmt: str = "{}"  # DuckDB expression template; {} is the quoted source column

    @property
    def expr(self) -> str:
        """The DuckDB expression that renders this column from the canonical row.

        >>> Column("fecha", "VARCHAR", "date", "strftime({}, '%Y%m%d')").expr
        'strftime("date", \\'%Y%m%d\\')'
        """
        return self.fmt.format(quote_ident(self.source))


@dataclass(frozen=True)
class Target:
    """One register table: its name, columns and primary key (register names)."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    def column_for(self, source: str) -> str:
        """Name of the register column that carries a canonical column."""
        return next(c.name for c in self.columns if c.source == source)


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB and SQLite alike.

    >>> quote_ident('a"b')
    '"a""b"'
    """
    return '"' + name.replace('"', '""') + '"'


def _canonical() -> dict[str, Target]:
    """The canonical flavour: every table and column exactly as etl/schema.py says."""
    return {
        name: Target(name, tuple(Column(col, typ, col) for col, typ in table.columns), table.key)
        for name, table in TABLES.items()
    }


_YMD = "strftime({}, '%Y%m%d')"
_TS = "strftime({}, '%Y-%m-%d %H:%M:%S')"
_FLAG = "CAST({} AS INTEGER)"
_TXT, _INT, _MONEY = "VARCHAR", "BIGINT", "DECIMAL(18,2)"


def _legacy(name: str, key: tuple[str, ...], *cols: tuple[str, ...]) -> Target:
    """Build a legacy table from (name, type, source[, fmt]) tuples."""
    return Target(name, tuple(Column(*c) for c in cols), key)


# Column names follow etl/mappings/legacy_es.json; the fmt templates are the
# inverses of its expressions (tests read these tables back through them).
LEGACY_ES: dict[str, Target] = {
    "voucher_types": _legacy(
        "tipos_comprobante",
        ("codigo",),
        ("codigo", _TXT, "code"),
        ("descripcion", _TXT, "name"),
        (
            "clase",
            _TXT,
            "kind",
            "CASE {} WHEN 'invoice' THEN 'FAC' WHEN 'credit_note' THEN 'NC' ELSE 'OTR' END",
        ),
    ),
    "vouchers": _legacy(
        "comprobantes",
        ("prefijo", "consecutivo"),
        ("prefijo", _TXT, "voucher_code"),
        ("consecutivo", _INT, "number"),
        ("fecha", _TXT, "date", _YMD),
        ("hora", _TXT, "issued_at", "strftime({}, '%H:%M:%S')"),
        ("nit_cliente", _TXT, "customer_id"),
        ("valor_bruto", _MONEY, "subtotal"),
        ("valor_iva", _MONEY, "tax"),
        ("valor_total", _MONEY, "total"),
        ("anulado", "INTEGER", "status", "CASE {} WHEN 'void' THEN 1 ELSE 0 END"),
        ("fecha_modificacion", _TXT, "updated_at", _TS),
    ),
    "voucher_lines": _legacy(
        "detalle",
        ("prefijo", "consecutivo", "renglon"),
        ("prefijo", _TXT, "voucher_code"),
        ("consecutivo", _INT, "number"),
        ("renglon", "INTEGER", "line_no"),
        ("cod_producto", _TXT, "product_id"),
        ("cantidad", "DECIMAL(18,3)", "quantity"),
        ("precio_unitario", _MONEY, "unit_price"),
        ("descuento", _MONEY, "discount"),
        ("valor_iva", _MONEY, "tax"),
        ("valor_total", _MONEY, "total"),
    ),
    "payments": _legacy(
        "pagos",
        ("prefijo", "consecutivo", "item"),
        ("prefijo", _TXT, "voucher_code"),
        ("consecutivo", _INT, "number"),
        ("item", "INTEGER", "seq"),
        ("forma_pago", _TXT, "method_id"),
        ("valor", _MONEY, "amount"),
    ),
    "products": _legacy(
        "productos",
        ("codigo",),
        ("codigo", _TXT, "product_id"),
        ("nombre", _TXT, "name"),
        ("codigo_barras", _TXT, "barcode"),
        ("categoria", _TXT, "category"),
        ("unidad", _TXT, "unit"),
        ("precio", _MONEY, "price"),
        ("cod_impuesto", _TXT, "tax_id"),
        ("activo", "INTEGER", "active", _FLAG),
        ("fecha_modificacion", _TXT, "updated_at", _TS),
    ),
    "customers": _legacy(
        "clientes",
        ("nit",),
        ("nit", _TXT, "customer_id"),
        ("nombre", _TXT, "name"),
        ("tipo_documento", _TXT, "doc_type"),
        ("numero_documento", _TXT, "doc_number"),
        ("correo", _TXT, "email"),
        ("telefono", _TXT, "phone"),
        ("fecha_modificacion", _TXT, "updated_at", _TS),
    ),
    "taxes": _legacy(
        "impuestos",
        ("codigo",),
        ("codigo", _TXT, "tax_id"),
        ("nombre", _TXT, "name"),
        ("tarifa", "DECIMAL(6,4)", "rate"),
    ),
    "payment_methods": _legacy("formas_pago", ("codigo",), ("codigo", _TXT, "method_id"), ("nombre", _TXT, "name")),
    "loyalty_movements": _legacy(
        "puntos",
        ("id_movimiento",),
        ("id_movimiento", _TXT, "movement_id"),
        ("nit_cliente", _TXT, "customer_id"),
        ("fecha", _TXT, "date", _YMD),
        ("puntos", "INTEGER", "points"),
        ("prefijo", _TXT, "voucher_code"),
        ("consecutivo", _INT, "number"),
    ),
    "commercial_rules": _legacy(
        "reglas",
        ("id_regla",),
        ("id_regla", _TXT, "rule_id"),
        ("nombre", _TXT, "name"),
        ("tipo", _TXT, "kind"),
        ("parametros", _TXT, "params"),
        ("vigente_desde", _TXT, "valid_from", _YMD),
        ("vigente_hasta", _TXT, "valid_to", _YMD),
        ("activa", "INTEGER", "active", _FLAG),
        ("fecha_modificacion", _TXT, "updated_at", _TS),
    ),
}

LAYOUTS: dict[str, dict[str, Target]] = {"canonical": _canonical(), "legacy_es": LEGACY_ES}
FLAVOURS: tuple[str, ...] = tuple(LAYOUTS)
