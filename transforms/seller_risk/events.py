"""Seller events as a stream: parse and validate raw messages, split late ones, window them.

Pure DataFrame functions shared by the streaming job (`seller_risk_stream`,
one micro-batch at a time) and by batch code and tests (the same functions over
every event at once): the stream's gold table must equal the batch computation.

A raw message has Kafka's columns (key, value, topic, partition, offset,
timestamp); the value is a JSON object:

    {"event_id": "...", "event_type": "order_placed", "seller_id": "...",
     "event_ts": "2025-06-30T12:00:00Z", "order_id": "...", "buyer_id": "...",
     "amount": 12.5, "score": 5}

`amount` is money, exact: DECIMAL(18, 2) like the catalog's amounts. An amount with
more than 2 decimal places, or beyond 16 integer digits (1e308, NaN, Infinity), is
`invalid_amount`, never rounded.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.common.messages import SOURCE_COLUMNS, first_of_each, parse_messages, to_messages
from transforms.seller_risk.training import build_training_set

EVENT_TYPES = (
    "order_placed",
    "order_cancelled",
    "refund",
    "chargeback",
    "review_posted",
    "listing_created",
)
EVENT_SCHEMA = T.StructType(
    [
        T.StructField("event_id", T.StringType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("seller_id", T.StringType()),
        T.StructField("event_ts", T.TimestampType()),
        T.StructField("order_id", T.StringType()),
        T.StructField("buyer_id", T.StringType()),
        T.StructField("amount", T.DecimalType(18, 2)),
        T.StructField("score", T.IntegerType()),
    ]
)
EVENT_COLUMNS = tuple(EVENT_SCHEMA.fieldNames())
REQUIRED = ("event_id", "event_type", "seller_id", "event_ts")
# bronze.seller_events: the event, where it came from and when the broker got it.
BRONZE_COLUMNS = (*EVENT_COLUMNS, *SOURCE_COLUMNS, "received_at")
QUARANTINE_COLUMNS = ("reason", "value", *SOURCE_COLUMNS, "received_at", "event_id", "event_ts")
WINDOW_KEY = ("seller_id", "window_minutes", "window_start")
GMV_TYPE = T.DecimalType(18, 2)  # gold.seller_risk_realtime.gmv
# (output column, event type counted); gmv sums order_placed amounts.
COUNTED = (
    ("orders", "order_placed"),
    ("cancellations", "order_cancelled"),
    ("refunds", "refund"),
    ("chargebacks", "chargeback"),
    ("reviews", "review_posted"),
    ("listings", "listing_created"),
)


def parse_events(raw: DataFrame) -> DataFrame:
    """Every raw message once: its event fields, source position and `reason` (null = valid);
    fields outside their limits are invalid (transforms.common.messages)."""
    return parse_messages(raw, EVENT_SCHEMA, REQUIRED, {"event_type": EVENT_TYPES})


def with_late_reason(events: DataFrame, watermark: Column | None) -> DataFrame:
    """Valid events older than the watermark get reason `late` (null watermark: none are)."""
    if watermark is None:
        return events
    late = F.col("reason").isNull() & (F.col("event_ts") < watermark)
    return events.withColumn("reason", F.when(late, F.lit("late")).otherwise(F.col("reason")))


def first_of_each_event(events: DataFrame) -> DataFrame:
    """Valid events, one row per event_id: the earliest message (lowest partition, offset)."""
    return first_of_each(events, "event_id", BRONZE_COLUMNS)


def first_seen_events(events: DataFrame) -> DataFrame:
    """Valid events a stream sees first (`first_seen`, from its state store), in the
    bronze layout: one row per event id."""
    return events.where(F.col("reason").isNull() & F.col("first_seen")).select(*BRONZE_COLUMNS)


def quarantine_rows(events: DataFrame) -> DataFrame:
    return events.where(F.col("reason").isNotNull()).select(*QUARANTINE_COLUMNS)


def in_windows(events: DataFrame, minutes: Sequence[int]) -> DataFrame:
    """Each event once per window length, with the start of its tumbling window
    (`window_minutes`, `window_start`; windows align to the epoch, like Spark's `window`)."""
    length_s = F.col("window_minutes").cast("long") * 60
    return events.withColumn(
        "window_minutes", F.explode(F.array(*[F.lit(m) for m in minutes]))
    ).withColumn(
        "window_start",
        F.timestamp_seconds(F.floor(F.unix_timestamp("event_ts") / length_s) * length_s),
    )


def aggregate_windows(windowed: DataFrame) -> DataFrame:
    """Velocity features per (seller, window) of `in_windows` rows: counts per event type,
    GMV (order_placed amounts, summed exactly as decimals) and all events.

    Nothing here can fail on an event's content (Spark's ANSI mode fails a query on an
    overflow): the sum is DECIMAL(28, 2), and a window whose GMV does not fit the
    table's DECIMAL(18, 2) (10^16) gets a null `gmv`. Amounts are cast with try_cast:
    bronze tables written before amounts were decimal hold doubles.
    """
    counts = [F.count_if(F.col("event_type") == t).alias(name) for name, t in COUNTED]
    placed = F.when(
        F.col("event_type") == "order_placed",
        F.col("amount").try_cast(EVENT_SCHEMA["amount"].dataType),
    )
    return (
        windowed.groupBy(*WINDOW_KEY)
        .agg(
            *counts,
            F.coalesce(F.sum(placed), F.lit(0)).alias("gmv_total"),
            F.count(F.lit(1)).alias("events"),
        )
        .select(
            *WINDOW_KEY,
            (F.col("window_start") + F.make_interval(mins=F.col("window_minutes"))).alias(
                "window_end"
            ),
            *[name for name, _ in COUNTED],
            F.col("gmv_total").try_cast(GMV_TYPE).alias("gmv"),
            "events",
        )
    )


def window_features(events: DataFrame, minutes: Sequence[int]) -> DataFrame:
    """The batch computation: features of every window of every event."""
    return aggregate_windows(in_windows(events, minutes))


def events_from_silver(
    seller_orders: DataFrame,
    after_sales: DataFrame,
    reviews: DataFrame,
    products: DataFrame,
) -> DataFrame:
    """The seller events the silver tables imply, one row per event (EVENT_COLUMNS).

    The silver tables keep no cancellation time: a cancellation is dated at its
    order's purchase. Cases and reviews without an order-seller link are skipped.
    """
    null = {c: F.lit(None).cast(t.dataType) for c, t in ((f.name, f) for f in EVENT_SCHEMA.fields)}
    dated = seller_orders.where(F.col("has_order_row") & F.col("ordered_at").isNotNull())

    def rows(
        df: DataFrame, event_type: str | Column, event_id: Column, **cols: Column
    ) -> DataFrame:
        kind = F.lit(event_type) if isinstance(event_type, str) else event_type
        values = {**null, **cols, "event_id": event_id, "event_type": kind}
        return df.select(
            *[values[c].cast(EVENT_SCHEMA[c].dataType).alias(c) for c in EVENT_COLUMNS]
        )

    placed = rows(
        dated,
        "order_placed",
        F.concat_ws(":", F.lit("op"), "order_id", "seller_id"),
        seller_id=F.col("seller_id"),
        event_ts=F.col("ordered_at"),
        order_id=F.col("order_id"),
        buyer_id=F.col("buyer_id"),
        amount=F.col("gmv_cents").cast("decimal(20,0)") / 100,  # exact
    )
    cancelled = rows(
        dated.where(F.col("status") == "canceled"),
        "order_cancelled",
        F.concat_ws(":", F.lit("oc"), "order_id", "seller_id"),
        seller_id=F.col("seller_id"),
        event_ts=F.col("ordered_at"),
        order_id=F.col("order_id"),
        buyer_id=F.col("buyer_id"),
    )
    sellers_of = dated.select("order_id", F.col("seller_id").alias("order_seller"))
    # A case names its seller; one that does not counts for every seller of the order.
    cases = (
        after_sales.where(
            F.col("case_type").isin("REFUND", "CHARGEBACK") & F.col("opened_at").isNotNull()
        )
        .join(sellers_of, on="order_id", how="inner")
        .where(F.col("seller_id").isNull() | (F.col("seller_id") == F.col("order_seller")))
    )
    cases = rows(
        cases,
        F.lower("case_type"),
        F.concat_ws(":", F.lit("cs"), "case_id", "order_seller"),
        seller_id=F.col("order_seller"),
        event_ts=F.col("opened_at"),
        order_id=F.col("order_id"),
        amount=F.col("amount"),
    )
    reviewed = rows(
        reviews.where(F.col("created_at").isNotNull()).join(sellers_of, on="order_id", how="inner"),
        "review_posted",
        F.concat_ws(":", F.lit("rv"), "review_id", "order_id", "order_seller"),
        seller_id=F.col("order_seller"),
        event_ts=F.col("created_at"),
        order_id=F.col("order_id"),
        score=F.col("score"),
    )
    listed = rows(
        products.where(F.col("seller_id").isNotNull() & F.col("listed_at").isNotNull()),
        "listing_created",
        F.concat_ws(":", F.lit("ls"), "product_id"),
        seller_id=F.col("seller_id"),
        event_ts=F.col("listed_at"),
    )
    return (
        placed.unionByName(cancelled).unionByName(cases).unionByName(reviewed).unionByName(listed)
    )


def to_seller_messages(events: DataFrame, topic: str, partitions: int) -> DataFrame:
    """Kafka-shaped rows, key seller_id: a seller's events stay in order in one partition."""
    return to_messages(events, EVENT_SCHEMA, "seller_id", topic, partitions)


def with_spike_flag(
    features: DataFrame, baseline: DataFrame | None, spike_factor: float, spike_min_orders: int
) -> DataFrame:
    """`baseline_orders` = the seller's 30-day daily order rate from the last daily snapshot
    strictly before the window's day, scaled to the window; `spike` when orders exceed
    `spike_factor` x that and at least `spike_min_orders` (no baseline: min orders only)."""
    if baseline is None:
        expected = F.lit(None).cast("double")
        with_base = features.withColumn("baseline_orders", expected)
    else:
        labels = features.withColumn("label_ts", F.col("window_start"))
        snapshots = baseline.select("seller_id", "as_of_date", "orders_30d")
        joined = build_training_set(labels, snapshots, lag_days=0)
        daily = F.col("orders_30d") / 30.0
        with_base = joined.withColumn(
            "baseline_orders", daily * F.col("window_minutes") / 1440.0
        ).drop("label_ts", "feature_as_of_date", "orders_30d")
    spike = spike_flag(F.col("orders"), F.col("baseline_orders"), spike_factor, spike_min_orders)
    return with_base.withColumn("spike", spike)


def spike_flag(
    orders: Column, baseline_orders: Column, spike_factor: float, spike_min_orders: int
) -> Column:
    """A window's spike: at least `spike_min_orders` orders and more than `spike_factor`
    x the baseline (no baseline: the minimum alone decides)."""
    over_baseline = F.coalesce(orders > spike_factor * baseline_orders, F.lit(True))
    return (orders >= spike_min_orders) & over_baseline


def window_increments(spike_factor: float, spike_min_orders: int) -> dict[str, Column]:
    """A MERGE's update of a stored window (`t`) by the same window's features over new
    events only (`s`, from `with_spike_flag`): counts and GMV add up, the baseline is the
    newest, the spike flag is decided on the sums. Adding increments equals recomputing
    the window from all its events, with one exception: a GMV that once did not fit
    DECIMAL(18, 2) (10^16) stays null, where a recomputation would show it again if
    negative amounts later brought the total back into range."""
    total = {c: F.col(f"t.{c}") + F.col(f"s.{c}") for c in (*(n for n, _ in COUNTED), "events")}
    return {
        **total,
        "gmv": F.try_add(F.col("t.gmv"), F.col("s.gmv")).try_cast(GMV_TYPE),
        "baseline_orders": F.col("s.baseline_orders"),
        "spike": spike_flag(
            total["orders"], F.col("s.baseline_orders"), spike_factor, spike_min_orders
        ),
    }
