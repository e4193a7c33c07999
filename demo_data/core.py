"""Seeded synthetic demo data: parameters, constants and random helpers.

Every value is a pure function of (seed, purpose, row key): uniforms come from
`xxhash64`, never from `rand()`, so the output does not depend on partitioning
or on the order Spark evaluates things, and the same seed gives the same rows.
Timestamps are whole epoch seconds (`*_s` columns) until the output select,
which keeps the arithmetic exact and the landed strings `yyyy-MM-dd HH:mm:ss`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from catalog.tables import TABLES

DAY_S = 86_400
HOUR_S = 3_600

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


SHARE = {"ge": 0, "le": 1}  # a share's bounds, checked when the config is loaded
# At camouflage c a fraudster's pattern shows on (1 - CAMOUFLAGE_DAMPING * c) of
# what it shows at c = 0: at c = 1 a quarter of the signal is left.
CAMOUFLAGE_DAMPING = 0.75


@dataclass(frozen=True)
class DemoParams:
    """Seed and scale of one generated data set (see conf/jobs/generate_demo_data.yaml)."""

    seed: int = 42
    end_date: date = date(2025, 6, 30)
    days: int = field(default=120, metadata={"ge": 14})
    orders: int = field(default=20_000, metadata={"ge": 1})
    sellers: int = field(default=200, metadata={"ge": 10})
    customers: int = field(default=5_000, metadata={"ge": 1})
    products: int = field(default=2_000, metadata={"ge": 10})
    hot_seller_share: float = field(default=0.25, metadata=SHARE)
    zipf_exponent: float = field(default=1.0, metadata={"gt": 0})
    fraud_share: float = field(default=0.06, metadata=SHARE)
    fraud_order_share: float = field(default=0.04, metadata=SHARE)
    noisy_seller_share: float = field(default=0.15, metadata=SHARE)
    burst_days: int = field(default=10, metadata={"ge": 1})
    new_product_days: int = field(default=7, metadata={"ge": 1})
    views_per_purchase: int = field(default=10, metadata={"ge": 1})
    carts_per_purchase: int = field(default=3, metadata={"ge": 1})
    stores: int = field(default=50, metadata={"ge": 1})
    dcs: int = field(default=3, metadata={"ge": 1})
    skus: int = field(default=300, metadata={"ge": 1})
    inventory_days: int = field(default=28, metadata={"ge": 7})
    store_assortment_share: float = field(default=0.1, metadata=SHARE)
    rfid_store_share: float = field(default=0.5, metadata=SHARE)
    count_share: float = field(default=0.3, metadata=SHARE)
    drift_share: float = field(default=0.05, metadata=SHARE)
    duplicate_event_share: float = field(default=0.0002, metadata=SHARE)
    # A harder fraud demo (both 0 by default: the data set is then unchanged).
    # camouflage: weaker patterns, legit-like volume, mixed patterns and legit
    # look-alikes (see `pattern_strength`, `sellers.SellerPlan`).
    camouflage: float = field(default=0.0, metadata=SHARE)
    # label_noise: truth.fraudulent_sellers as a noisy label source (see `sellers.fraud_truth`).
    label_noise: float = field(default=0.0, metadata={"ge": 0, "le": 0.5})

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
    def start_date(self) -> date:
        """The first day of the generated window."""
        return self.end_date - timedelta(days=self.days - 1)

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

    @property
    def pattern_strength(self) -> float:
        """How much of its pattern a fraudster's orders and listings carry: 1 unless camouflaged."""
        return 1.0 - CAMOUFLAGE_DAMPING * self.camouflage

    @property
    def n_label_flips(self) -> int:
        """Fraudsters left out of the truth, and legit sellers put in it, by `label_noise`."""
        legit_non_hot = self.sellers - 1 - self.n_fraud
        return min(round(self.label_noise * self.n_fraud), legit_non_hot)

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


def toward_legit(rates: Mapping[str, float], legit: float, p: DemoParams) -> dict[str, float]:
    """Per-class rates with the fraud patterns' moved toward the legit rate by camouflage
    (unchanged at camouflage 0: no float round trip)."""
    s = p.pattern_strength
    if p.camouflage == 0:
        return dict(rates)
    return {k: legit + s * (v - legit) if k in FRAUD_PATTERNS else v for k, v in rates.items()}


def _epoch(d: date) -> int:
    return int(datetime.combine(d, time(0), tzinfo=UTC).timestamp())


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
