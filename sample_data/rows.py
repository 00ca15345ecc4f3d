"""Set-based generation of one register's canonical rows inside DuckDB.

Each function runs ONE query that creates a temp table named after its
canonical table, for all days at once. Every pseudo-random value comes from
`hash(seed, …keys)` (macros `rc`/`rv`), never from random(): DuckDB runs
queries in parallel, so only a pure function of the keys gives the same rows
on every run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date

import duckdb

from sample_data.engines import sql_literal

# (name, category, unit, tax_id): KG items (1 in 6) are the ones sold in fractional quantities.
ITEMS: tuple[tuple[str, str, str, str], ...] = (
    ("Café", "Bebidas", "UND", "IVA5"),
    ("Té verde", "Bebidas", "UND", "IVA19"),
    ("Jugo de piña", "Bebidas", "LT", "IVA19"),
    ("Piña", "Frutas", "UND", "EXC"),
    ("Limón", "Frutas", "KG", "EXC"),
    ("Plátano", "Frutas", "KG", "EXC"),
    ("Guanábana", "Frutas", "UND", "EXC"),
    ("Ñame", "Verduras", "KG", "EXC"),
    ("Jalapeños en vinagre", "Verduras", "UND", "IVA19"),
    ("Champiñones", "Verduras", "UND", "EXC"),
    ("Maíz pira", "Granos", "UND", "IVA5"),
    ("Fríjol cargamanto 500 g", "Granos", "UND", "EXC"),
    ("Azúcar", "Despensa", "UND", "IVA5"),
    ("Chocolate de mesa", "Despensa", "UND", "IVA5"),
    ("Pan de queso", "Panadería", "UND", "IVA19"),
    ("Buñuelo", "Panadería", "UND", "IVA19"),
    ("Almojábana", "Panadería", "UND", "IVA19"),
    ("Jamón de cerdo", "Carnes frías", "KG", "IVA19"),
    ("Salchichón", "Carnes frías", "UND", "IVA19"),
    ("Queso campesino", "Lácteos", "UND", "EXC"),
    ("Yogur de maracuyá", "Lácteos", "UND", "IVA19"),
    ("Jabón de baño", "Aseo", "UND", "IVA19"),
    ("Crema dental", "Aseo", "UND", "IVA19"),
    ("Papas fritas", "Snacks", "UND", "IVA19"),
)
VARIANTS = ("", " orgánico", " premium", " selección", " familiar", " tradicional", " del Huila", " especial")
# Customer names, picked by hash; accents and ñ on purpose (exercise encodings end to end).
# fmt: off
FIRST_NAMES = ("José", "María", "Andrés", "Sofía", "Julián", "Valentina",
               "Camilo", "Mónica", "Iván", "Lucía", "Sebastián", "Ángela")
LAST_NAMES = ("Muñoz", "Peña", "Núñez", "Gómez", "Rodríguez", "Pérez",
              "Martínez", "Hernández", "Ordóñez", "Castaño", "Díaz", "Zúñiga")
# fmt: on


def sql_list(values: Sequence[str]) -> str:
    """A DuckDB list literal of strings.

    >>> sql_list(["Piña", "it's"])
    "['Piña', 'it''s']"
    """
    return "[" + ", ".join(sql_literal(v) for v in values) + "]"


def _items_sql() -> str:
    rows = ", ".join(f"({i}, {', '.join(map(sql_literal, item))})" for i, item in enumerate(ITEMS))
    return f"(VALUES {rows}) AS items(i, base, category, unit, tax_id)"


TAXES = """
CREATE TEMP TABLE taxes AS
SELECT tax_id, name, rate::DECIMAL(6,4) AS rate
FROM (VALUES ('IVA19', 'IVA 19%', 0.1900), ('IVA5', 'IVA 5%', 0.0500), ('EXC', 'Excluido', 0.0000))
     AS t(tax_id, name, rate)
"""

PAYMENT_METHODS = """
CREATE TEMP TABLE payment_methods AS
SELECT * FROM (VALUES ('EF', 'Efectivo'), ('TC', 'Tarjeta crédito'), ('TR', 'Transferencia'))
     AS t(method_id, name)
