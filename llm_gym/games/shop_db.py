"""A seeded in-memory shop database and questions whose answers come from the data itself.

:func:`generate_shop` draws customers, products, orders and order lines from a seed;
:func:`build_database` loads them into a fresh in-memory SQLite database; :func:`generate_question`
picks a question for a difficulty and computes its answer in Python from the rows (the reference
SQL query that answers it is kept alongside, and the tests check that both agree).

Money is held in integer cents in Python and shown as dollars (``REAL``, two decimals) in SQL.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from llm_gym.seeding import derive_rng

DIFFICULTIES = ("easy", "medium", "hard")

CITIES = ("Lyon", "Osaka", "Denver", "Porto", "Nairobi", "Tallinn", "Quito")
CATEGORIES = ("books", "garden", "kitchen", "toys", "sports", "electronics")
FIRST_NAMES = (
    "Alice", "Bilal", "Carmen", "Deniz", "Emeka", "Fatima", "Gustav", "Hana", "Ivan", "Julia",
    "Kwame", "Lucia", "Mateo", "Nina", "Olga", "Pavel", "Rania", "Stefan", "Tara", "Yusuf",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Kim",
    "Larsen", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Silva", "Tanaka", "Weber",
)  # fmt: skip
PRODUCT_WORDS = (
    "Lamp", "Kettle", "Puzzle", "Racket", "Novel", "Shovel", "Drone", "Blender", "Atlas",
    "Helmet", "Planter", "Robot", "Skillet", "Camera", "Yo-yo", "Hammock", "Speaker", "Globe",
)  # fmt: skip
PRODUCT_ADJECTIVES = ("Classic", "Mini", "Pro", "Deluxe", "Eco", "Smart", "Retro", "Ultra")
YEARS = (2022, 2023, 2024)

SCHEMA = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    city TEXT NOT NULL,
    signup_year INTEGER NOT NULL
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price REAL NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    order_date TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL
);
"""

_SIZES = {"easy": (8, 8, 12), "medium": (14, 14, 30), "hard": (24, 22, 70)}


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    city: str
    signup_year: int


@dataclass(frozen=True)
class Product:
    id: int
    name: str
    category: str
    price_cents: int


@dataclass(frozen=True)
class Order:
    id: int
    customer_id: int
    order_date: str
    status: str
    items: tuple[tuple[int, int], ...]
    """(product_id, quantity) lines."""


@dataclass(frozen=True)
class Shop:
    customers: tuple[Customer, ...]
    products: tuple[Product, ...]
    orders: tuple[Order, ...]


@dataclass(frozen=True)
class ShopQuestion:
    """A question about a shop.

    Attributes:
        text: the question for the model.
        answer: the exact answer as text (dollars with two decimals, a count, or a name).
        numeric: the answer is a number (compared within a tolerance), else a name.
        sql: a reference query whose single cell is the answer (used by scripted policies/tests).
        template: the question template's name.
    """

    text: str
    answer: str
    numeric: bool
    sql: str
    template: str


def generate_shop(seed: int, difficulty: str = "medium") -> Shop:
    """The shop's rows for ``seed`` (sizes grow with the difficulty)."""
    if difficulty not in _SIZES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
    n_customers, n_products, n_orders = _SIZES[difficulty]
    rng = derive_rng(seed, "shop", difficulty)
    names = _distinct(rng, n_customers, FIRST_NAMES, LAST_NAMES)
    customers = tuple(
        Customer(i + 1, name, _pick(rng, CITIES), int(rng.choice(YEARS)))
        for i, name in enumerate(names)
    )
    product_names = _distinct(rng, n_products, PRODUCT_ADJECTIVES, PRODUCT_WORDS)
    products = tuple(
        Product(i + 1, name, _pick(rng, CATEGORIES), int(rng.integers(199, 20000)))
        for i, name in enumerate(product_names)
    )
    orders = []
    for i in range(n_orders):
        n_lines = int(rng.integers(1, 4))
        product_ids = rng.choice(n_products, size=n_lines, replace=False) + 1
        items = tuple((int(p), int(rng.integers(1, 6))) for p in sorted(product_ids))
        year, month, day = (
            int(rng.choice(YEARS)),
            int(rng.integers(1, 13)),
            int(rng.integers(1, 29)),
        )
        date = f"{year}-{month:02d}-{day:02d}"
        status = "cancelled" if rng.random() < 0.2 else "shipped"
        orders.append(Order(i + 1, int(rng.integers(1, n_customers + 1)), date, status, items))
    return Shop(customers, products, tuple(orders))


