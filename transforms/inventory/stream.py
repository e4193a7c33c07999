"""Inventory ledger events as a stream: parse, validate, and keep the current book per pair.

Pure DataFrame functions shared by `inventory_stream` (one micro-batch at a
time) and by batch code and tests (every event at once): the stream's
`gold.inventory_book_current` must equal `current_book` over the same valid
events. Validation and the effect of each event type are the ledger's own
(`transforms.inventory.ledger`), so a message the batch replay would reject is
quarantined here too.

A message's value is one JSON ledger event, key = location_id:

    {"event_id": "...", "location_id": "S0001", "sku": "SKU-1", "event_type": "SALE",
     "quantity": 2, "source": "POS", "event_ts": "2025-06-30T12:00:00.000Z"}
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from catalog.tables import INVENTORY_EVENT_TYPES, INVENTORY_SOURCES
from transforms.common.messages import SOURCE_COLUMNS, first_of_each, parse_messages, to_messages
from transforms.inventory.ledger import PAIR, with_deltas, with_event_errors
from transforms.inventory.outputs import ALERT_TYPES

MESSAGE_SCHEMA = T.StructType(
    [
        T.StructField("event_id", T.StringType()),
        T.StructField("location_id", T.StringType()),
        T.StructField("sku", T.StringType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("quantity", T.LongType()),
        T.StructField("source", T.StringType()),
        T.StructField("event_ts", T.TimestampType()),
    ]
)
REQUIRED = ("event_id", "location_id", "sku", "event_type", "quantity", "event_ts")
ALLOWED = {"event_type": INVENTORY_EVENT_TYPES, "source": INVENTORY_SOURCES}
# Units one event may move, either way. The book adds quantities up as 64-bit integers
# and Spark's ANSI mode fails the query on an overflow: bounded like this, a pair's
# total overflows only after some 9 billion events at the bound. A larger one is
# `invalid_quantity`.
MAX_QUANTITY = 1_000_000_000
BOUNDS = {"quantity": (-MAX_QUANTITY, MAX_QUANTITY)}
EVENT_FIELDS = tuple(MESSAGE_SCHEMA.fieldNames())
# bronze.inventory_stream_events: the event, where it came from and when the broker got it.
BRONZE_COLUMNS = (*EVENT_FIELDS, *SOURCE_COLUMNS, "received_at")
QUARANTINE_COLUMNS = ("reason", "value", *SOURCE_COLUMNS, "received_at", "event_id", "event_ts")
BOOK_COLUMNS = (
    *PAIR,
    "on_hand",
    "reserved",
    "available",
    "events",
    "last_event_ts",
)


def parse_inventory_messages(raw: DataFrame) -> DataFrame:
    """Every message once with a `reason` (null = valid): the message checks first, then the
    ledger's own (e.g. `negative_quantity` on a SALE), so the stream rejects what replay would."""
    parsed = parse_messages(raw, MESSAGE_SCHEMA, REQUIRED, ALLOWED, BOUNDS)
    ledger = with_event_errors(parsed)
    return ledger.withColumn(
        "reason", F.coalesce(F.col("reason"), F.try_element_at("reasons", F.lit(1)))
    ).drop("reasons")


def first_deliveries(events: DataFrame) -> DataFrame:
    """Valid events, one row per event_id (the earliest message), in the bronze layout."""
    return first_of_each(events, "event_id", BRONZE_COLUMNS)


def stream_quarantine_rows(events: DataFrame) -> DataFrame:
    return events.where(F.col("reason").isNotNull()).select(*QUARANTINE_COLUMNS)


def book_changes(events: DataFrame) -> DataFrame:
    """Per (location, sku): what the events do to on-hand and reserved stock, how many
    there were and the latest event time (BOOK_COLUMNS; available = on_hand - reserved)."""
    return (
        with_deltas(events)
        .groupBy(*PAIR)
        .agg(
            F.sum("d_on_hand").alias("on_hand"),
            F.sum("d_reserved").alias("reserved"),
            F.count(F.lit(1)).alias("events"),
            F.max("event_ts").alias("last_event_ts"),
        )
        .withColumn("available", F.col("on_hand") - F.col("reserved"))
        .select(*BOOK_COLUMNS)
    )


def current_book(events: DataFrame) -> DataFrame:
    """The batch computation: the book of every pair from all its valid events, each
    event id once (the first delivery by partition and offset)."""
    return book_changes(first_deliveries(parse_inventory_messages(events)))


def negative_stock_alerts(book: DataFrame) -> DataFrame:
    """One row per pair and kind of negative stock (NEGATIVE_ON_HAND, NEGATIVE_AVAILABLE)."""
    kinds = F.array_compact(
        F.array(
            F.when(F.col("on_hand") < 0, F.lit(ALERT_TYPES[0])),
            F.when(F.col("available") < 0, F.lit(ALERT_TYPES[1])),
        )
    )
    return book.select(F.explode(kinds).alias("alert_type"), *book.columns)


def to_inventory_messages(events: DataFrame, topic: str, partitions: int) -> DataFrame:
    """Kafka-shaped ledger events, key location_id (a location's events stay in order)."""
    return to_messages(events, MESSAGE_SCHEMA, "location_id", topic, partitions)
