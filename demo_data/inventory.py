"""Synthetic store network: locations, items and the inventory ledger.

Each (location, sku) a location carries starts with a RESTOCK large enough
for every outflow it can see, so physical on-hand never goes negative. DCs
carry every SKU, stores a class-weighted subset: a few DCs hold far more rows
than any store (real skew). Events sit on even seconds (counts, in
`counts`, on odd ones).
"""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from demo_data.core import DAY_S, HOUR_S, DemoParams
from transforms.common.seeded import at, by_class, even_offset, normal, randint, uniform, weighted

REGIONS = ("NORTHEAST", "SOUTHEAST", "MIDWEST", "SOUTHWEST", "WEST")
DEPARTMENTS = (
    ("grocery", 4.0),
    ("household", 6.0),
    ("apparel", 12.0),
    ("electronics", 60.0),
    ("toys", 15.0),
    ("health", 8.0),
    ("garden", 20.0),
    ("pets", 10.0),
)
STORE_FORMATS = (
    ("SUPERCENTER", 0.5, 150_000, 220_000),
    ("DISCOUNT", 0.3, 80_000, 140_000),
    ("NEIGHBORHOOD", 0.2, 30_000, 60_000),
)
DC_SIZE_SQFT = (500_000, 1_200_000)
ABC_SHARES = (0.2, 0.3)  # A, B; the rest is C
# A store carries a sku with probability share x class factor (mean factor ~1).
CARRY_FACTOR = {"A": 2.0, "B": 1.0, "C": 0.6}
STORE_EVENTS_PER_DAY = {"A": 4.0, "B": 1.5, "C": 0.5}
# DCs fulfil the region's online orders: as busy per SKU as a store.
DC_ONLINE_SALES_PER_DAY = {"A": 4.0, "B": 1.5, "C": 0.5}
STORE_SLOT_TYPES = (("SALE", 0.80), ("RETURN", 0.06), ("ADJUSTMENT", 0.02), ("RESERVE", 0.12))
DC_SLOT_TYPES = (("SALE", 0.9), ("ADJUSTMENT", 0.1))
MAX_STORE_SALE_QTY = 3
MAX_DC_SALE_QTY = 2
TRANSFER_QTY = (4, 24)
SUPPLIER_RESTOCK_QTY = (50, 250)
ONLINE_SALE_SHARE = 0.15  # of store sales: ship-from-store
LATE_INGEST_SHARE = 0.01


def build_locations(base: DataFrame, p: DemoParams) -> DataFrame:
    """Stores S00001.. then DCs D001..; each store is served by one DC, in the DC's region."""
    is_store = F.col("id") < p.stores
    number = F.when(is_store, F.col("id") + 1).otherwise(F.col("id") - p.stores + 1)
    dc_number = F.when(is_store, F.pmod(F.col("id"), F.lit(p.dcs)) + 1).otherwise(number)
    u_format = uniform(p.seed, "store_format", "id")
    store_format = weighted([(f, w) for f, w, _, _ in STORE_FORMATS], u_format)
    size = F.lit(0)
    for fmt, _, low, high in STORE_FORMATS:
        size = F.when(
            store_format == fmt, randint(uniform(p.seed, "size", "id"), low, high)
        ).otherwise(size)
    return base.select(
        F.when(is_store, F.format_string("S%05d", number))
        .otherwise(F.format_string("D%03d", number))
        .alias("location_id"),
        F.when(is_store, F.lit("STORE")).otherwise(F.lit("DC")).alias("location_type"),
        at(REGIONS, F.pmod(dc_number - 1, F.lit(len(REGIONS)))).alias("region"),
        F.when(is_store, store_format).otherwise(F.lit("DC")).alias("store_format"),
        F.when(is_store, size)
        .otherwise(randint(uniform(p.seed, "size", "id"), *DC_SIZE_SQFT))
        .cast("long")
        .alias("size_sqft"),
        F.format_string("D%03d", dc_number).alias("dc_id"),
        (is_store & (uniform(p.seed, "rfid", "id") < p.rfid_store_share)).alias("has_rfid"),
    )


def build_items(base: DataFrame, p: DemoParams) -> DataFrame:
    """SKUs with an exact 20/30/50% A/B/C split and a department-based unit cost."""
    a_cut = math.ceil(ABC_SHARES[0] * p.skus)
    b_cut = math.ceil((ABC_SHARES[0] + ABC_SHARES[1]) * p.skus)
    dept = F.floor(uniform(p.seed, "department", "id") * len(DEPARTMENTS))
    base_cost = at([c for _, c in DEPARTMENTS], dept)
    return base.select(
        F.format_string("SKU%05d", F.col("id") + 1).alias("sku"),
        at([d for d, _ in DEPARTMENTS], dept).alias("category"),
        F.when(F.col("id") < a_cut, F.lit("A"))
        .when(F.col("id") < b_cut, F.lit("B"))
        .otherwise(F.lit("C"))
        .alias("abc_class"),
        F.round(base_cost * F.exp(0.5 * normal(p.seed, "unit_cost", "id")), 2).alias("unit_cost"),
    )


