"""Seeded synthetic demo data: parameters, constants and random helpers.

Every value is a pure function of (seed, purpose, row key): uniforms come from
`xxhash64`, never from `rand()`, so the output does not depend on partitioning
or on the order Spark evaluates things, and the same seed gives the same rows.
Timestamps are whole epoch seconds (`*_s` columns) until the output select,
which keeps the arithmetic exact and the landed strings `yyyy-MM-dd HH:mm:ss`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakecore.schemas import TABLES

DAY_S = 86_400
HOUR_S = 3_600
# Uniforms have 1e-9 resolution: plenty for shares down to one in a million.
HASH_MODULUS = 1_000_000_000

FRAUD_PATTERNS = (
    "velocity_burst",
    "fake_reviews",
    "price_below_category",
    "high_cancellation_chargeback",
    "buyer_collusion",
)

# (category, category_english, typical price): the demo's category price list.
CATEGORIES = (
    ("beleza_saude", "health_beauty", 120.0),
    ("relogios_presentes", "watches_gifts", 200.0),
    ("cama_mesa_banho", "bed_bath_table", 90.0),
    ("esporte_lazer", "sports_leisure", 110.0),
    ("informatica_acessorios", "computers_accessories", 150.0),
    ("moveis_decoracao", "furniture_decor", 130.0),
    ("utilidades_domesticas", "housewares", 80.0),
    ("brinquedos", "toys", 95.0),
    ("telefonia", "telephony", 70.0),
    ("automotivo", "auto", 140.0),
    ("ferramentas_jardim", "garden_tools", 105.0),
    ("eletronicos", "electronics", 180.0),
)

CITIES = (
    ("sao paulo", "SP"),
    ("rio de janeiro", "RJ"),
    ("belo horizonte", "MG"),
    ("curitiba", "PR"),
    ("porto alegre", "RS"),
    ("campinas", "SP"),
    ("salvador", "BA"),
    ("brasilia", "DF"),
    ("recife", "PE"),
    ("fortaleza", "CE"),
    ("goiania", "GO"),
    ("florianopolis", "SC"),
)


@dataclass(frozen=True)
class DemoParams:
    """Seed and scale of one generated data set (see conf/jobs/generate_demo_data.yaml)."""

    seed: int = 42
    end_date: date = date(2025, 6, 30)
    days: int = 120
    orders: int = 20_000
    sellers: int = 200
    customers: int = 5_000
    products: int = 2_000
    hot_seller_share: float = 0.25
    zipf_exponent: float = 1.0
    fraud_share: float = 0.06
    fraud_order_share: float = 0.04
    noisy_seller_share: float = 0.15
    burst_days: int = 10
    new_product_days: int = 7
    views_per_purchase: int = 10
    carts_per_purchase: int = 3
    stores: int = 50
    dcs: int = 3
    skus: int = 300
    inventory_days: int = 28
    store_assortment_share: float = 0.1
    rfid_store_share: float = 0.5
    count_share: float = 0.3
    drift_share: float = 0.05
    duplicate_event_share: float = 0.0002

    def __post_init__(self) -> None:
        if self.sellers < len(FRAUD_PATTERNS) + 2:
            raise ValueError(f"sellers={self.sellers}: need at least {len(FRAUD_PATTERNS) + 2}")
        if self.products < self.sellers:
            raise ValueError(
                f"products={self.products} < sellers={self.sellers}: each seller lists one"
            )
        if self.hot_seller_share + self.fraud_order_share >= 1:
            raise ValueError("hot_seller_share + fraud_order_share must be below 1")
        if self.burst_days >= self.days or self.inventory_days < 7:
            raise ValueError("need burst_days < days and inventory_days >= 7")

    @property
    def end_s(self) -> int:
        """Exclusive end of the window: midnight UTC after `end_date`."""
        return _epoch(self.end_date + timedelta(days=1))

    @property
    def start_s(self) -> int:
        return self.end_s - self.days * DAY_S

    @property
    def inventory_start_s(self) -> int:
        return self.end_s - self.inventory_days * DAY_S

    @property
    def n_fraud(self) -> int:
        """Fraudulent sellers: the share, but at least one per pattern."""
        wanted = max(len(FRAUD_PATTERNS), round(self.fraud_share * self.sellers))
        return min(wanted, self.sellers - 1)

    def range_sizes(self) -> dict[str, int]:
        """Rows of each base `spark.range` DataFrame `build_demo_tables` needs."""
        return {
            "sellers": self.sellers,
            "customers": self.customers,
            "orders": self.orders,
            "categories": len(CATEGORIES),
            "locations": self.stores + self.dcs,
            "skus": self.skus,
        }


def _epoch(d: date) -> int:
    return int(datetime.combine(d, time(0), tzinfo=UTC).timestamp())


# --------------------------------------------------------------------------- randomness


def uniform(seed: int, purpose: str, *cols: str | Column) -> Column:
    """Pseudo-random double in [0, 1) from the hash of (seed, purpose, cols)."""
    if all(isinstance(c, str) for c in cols):
        # One SQL expression instead of a tree of Column calls: building the
        # plans makes hundreds of these, and each Column call is a JVM round trip.
        keys = ", ".join(f"`{c}`" for c in cols)
        return F.expr(
            f"pmod(xxhash64({seed}, '{_sql_text(purpose)}', {keys}), {HASH_MODULUS}) / 1e9"
        )
    keys = [F.col(c) if isinstance(c, str) else c for c in cols]
    h = F.xxhash64(F.lit(seed), F.lit(purpose), *keys)
    return F.pmod(h, F.lit(HASH_MODULUS)) / HASH_MODULUS


def _sql_text(value: str) -> str:
    if "'" in value or "\\" in value:
        raise ValueError(f"{value!r}: no quotes or backslashes in generated SQL text")
    return value


def normal(seed: int, purpose: str, *cols: Any) -> Column:
    """Standard normal by Box-Muller over two independent uniforms."""
    u1 = uniform(seed, f"{purpose}/n1", *cols) + 1e-12  # log(0) would be NULL
    u2 = uniform(seed, f"{purpose}/n2", *cols)
    return F.sqrt(-2.0 * F.log(u1)) * F.cos(2 * 3.141592653589793 * u2)


def randint(u: Column, low: int, high: int) -> Column:
    """Integer in [low, high] (inclusive) from a uniform."""
    return (F.floor(u * (high - low + 1)) + low).cast("long")


def even_offset(u: Column, span_s: int | Column) -> Column:
    """An even number of seconds in [0, span_s): events sit on even seconds, counts on odd."""
    return (F.floor(u * span_s / 2) * 2).cast("long")


def array_literal(values: Sequence[Any]) -> Column:
    """An (optionally nested) array literal as one SQL expression: one JVM call,
    not one per element."""
    return F.expr(_sql_literal(values))


def _sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + _sql_text(value) + "'"
    if isinstance(value, list | tuple):
        return "array(" + ", ".join(_sql_literal(v) for v in value) + ")"
    if isinstance(value, float):
        return repr(value) + "D"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"unsupported literal {value!r}")


def at(values: Sequence[str | int | float], index: Column) -> Column:
    """`values[index]` for a 0-based index column."""
    return F.element_at(array_literal(values), (index + 1).cast("int"))


def pick(values: Sequence[Any], u: Column) -> Column:
    """One of `values`, uniformly (u in [0, 1))."""
    return at(values, F.floor(u * len(values)))


def weighted(choices: Sequence[tuple[Any, float]], u: Column) -> Column:
    """One of the values with the given weights (normalised), by cumulative thresholds."""
    total = sum(w for _, w in choices)
    out, acc = None, 0.0
    for value, weight in choices[:-1]:
        acc += weight / total
        out = F.when(u < acc, F.lit(value)) if out is None else out.when(u < acc, F.lit(value))
    last = F.lit(choices[-1][0])
    return last if out is None else out.otherwise(last)


def by_class(klass: str, rates: Mapping[str, float], default: float) -> Column:
    """A per-class number (e.g. the cancel rate of a seller class in column `klass`)."""
    cases = " ".join(
        f"WHEN {_sql_literal(k)} THEN {_sql_literal(float(v))}" for k, v in rates.items()
    )
    return F.expr(f"CASE `{klass}` {cases} ELSE {_sql_literal(float(default))} END")


def hex_id(seed: int, kind: str, *cols: str | Column) -> Column:
    """Opaque 32-hex id (Olist style) of a key: no label leaks through ids."""
    if all(isinstance(c, str) for c in cols):
        keys = ", ".join(f"CAST(`{c}` AS STRING)" for c in cols)
        return F.expr(f"md5(concat_ws(':', '{seed}', '{_sql_text(kind)}', {keys}))")
    keys = [(F.col(c) if isinstance(c, str) else c).cast("string") for c in cols]
    return F.md5(F.concat_ws(":", F.lit(str(seed)), F.lit(kind), *keys))


def ts(seconds: str | Column) -> Column:
    col = F.col(seconds) if isinstance(seconds, str) else seconds
    return F.timestamp_seconds(col)


def zip_prefix(u: Column) -> Column:
    return F.format_string("%05d", F.floor(u * 99_999).cast("int") + 1)


def select_canonical(df: DataFrame, table: str) -> DataFrame:
    """Exactly the canonical columns of `table`, with the canonical types."""
    have = {f.name: f.dataType for f in df.schema.fields}
    return df.select(
        *[c if have.get(c) == t else F.col(c).cast(t).alias(c) for c, t in TABLES[table].columns]
    )
