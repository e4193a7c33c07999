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
from pyspark.sql import functions as F

from demo_data import counts as cnt
from demo_data import feedback as fb
from demo_data import inventory as inv
from demo_data import marketplace as mk
from demo_data import products as cat
from demo_data import sellers as sel
from demo_data.core import DemoParams, select_canonical

__all__ = [
    "LANDING_TABLES",
    "TRUTH_TABLES",
    "DemoParams",
    "DemoTables",
    "build_demo_tables",
    "with_arrival_day",
]

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
# When each landing row arrives: the day of this timestamp (tables without one
# arrive on the window's first day; order lines and payments with their order).
ARRIVES_WITH = {
    "sellers": "registered_at",
    "customers": "created_at",
    "products": "listed_at",
    "orders": "purchased_at",
    "reviews": "created_at",
    "after_sales": "opened_at",
    "interactions": "event_ts",
    "inventory_events": "coalesce(ingested_at, event_ts)",
    "inventory_counts": "count_ts",
}
ARRIVES_WITH_ORDER = ("order_items", "payments")
ARRIVAL_DAY = "day"


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
            "truth.fraudulent_sellers": sel.fraud_truth(sellers, p),
            "truth.inventory_drift": cnt.drift_truth(counts),
        },
        shared={"order_plan": plan, "ledger": ledger, "counts": counts},
    )


def with_arrival_day(landing: Mapping[str, DataFrame], table: str, p: DemoParams) -> DataFrame:
    """One landing table with `day`, the day its row arrives, within the window: the
    tables cut by day are the whole output, each row on exactly one day."""
    df = landing[table]
    if table in ARRIVES_WITH:
        arrival = F.to_date(F.expr(ARRIVES_WITH[table]))
    elif table in ARRIVES_WITH_ORDER:
        placed = landing["orders"].select("order_id", F.to_date("purchased_at").alias("_placed"))
        df = df.join(placed, on="order_id", how="left")
        arrival = F.col("_placed")
    else:
        arrival = F.lit(None).cast("date")
    first, last = F.lit(p.start_date), F.lit(p.end_date)
    day = F.least(F.greatest(F.coalesce(arrival, first), first), last)
    return df.withColumn(ARRIVAL_DAY, day).select(*landing[table].columns, ARRIVAL_DAY)