def build_assortment(locations: DataFrame, items: DataFrame, p: DemoParams) -> DataFrame:
    """(location, sku) pairs carried: DCs every SKU, stores a class-weighted subset."""
    share = F.least(F.lit(1.0), p.store_assortment_share * by_class("abc_class", CARRY_FACTOR, 1.0))
    is_carried = (F.col("location_type") == "DC") | (
        uniform(p.seed, "assortment", "location_id", "sku") < share
    )
    return (
        locations.select("location_id", "location_type", "dc_id", "has_rfid")
        .join(F.broadcast(items.select("sku", "abc_class")), how="cross")
        .where(is_carried)
    )


def _event(
    event_id: Column, location: Column, etype: Column, qty: Column, source: Column, at_s: Column
) -> Column:
    return F.struct(
        event_id.alias("event_id"),
        location.alias("location_id"),
        etype.alias("event_type"),
        qty.cast("long").alias("quantity"),
        source.alias("source"),
        at_s.cast("long").alias("event_s"),
    )


def _n_transfers(p: DemoParams) -> int:
    """Weekly transfers whose TRANSFER_IN lands before the window end."""
    return (p.inventory_days - 4) // 7 + 1


def _slot_events(pairs: DataFrame, p: DemoParams) -> DataFrame:
    """Sales, returns, adjustments and reservations (a RESERVE plus its RELEASE)."""
    is_store = F.col("location_type") == "STORE"
    key = ["location_id", "sku", "slot"]

    def u(purpose: str) -> Column:
        return uniform(p.seed, purpose, *key)

    etype = F.when(is_store, weighted(STORE_SLOT_TYPES, u("slot_type"))).otherwise(
        weighted(DC_SLOT_TYPES, u("slot_type"))
    )
    qty = (
        F.when(
            etype == "SALE",
            F.when(is_store, randint(u("qty"), 1, MAX_STORE_SALE_QTY)).otherwise(
                randint(u("qty"), 1, MAX_DC_SALE_QTY)
            ),
        )
        .when(etype == "RETURN", F.lit(1))
        .otherwise(randint(u("qty"), 1, 2))
    )
    source = (
        F.when(etype == "RETURN", F.lit("POS"))
        .when(etype == "ADJUSTMENT", F.lit("RFID"))
        .when(etype == "RESERVE", F.lit("ONLINE"))
        .when(is_store & (u("channel") >= ONLINE_SALE_SHARE), F.lit("POS"))
        .otherwise(F.lit("ONLINE"))
    )
    # Slots end two days early so each RELEASE (1h-25h after its RESERVE) is in the window.
    at_s = F.lit(p.inventory_start_s + 2) + even_offset(
        u("slot_ts"), p.inventory_days * DAY_S - 2 * DAY_S
    )
    release_s = F.col("x.event_s") + HOUR_S + even_offset(u("release_ts"), DAY_S)
    slot_id = F.concat_ws("-", F.lit("ev"), "location_id", "sku", F.format_string("s%05d", "slot"))
    slots = pairs.withColumn(
        "slot", F.explode(F.sequence(F.lit(0), F.col("n_slots") - 1))
    ).withColumn("x", _event(slot_id, F.col("location_id"), etype, qty, source, at_s))
    releases = slots.where(F.col("x.event_type") == "RESERVE").withColumn(
        "x",
        _event(
            F.concat(slot_id, F.lit("r")),
            F.col("location_id"),
            F.lit("RELEASE"),
            F.col("x.quantity"),
            F.lit("ONLINE"),
            release_s,
        ),
    )
    return slots.unionByName(releases).select("sku", "x.*")


