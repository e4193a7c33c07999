"""Synthetic inventory counts: the true on-hand replayed from the ledger, plus drift.

A share of the (location, sku) pairs is counted once, at an odd second (ledger
events sit on even seconds, so none shares its timestamp with a count). The
count carries the physical on-hand at that instant from the generated ledger;
a few counts carry drift far outside any tolerance, recorded in
truth.inventory_drift.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from catalog.tables import ON_HAND_SIGN
from demo_data.core import DAY_S, DemoParams
from transforms.common.seeded import even_offset, hex_id, uniform

# How physical on-hand moves per event type (the ledger's own definition).
SIGN = ON_HAND_SIGN
DRIFT_MIN_UNITS = 3
DRIFT_MIN_SHARE = 0.10  # |drift| >= max(3, ceil(10% of on-hand)): far outside any tolerance
SHRINK_SHARE = 0.8  # most drift is shrink (negative)


def signed_quantity() -> Column:
    """The change of physical on-hand an event makes."""
    out = F.lit(0)
    for etype, sign in SIGN.items():
        if sign:
            out = F.when(F.col("event_type") == etype, F.col("quantity") * sign).otherwise(out)
    return out


def build_counts(pairs: DataFrame, ledger: DataFrame, p: DemoParams) -> DataFrame:
    """Counts of a share of the pairs: on-hand from the ledger, plus drift on a few."""
    key = ["location_id", "sku"]
    counts = pairs.where(uniform(p.seed, "counted", *key) < p.count_share).select(
        *key,
        hex_id(p.seed, "count", *key).alias("count_id"),
        (
            F.lit(p.inventory_start_s + DAY_S + 1)
            + even_offset(uniform(p.seed, "count_ts", *key), (p.inventory_days - 1) * DAY_S)
        ).alias("count_s"),
        F.when(F.col("has_rfid"), F.lit("RFID")).otherwise(F.lit("CYCLE")).alias("method"),
    )
    moves = ledger.select(*key, "event_s", signed_quantity().alias("delta"))
    before = F.when(F.col("event_s") < F.col("count_s"), F.col("delta")).otherwise(0)
    on_hand = (
        counts.join(moves, on=key, how="left")
        .groupBy("count_id", *key, "count_s", "method")
        .agg(F.coalesce(F.sum(before), F.lit(0)).cast("long").alias("on_hand"))
    )
    return on_hand.transform(with_drift, p)


def with_drift(counts: DataFrame, p: DemoParams) -> DataFrame:
    """counted_qty = on_hand, or on_hand + drift (|drift| well outside tolerance) on a share."""
    on_hand = F.col("on_hand")
    floor_units = F.greatest(
        F.lit(DRIFT_MIN_UNITS).cast("long"), F.ceil(on_hand * DRIFT_MIN_SHARE).cast("long")
    )
    magnitude = floor_units + F.floor(uniform(p.seed, "drift_size", "count_id") * floor_units).cast(
        "long"
    )
    is_drift = uniform(p.seed, "drift", "count_id") < p.drift_share
    is_shrink = (uniform(p.seed, "drift_sign", "count_id") < SHRINK_SHARE) & (on_hand >= magnitude)
    drift = F.when(~is_drift, F.lit(0)).when(is_shrink, -magnitude).otherwise(magnitude)
    return counts.withColumn("drift_units", drift.cast("long")).withColumns(
        {
            "counted_qty": on_hand + F.col("drift_units"),
            "count_ts": F.timestamp_seconds("count_s"),
        }
    )


def drift_truth(counts: DataFrame) -> DataFrame:
    """truth.inventory_drift: one row per count with injected drift."""
    return counts.where(F.col("drift_units") != 0).select(
        "location_id", "sku", "count_id", "drift_units"
    )
