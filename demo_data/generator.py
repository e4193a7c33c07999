"""Seeded synthetic demo data for the marketplace and the store network.

`build_demo_tables` wires the builders of `sellers`,
`products`, `marketplace`, `feedback`,
`inventory` and `counts` together from base
`spark.range` DataFrames (one per entry of `DemoParams.range_sizes`): no IO,
no session, no clock. Every value is a function of the seed and the row keys
(see `transforms.common.seeded.uniform`), so the same seed gives the same rows on any
number of partitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import DataFrame

from demo_data import counts as cnt
from demo_data import feedback as fb
from demo_data import inventory as inv
from demo_data import marketplace as mk
from demo_data import products as cat
from demo_data import sellers as sel
from demo_data.core import DemoParams, select_canonical

__all__ = ["LANDING_TABLES", "TRUTH_TABLES", "DemoParams", "DemoTables", "build_demo_tables"]

LANDING_TABLES = (
    "sellers",
    "customers",
    "products",
    "categories",
    "orders",
    "order_items",
    "payments",
    "reviews",
    "after_sales",
    "interactions",
    "locations",
    "items",
    "inventory_events",
    "inventory_counts",
)
TRUTH_TABLES = ("truth.fraudulent_sellers", "truth.inventory_drift")


@dataclass(frozen=True)
class DemoTables:
    landing: dict[str, DataFrame]  # canonical columns and types, by table name
    truth: dict[str, DataFrame]  # by `layer.table` name
    # Intermediates several outputs are computed from: worth persisting when
    # writing them all (Spark substitutes a persisted plan wherever it recurs).
    shared: dict[str, DataFrame]


def build_demo_tables(bases: Mapping[str, DataFrame], p: DemoParams) -> DemoTables:
    """Every landing table and truth table, lazily."""
    plan = mk.build_order_plan(bases["orders"], p)
    sellers = sel.build_sellers(bases["sellers"], p)
    locations = inv.build_locations(bases["locations"], p)
    items = inv.build_items(bases["skus"], p)
    pairs = inv.build_assortment(locations, items, p)
    ledger = inv.build_ledger(pairs, p)
    counts = cnt.build_counts(pairs, ledger, p)
    tables = {
        "sellers": sellers,
        "customers": mk.build_customers(bases["customers"], plan, p),
        "products": cat.build_products(bases["sellers"], p),
        "categories": cat.build_categories(bases["categories"]),
        "orders": mk.orders_from_plan(plan),
        "order_items": mk.order_items_from_plan(plan),
        "payments": mk.payments_from_plan(plan, p),
        "reviews": fb.reviews_from_plan(plan, p),
        "after_sales": fb.after_sales_from_plan(plan, p),
        "interactions": fb.interactions_from_plan(plan, p),
        "locations": locations,
        "items": items,
        "inventory_events": inv.with_duplicate_events(ledger, p),
        "inventory_counts": counts,
    }
    return DemoTables(
        landing={name: select_canonical(tables[name], name) for name in LANDING_TABLES},
        truth={
            "truth.fraudulent_sellers": sel.fraud_truth(sellers),
            "truth.inventory_drift": cnt.drift_truth(counts),
        },
        shared={"order_plan": plan, "ledger": ledger, "counts": counts},
    )