def _transfer_events(pairs: DataFrame, p: DemoParams) -> DataFrame:
    """Weekly DC -> store replenishment: TRANSFER_OUT at the DC, TRANSFER_IN hours later."""
    key = ["location_id", "sku", "t"]
    out_s = (
        F.lit(p.inventory_start_s + DAY_S)
        + F.col("t") * 7 * DAY_S
        + even_offset(uniform(p.seed, "transfer_ts", *key), 2 * DAY_S)
    )
    in_s = out_s + 4 * HOUR_S + even_offset(uniform(p.seed, "transit_ts", *key), 16 * HOUR_S)
    qty = randint(uniform(p.seed, "transfer_qty", *key), *TRANSFER_QTY)
    base_id = F.concat_ws(
        "-", F.lit("ev"), "dc_id", "sku", "location_id", F.format_string("t%02d", "t")
    )
    store_id = F.concat_ws("-", F.lit("ev"), "location_id", "sku", F.format_string("t%02d", "t"))
    both = F.array(
        _event(
            F.concat(base_id, F.lit("o")),
            F.col("dc_id"),
            F.lit("TRANSFER_OUT"),
            qty,
            F.lit("WAREHOUSE"),
            out_s,
        ),
        _event(
            F.concat(store_id, F.lit("i")),
            F.col("location_id"),
            F.lit("TRANSFER_IN"),
            qty,
            F.lit("WAREHOUSE"),
            in_s,
        ),
    )
    return (
        pairs.where(F.col("location_type") == "STORE")
        .withColumn("t", F.explode(F.sequence(F.lit(0), F.lit(_n_transfers(p) - 1))))
        .select("sku", F.explode(both).alias("x"))
        .select("sku", "x.*")
    )


def _restock_events(pairs: DataFrame, p: DemoParams) -> DataFrame:
    """The opening RESTOCK of every pair, plus weekly supplier restocks at DCs."""
    n_t = _n_transfers(p)
    stores_per_dc = math.ceil(p.stores / p.dcs)
    max_out = F.when(
        F.col("location_type") == "STORE", F.col("n_slots") * MAX_STORE_SALE_QTY
    ).otherwise(stores_per_dc * n_t * TRANSFER_QTY[1] + F.col("n_slots") * MAX_DC_SALE_QTY)
    opening_qty = max_out + randint(uniform(p.seed, "opening_qty", "location_id", "sku"), 2, 20)
    opening = pairs.select(
        "sku",
        _event(
            F.concat_ws("-", F.lit("ev"), "location_id", "sku", F.lit("open")),
            F.col("location_id"),
            F.lit("RESTOCK"),
            opening_qty,
            F.lit("WAREHOUSE"),
            F.lit(p.inventory_start_s),
        ).alias("x"),
    )
    key = ["location_id", "sku", "t"]
    weekly = (
        pairs.where(F.col("location_type") == "DC")
        .withColumn("t", F.explode(F.sequence(F.lit(0), F.lit(n_t - 1))))
        .select(
            "sku",
            _event(
                F.concat_ws("-", F.lit("ev"), "location_id", "sku", F.format_string("w%02d", "t")),
                F.col("location_id"),
                F.lit("RESTOCK"),
                randint(uniform(p.seed, "restock_qty", *key), *SUPPLIER_RESTOCK_QTY),
                F.lit("WAREHOUSE"),
                F.lit(p.inventory_start_s + 12 * HOUR_S)
                + F.col("t") * 7 * DAY_S
                + even_offset(uniform(p.seed, "restock_ts", *key), DAY_S),
            ).alias("x"),
        )
    )
    return opening.unionByName(weekly).select("sku", "x.*")


def build_ledger(pairs: DataFrame, p: DemoParams) -> DataFrame:
    """inventory_events without duplicates, with `event_s` and typed timestamps."""
    rate = F.when(
        F.col("location_type") == "STORE", by_class("abc_class", STORE_EVENTS_PER_DAY, 1.0)
    ).otherwise(by_class("abc_class", DC_ONLINE_SALES_PER_DAY, 1.0))
    sized = pairs.withColumn("n_slots", F.ceil(rate * p.inventory_days).cast("int"))
    events = (
        _restock_events(sized, p)
        .unionByName(_slot_events(sized, p))
        .unionByName(_transfer_events(sized, p))
    )
    u_lag = uniform(p.seed, "ingest_lag", "event_id")
    lag = F.when(
        u_lag < LATE_INGEST_SHARE, HOUR_S + F.floor(u_lag / LATE_INGEST_SHARE * 5 * HOUR_S)
    ).otherwise(1 + F.floor(u_lag * 300))
    return events.withColumns(
        {
            "event_ts": F.timestamp_seconds("event_s"),
            "ingested_at": F.timestamp_seconds((F.col("event_s") + lag).cast("long")),
        }
    )


def with_duplicate_events(ledger: DataFrame, p: DemoParams) -> DataFrame:
    """A few ledger rows delivered twice (same event_id, identical content)."""
    dups = ledger.where(uniform(p.seed, "duplicate", "event_id") < p.duplicate_event_share)
    return ledger.unionByName(dups)