def build_database(shop: Shop) -> sqlite3.Connection:
    """A new in-memory SQLite database holding ``shop`` (writable: callers lock it down)."""
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    connection.executescript(SCHEMA)
    connection.executemany(
        "INSERT INTO customers VALUES (?, ?, ?, ?)",
        [(c.id, c.name, c.city, c.signup_year) for c in shop.customers],
    )
    connection.executemany(
        "INSERT INTO products VALUES (?, ?, ?, ?)",
        [(p.id, p.name, p.category, p.price_cents / 100) for p in shop.products],
    )
    connection.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?)",
        [(o.id, o.customer_id, o.order_date, o.status) for o in shop.orders],
    )
    connection.executemany(
        "INSERT INTO order_items VALUES (?, ?, ?)",
        [(o.id, p, q) for o in shop.orders for p, q in o.items],
    )
    connection.commit()
    return connection


def generate_question(shop: Shop, seed: int, difficulty: str = "medium") -> ShopQuestion:
    """A question of the difficulty, answered from ``shop``'s rows, fixed by ``seed``."""
    if difficulty not in _TEMPLATES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
    rng = derive_rng(seed, "shop-question", difficulty)
    templates = _TEMPLATES[difficulty]
    fallback = None
    for _ in range(20):
        question = templates[int(rng.integers(len(templates)))](shop, rng)
        if question is None:
            continue
        if question.answer not in ("0", "0.00"):
            return question
        fallback = fallback or question
    if fallback is None:  # pragma: no cover - every level has a template that always applies
        raise RuntimeError("no question could be generated")
    return fallback


# --- helpers --------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _distinct(rng, count, firsts, lasts) -> list[str]:
    pairs = [f"{a} {b}" for a in firsts for b in lasts]
    return [pairs[i] for i in rng.choice(len(pairs), size=count, replace=False)]


def _dollars(cents: int | Fraction) -> str:
    rounded = math.floor(Fraction(cents) + Fraction(1, 2))  # half a cent rounds up
    return f"{rounded // 100}.{rounded % 100:02d}"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _shipped(shop: Shop) -> list[Order]:
    return [o for o in shop.orders if o.status == "shipped"]


def _prices(shop: Shop) -> dict[int, int]:
    return {p.id: p.price_cents for p in shop.products}


def _order_total(order: Order, prices: dict[int, int]) -> int:
    return sum(prices[p] * q for p, q in order.items)


def _spending(shop: Shop) -> Counter[int]:
    prices = _prices(shop)
    totals: Counter[int] = Counter()
    for order in _shipped(shop):
        totals[order.customer_id] += _order_total(order, prices)
    return totals


_SHIPPED_LINES = (
    "FROM order_items oi JOIN orders o ON o.id = oi.order_id "
    "JOIN products p ON p.id = oi.product_id WHERE o.status = 'shipped'"
)


# --- templates: each returns a question or None when it does not apply to this shop -----------


def _customers_in_city(shop, rng):
    city = _pick(rng, sorted({c.city for c in shop.customers}))
    count = sum(c.city == city for c in shop.customers)
    return ShopQuestion(
        f"How many customers live in {city}?",
        str(count),
        True,
        f"SELECT COUNT(*) FROM customers WHERE city = {_quote(city)}",
        "customers_in_city",
    )


def _products_in_category(shop, rng):
    category = _pick(rng, sorted({p.category for p in shop.products}))
    count = sum(p.category == category for p in shop.products)
    return ShopQuestion(
        f"How many products are in the {category} category?",
        str(count),
        True,
        f"SELECT COUNT(*) FROM products WHERE category = {_quote(category)}",
        "products_in_category",
    )


def _max_price_in_category(shop, rng):
    category = _pick(rng, sorted({p.category for p in shop.products}))
    cents = max(p.price_cents for p in shop.products if p.category == category)
    return ShopQuestion(
        f"What is the price in dollars of the most expensive product in the {category} category?",
        _dollars(cents),
        True,
        f"SELECT MAX(price) FROM products WHERE category = {_quote(category)}",
        "max_price_in_category",
    )


def _cancelled_orders(shop, rng):
    count = sum(o.status == "cancelled" for o in shop.orders)
    return ShopQuestion(
        "How many orders have the status 'cancelled'?",
        str(count),
        True,
        "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'",
        "cancelled_orders",
    )


def _units_of_product(shop, rng):
    sold = Counter()
    for order in _shipped(shop):
        for p, q in order.items:
            sold[p] += q
    if not sold:
        return None
    product = shop.products[_pick(rng, sorted(sold)) - 1]
    return ShopQuestion(
        f"How many units of the product '{product.name}' were sold in shipped orders "
        "(cancelled orders do not count)?",
        str(sold[product.id]),
        True,
        f"SELECT SUM(oi.quantity) {_SHIPPED_LINES} AND p.name = {_quote(product.name)}",
        "units_of_product",
    )


def _customer_spending(shop, rng):
    totals = _spending(shop)
    if not totals:
        return None
    customer = shop.customers[_pick(rng, sorted(totals)) - 1]
    return ShopQuestion(
        f"How much did the customer {customer.name} spend in total, in dollars, on shipped "
        "orders (cancelled orders do not count)?",
        _dollars(totals[customer.id]),
        True,
        "SELECT ROUND(SUM(oi.quantity * p.price), 2) "
        f"{_SHIPPED_LINES} AND o.customer_id = "
        f"(SELECT id FROM customers WHERE name = {_quote(customer.name)})",
        "customer_spending",
    )


