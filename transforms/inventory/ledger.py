"""The inventory ledger as replay input: one row per event id, its arrival, its deltas.

Two quantities move: `on_hand` (physical stock in the building) and
`reserved` (held for buy-online-pickup-in-store). RESERVE moves stock from
available to reserved and RELEASE moves it back; neither changes on-hand, so
available = on_hand - reserved. ADJUSTMENT quantities are signed; every other
type carries a positive quantity and its direction comes from the type.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from catalog.tables import INVENTORY_EVENT_TYPES, ON_HAND_SIGN, RECON_PREFIX, RESERVED_SIGN, TABLES

# Adjustments this job writes back to the ledger: `recon:<count_id>`. Their effect is
# carried by the snapshot chain, so the replay skips them (never counted twice).
EVENT_COLUMNS = tuple(TABLES["inventory_events"].names)
PAIR = ("location_id", "sku")


def arrival() -> Column:
    """When an event reached the lake: its ingestion time, else its event time."""
    return F.coalesce(F.col("ingested_at"), F.col("event_ts"))


def is_recon_adjustment() -> Column:
    return (F.col("event_type") == "ADJUSTMENT") & F.col("event_id").startswith(RECON_PREFIX)


def dedup_events(events: DataFrame) -> DataFrame:
    """One row per event_id, the first delivery (earliest arrival, ties by content),
    with its `arrival`. A duplicate delivered later is neither counted nor late.

    A window rank, not `min(struct(...))` per id: an aggregate over a struct cannot
    hash, so Spark sorts every row twice (before and after the shuffle); the rank sorts
    once after it. Rows tied on every column are identical, so either is the same row.
    """
    others = [c for c in EVENT_COLUMNS if c != "event_id"]
    first = Window.partitionBy("event_id").orderBy("arrival", *others)
    return (
        events.where(F.col("event_id").isNotNull())
        .select("event_id", *others, arrival().alias("arrival"))
        .withColumn("_delivery", F.row_number().over(first))
        .where(F.col("_delivery") == 1)
        .drop("_delivery")
    )


def with_event_errors(events: DataFrame) -> DataFrame:
    """`reasons`: why an event cannot be replayed (empty when it can)."""
    is_directional = F.col("event_type") != "ADJUSTMENT"
    checks = [
        F.when(~F.col("event_type").isin(*INVENTORY_EVENT_TYPES), F.lit("unknown_event_type")),
        F.when(is_directional & (F.col("quantity") < 0), F.lit("negative_quantity")),
        F.when(F.col("quantity").isNull(), F.lit("missing_value:quantity")),
        F.when(F.col("event_ts").isNull(), F.lit("missing_value:event_ts")),
        F.when(F.col("location_id").isNull() | F.col("sku").isNull(), F.lit("missing_pair")),
    ]
    return events.withColumn("reasons", F.array_compact(F.array(*checks)))


def _signed(signs: dict[str, int]) -> Column:
    out = F.lit(0).cast("long")
    for etype, sign in signs.items():
        out = F.when(F.col("event_type") == etype, F.col("quantity") * sign).otherwise(out)
    return out.cast("long")


def with_deltas(events: DataFrame) -> DataFrame:
    """`d_on_hand` and `d_reserved`: what the event does to each quantity."""
    return events.withColumns(
        {"d_on_hand": _signed(ON_HAND_SIGN), "d_reserved": _signed(RESERVED_SIGN)}
    )


def has_errors() -> Column:
    return F.size("reasons") > 0


def filter_arrived(events: DataFrame, cutoff: Column) -> DataFrame:
    """Events that had arrived before `cutoff`, without this job's own adjustments."""
    return events.where(~is_recon_adjustment() & (F.col("arrival") < cutoff))


def replay_events(events: DataFrame, cutoff: Column) -> DataFrame:
    """Valid, deduplicated, arrived events with their deltas: the replay's input.

    Invalid rows go before the dedup, so a bad delivery never hides a good one.
    """
    return (
        events.transform(with_event_errors)
        .where(~has_errors())
        .drop("reasons")
        .transform(dedup_events)
        .transform(filter_arrived, cutoff)
        .transform(with_deltas)
        .select(*PAIR, "event_id", "event_ts", "arrival", "d_on_hand", "d_reserved")
    )


def rejected_events(events: DataFrame) -> DataFrame:
    """Events the replay cannot use, one row per event id, with `reasons`."""
    return (
        events.transform(with_event_errors)
        .where(has_errors())
        .drop("reasons")
        .transform(dedup_events)
        .drop("arrival")
        .transform(with_event_errors)
    )