"""

PRODUCTS = f"""
CREATE TEMP TABLE products AS
WITH p AS (
    SELECT n, items.*, '770' || printf('%09d', n) AS body,
           {sql_list(VARIANTS)}[1 + ((n - 1) // {len(ITEMS)}) % {len(VARIANTS)}] AS variant,
           (n - 1) // {len(ITEMS) * len(VARIANTS)} AS lap
    FROM range(1, $products + 1) AS r(n)
    JOIN {_items_sql()} ON items.i = (n - 1) % {len(ITEMS)}
)
SELECT printf('P%05d', n) AS product_id,
       base || variant || CASE WHEN lap > 0 THEN ' ' || (lap + 1) ELSE '' END AS name,
       -- EAN-13 with Colombia's 770 prefix and a real check digit
       body || (10 - list_sum(list_transform(range(12),
                   lambda i: CAST(body[i + 1] AS INTEGER) * (1 + 2 * (i % 2)))) % 10) % 10 AS barcode,
       category, unit,
       ((50 + rc('price', n, 9950)) * 10)::DECIMAL(18,2) AS price,
       tax_id,
       rc('active', n, 20) <> 0 AS active,
       ($start - 1 - rc('pday', n, 60)::INTEGER)::TIMESTAMP
           + to_seconds(28800 + rc('ptime', n, 36000)) AS updated_at,
       n
FROM p
"""

CUSTOMERS = f"""
CREATE TEMP TABLE customers AS
WITH c AS (
    SELECT n, rc('customer', n, 1000000000) AS r FROM range(1, $customers + 1) AS t(n)
), x AS (
    SELECT n, r, {sql_list(FIRST_NAMES)}[1 + r % {len(FIRST_NAMES)}] AS first,
           {sql_list(LAST_NAMES)}[1 + (r // 100) % {len(LAST_NAMES)}] AS last,
           (r // 10000) % 5 = 0 AS company
    FROM c
)
SELECT printf('C%04d', n) AS customer_id,
       CASE WHEN company THEN 'Inversiones ' || last || ' S.A.S.' ELSE first || ' ' || last END AS name,
       CASE WHEN company THEN 'NIT' ELSE 'CC' END AS doc_type,
       CASE WHEN company THEN printf('900%06d-%d', r % 1000000, (r // 7) % 10)
            ELSE printf('%d', 10000000 + r % 90000000) END AS doc_number,
       lower(strip_accents(CASE WHEN company THEN 'compras.' || last ELSE first || '.' || last END))
           || n || '@correo.example' AS email,
       printf('3%09d', rc('phone', n, 1000000000)) AS phone,
       ($start - 1 - rc('cday', n, 365)::INTEGER)::TIMESTAMP
           + to_seconds(28800 + rc('ctime', n, 36000)) AS updated_at
FROM x
"""

COMMERCIAL_RULES = """
CREATE TEMP TABLE commercial_rules AS
SELECT rule_id, name, kind, params,
       $start + from_day AS valid_from, $start + to_day AS valid_to, active,
       ($start - 10 + i)::TIMESTAMP + INTERVAL 9 HOUR AS updated_at
FROM (VALUES
    (1, 'R1', '10% en café', 'discount', '{"pct": 10, "category": "Bebidas"}', -30, 30, true),
    (2, 'R2', '2x1 en panadería', 'promo', '{"buy": 2, "pay": 1, "category": "Panadería"}', -7, 7, true),
    (3, 'R3', 'Cliente frecuente 5%', 'discount', '{"pct": 5, "min_points": 100}', -90, 275, true),
    (4, 'R4', 'Lleve 3 pague 2 frutas', 'promo', '{"buy": 3, "pay": 2, "category": "Frutas"}', 0, 14, true),
    (5, 'R5', 'Navidad 15%', 'discount', '{"pct": 15}', 20, 40, false)
) AS t(i, rule_id, name, kind, params, from_day, to_day, active)
"""

VOUCHER_TYPES = """
CREATE TEMP TABLE voucher_types AS
SELECT $fv AS code, 'Factura de venta caja ' || $index AS name, 'invoice' AS kind
UNION ALL SELECT $nc, 'Nota crédito caja ' || $index, 'credit_note'
-- a misconfigured register (code_conflict) also has the other register's invoice type
UNION ALL SELECT $borrowed, 'Factura de venta caja ' || $borrowed_index, 'invoice' WHERE $borrowed IS NOT NULL
"""

# One row per voucher, all days at once: g = day * vouchers + k is its identity.
# Times spread the day's vouchers over 07:00:00-21:59:59 in issue order. The
# first voucher of a day is always an invoice, so faults always find one; the
# very last one is always a credit note, so even a small register has one.
SKELETON = """
CREATE TEMP TABLE skeleton AS
WITH base AS (
    SELECT (g // $vouchers)::INTEGER AS day, g % $vouchers AS k, g FROM range($days * $vouchers) AS r(g)
), coded AS (
    SELECT *, k > 0 AND (rv('credit', g, 0, 100) < 5 OR g = $days * $vouchers - 1) AS is_credit FROM base
), v AS (
    SELECT g, day, is_credit,
           CASE WHEN is_credit THEN $nc
                WHEN $borrowed IS NOT NULL AND day = 0 AND (k = 0 OR rv('borrow', g, 0, 3) = 0) THEN $borrowed
                ELSE $fv END AS voucher_code,
           $start + day AS date,
           ($start + day)::TIMESTAMP
               + to_seconds(25200 + (k * 54000 + rv('time', g, 0, 54000)) // $vouchers) AS issued_at,
           CASE WHEN $customers > 0 AND rv('has_customer', g, 0, 100) >= 35
                THEN printf('C%04d', 1 + rv('customer', g, 0, greatest($customers, 1))) END AS customer_id,
           CASE WHEN rv('void', g, 0, 100) = 0 THEN 'void' ELSE 'issued' END AS status,
           $min_lines + rv('lines', g, 0, $max_lines - $min_lines + 1) AS n_lines
    FROM coded
)
-- numbers run on per code across days, in issue order
SELECT g, day, voucher_code, is_credit,
       CASE WHEN is_credit THEN 1 ELSE 1001 END
           + row_number() OVER (PARTITION BY voucher_code ORDER BY g) - 1 AS number,
       date, issued_at, customer_id, status, n_lines, false AS orphan
FROM v
UNION ALL
-- orphan_lines: a voucher whose lines and payment are written but whose header is not
SELECT -1, 0, $fv, false, 999, $start, $start + INTERVAL 12 HOUR, NULL, 'issued', 2, true
WHERE $orphans
"""

VOUCHER_LINES = """
CREATE TEMP TABLE voucher_lines AS
WITH x AS (
    SELECT g, voucher_code, number, is_credit, unnest(range(1, n_lines + 1)) AS line_no FROM skeleton
), p AS (
    SELECT x.*, pr.product_id, pr.price AS unit_price, pr.unit, t.rate,
           rv('qty', g, line_no, 1000) AS rq, rv('discount', g, line_no, 100) AS rd
    FROM x
    JOIN products AS pr ON pr.n = 1 + rv('product', g, line_no, $products)
    JOIN taxes AS t ON t.tax_id = pr.tax_id
), q AS (
    SELECT *,
           (CASE WHEN is_credit THEN -1 ELSE 1 END  -- returns: negative quantities on credit notes only
            * CASE WHEN unit = 'KG' THEN (100 + 3 * rq) * 0.001
                   WHEN rq % 10 < 7 THEN 1 ELSE 2 + (rq // 10) % 4 END)::DECIMAL(18,3) AS quantity
    FROM p
), m AS (
    SELECT *,
           CASE WHEN rd < 10 THEN round(quantity * unit_price * 0.10, 2) ELSE 0 END::DECIMAL(18,2)
               AS discount,
           round((quantity * unit_price)::DECIMAL(18,5) * rate, 2)::DECIMAL(18,2) AS tax
    FROM q
)
SELECT g, voucher_code, number, line_no::INTEGER AS line_no, product_id, quantity, unit_price, discount, tax,
       round(quantity * unit_price - discount + tax, 2)::DECIMAL(18,2) AS total
FROM m
"""

# Header amounts are exact sums of the lines, so totals reconcile to the cent.
HEADERS = """
CREATE TEMP TABLE headers AS
SELECT s.*, a.subtotal, a.tax, a.total
FROM skeleton AS s
JOIN (SELECT g, sum(total - tax)::DECIMAL(18,2) AS subtotal, sum(tax)::DECIMAL(18,2) AS tax,
             sum(total)::DECIMAL(18,2) AS total
      FROM voucher_lines GROUP BY g) AS a USING (g)
"""

# duplicate_number: the middle invoice of day 1 is written twice, the copy 17 minutes later.
VOUCHERS = """
CREATE TEMP TABLE vouchers AS
SELECT voucher_code, number, date, issued_at, customer_id, subtotal, tax, total, status,
       issued_at AS updated_at
FROM headers WHERE NOT orphan
UNION ALL
SELECT voucher_code, number, date, issued_at + INTERVAL 17 MINUTE, customer_id, subtotal, tax, total, status,
       issued_at + INTERVAL 17 MINUTE
FROM headers
WHERE $duplicate AND g = (SELECT quantile_disc(g, 0.5) FROM headers
                          WHERE day = 0 AND voucher_code = $fv AND NOT orphan)
"""

# Payments sum exactly to the total: the second one takes whatever the first left.
PAYMENTS = """
CREATE TEMP TABLE payments AS
WITH h AS (
    SELECT g, voucher_code, number, total,
           CASE WHEN NOT orphan AND abs(total) >= 2000 AND rv('payments', g, 0, 10) < 3 THEN 2 ELSE 1 END
               AS n_pay,
           round(total * (0.2 + rv('split', g, 0, 600) * 0.001), 0)::DECIMAL(18,2) AS first_part
    FROM headers
), x AS (
    SELECT *, unnest(range(1, n_pay + 1)) AS seq FROM h
)
SELECT g, voucher_code, number, seq::INTEGER AS seq,
       CASE WHEN rv('method', g, seq, 100) < 50 THEN 'EF'
            WHEN rv('method', g, seq, 100) < 85 THEN 'TC' ELSE 'TR' END AS method_id,
       CASE WHEN n_pay = 1 THEN total WHEN seq = 1 THEN first_part ELSE total - first_part END::DECIMAL(18,2)
           AS amount
FROM x
"""

# One point per 1,000 of total, truncated toward zero so a full return takes back what the sale gave.
LOYALTY_MOVEMENTS = """
CREATE TEMP TABLE loyalty_movements AS
SELECT $register || '-' || voucher_code || '-' || number AS movement_id, customer_id, date,
       (sign(total) * (floor(abs(total))::BIGINT // 1000))::INTEGER AS points, voucher_code, number
FROM headers WHERE customer_id IS NOT NULL AND NOT orphan
"""

# Run order: later queries read the tables earlier ones made.
QUERIES: tuple[str, ...] = (
    TAXES,
    PAYMENT_METHODS,
    PRODUCTS,
    CUSTOMERS,
    COMMERCIAL_RULES,
    VOUCHER_TYPES,
    SKELETON,
    VOUCHER_LINES,
    HEADERS,
    VOUCHERS,
    PAYMENTS,
    LOYALTY_MOVEMENTS,
)

_PARAM = re.compile(r"\$([a-z_]+)")


def to_sql(value: object) -> str:
    """Render a parameter as a SQL literal.

    >>> [to_sql(v) for v in (3, "caja's", None, True, date(2026, 11, 26))]
    ['3', "'caja''s'", 'NULL', 'TRUE', "DATE '2026-11-26'"]
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return sql_literal(value)
    raise TypeError(f"no SQL literal for {value!r}")


def bind(sql: str, params: Mapping[str, object]) -> str:
    """Replace every $name with its value as a literal.

    Literals rather than prepared parameters: DuckDB can't plan a hash join on
    an expression holding a parameter and falls back to a ~10x slower join.

    >>> bind("SELECT $a + $b", {"a": 1, "b": 2})
    'SELECT 1 + 2'
    """
    return _PARAM.sub(lambda m: to_sql(params[m.group(1)]), sql)


def _macros(seed: str, index: str) -> tuple[str, ...]:
    """Hash macros giving 0..n-1: rc for catalogs (same on every register), rv per register.

    n is cast to UBIGINT like hash(): UBIGINT % INTEGER would widen to HUGEINT, 10x slower.
    """
    return (
        f"CREATE TEMP MACRO rc(tag, a, n) AS (hash({seed}, tag, a) % CAST(n AS UBIGINT))::BIGINT",
        f"CREATE TEMP MACRO rv(tag, a, b, n) AS (hash({seed}, {index}, tag, a, b) % CAST(n AS UBIGINT))::BIGINT",
    )


def build_rows(con: duckdb.DuckDBPyConnection, params: Mapping[str, object]) -> None:
    """Create one temp table per canonical table holding one register's rows.

    Args:
        con: a fresh DuckDB connection (one per register).
        params: seed, index, register, fv, nc, borrowed, borrowed_index, start,
            days, vouchers, min_lines, max_lines, products, customers,
            duplicate, orphans.
    """
    for sql in _macros(to_sql(params["seed"]), to_sql(params["index"])):
        con.execute(sql)
    for sql in QUERIES:
        con.execute(bind(sql, params))