def _city_customers_with_orders(shop, rng):
    city = _pick(rng, sorted({c.city for c in shop.customers}))
    in_city = {c.id for c in shop.customers if c.city == city}
    count = len({o.customer_id for o in shop.orders} & in_city)
    return ShopQuestion(
        f"How many different customers from {city} have placed at least one order (of any status)?",
        str(count),
        True,
        "SELECT COUNT(DISTINCT o.customer_id) FROM orders o JOIN customers c "
        f"ON c.id = o.customer_id WHERE c.city = {_quote(city)}",
        "city_customers_with_orders",
    )


def _orders_in_year(shop, rng):
    year = _pick(rng, YEARS)
    count = sum(o.order_date.startswith(f"{year}-") for o in shop.orders)
    return ShopQuestion(
        f"How many orders (of any status) were placed in the year {year}?",
        str(count),
        True,
        f"SELECT COUNT(*) FROM orders WHERE order_date LIKE '{year}-%'",
        "orders_in_year",
    )


def _category_revenue_in_year(shop, rng):
    category, year = _pick(rng, CATEGORIES), _pick(rng, YEARS)
    by_id = {p.id: p for p in shop.products}
    cents = sum(
        by_id[p].price_cents * q
        for o in _shipped(shop)
        if o.order_date.startswith(f"{year}-")
        for p, q in o.items
        if by_id[p].category == category
    )
    return ShopQuestion(
        f"What was the total revenue in dollars from {category} products in shipped orders "
        f"placed in {year}?",
        _dollars(cents),
        True,
        "SELECT ROUND(COALESCE(SUM(oi.quantity * p.price), 0), 2) "
        f"{_SHIPPED_LINES} AND p.category = {_quote(category)} "
        f"AND o.order_date LIKE '{year}-%'",
        "category_revenue_in_year",
    )


def _top_spender(shop, rng):
    totals = _spending(shop)
    if not totals:
        return None
    best = max(totals.values())
    winners = [c for c, total in totals.items() if total == best]
    if len(winners) != 1:
        return None
    name = shop.customers[winners[0] - 1].name
    return ShopQuestion(
        "Which customer spent the most money in total on shipped orders? Answer with the "
        "customer's full name.",
        name,
        False,
        "SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id "
        "JOIN order_items oi ON oi.order_id = o.id JOIN products p ON p.id = oi.product_id "
        "WHERE o.status = 'shipped' GROUP BY c.id ORDER BY SUM(oi.quantity * p.price) DESC "
        "LIMIT 1",
        "top_spender",
    )


def _top_products_revenue(shop, rng):
    k = int(rng.integers(2, 4))
    prices = _prices(shop)
    revenue: Counter[int] = Counter()
    for order in _shipped(shop):
        for p, q in order.items:
            revenue[p] += prices[p] * q
    if len(revenue) < k:
        return None
    cents = sum(sorted(revenue.values(), reverse=True)[:k])
    return ShopQuestion(
        f"Rank products by their revenue from shipped orders. What is the combined revenue in "
        f"dollars of the top {k} products?",
        _dollars(cents),
        True,
        "SELECT ROUND(SUM(revenue), 2) FROM (SELECT SUM(oi.quantity * p.price) AS revenue "
        f"{_SHIPPED_LINES} GROUP BY p.id ORDER BY revenue DESC LIMIT {k})",
        "top_products_revenue",
    )


def _average_order_value_in_city(shop, rng):
    city = _pick(rng, sorted({c.city for c in shop.customers}))
    prices = _prices(shop)
    city_of = {c.id: c.city for c in shop.customers}
    totals = [_order_total(o, prices) for o in _shipped(shop) if city_of[o.customer_id] == city]
    if not totals:
        return None
    average = Fraction(sum(totals), len(totals))
    if average.denominator == 2:
        return None  # an exact half cent: rounding conventions would disagree
    return ShopQuestion(
        f"What is the average total value in dollars of the shipped orders placed by customers "
        f"from {city}? Round to two decimals.",
        _dollars(average),
        True,
        "SELECT ROUND(AVG(total), 2) FROM (SELECT SUM(oi.quantity * p.price) AS total "
        f"{_SHIPPED_LINES} AND o.customer_id IN "
        f"(SELECT id FROM customers WHERE city = {_quote(city)}) GROUP BY o.id)",
        "average_order_value_in_city",
    )


_TEMPLATES = {
    "easy": (_customers_in_city, _products_in_category, _max_price_in_category, _cancelled_orders),
    "medium": (
        _units_of_product,
        _customer_spending,
        _city_customers_with_orders,
        _orders_in_year,
    ),
    "hard": (
        _category_revenue_in_year,
        _top_spender,
        _top_products_revenue,
        _average_order_value_in_city,
    ),
}
