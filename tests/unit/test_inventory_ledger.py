"""The ledger as replay input: dedup, validity, deltas per event type, arrival cut-off."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F

from transforms.inventory.ledger import (
    dedup_events,
    rejected_events,
    replay_events,
    with_deltas,
    with_event_errors,
)

EVENT_SCHEMA = (
    "event_id string, location_id string, sku string, event_type string, quantity long, "
    "source string, event_ts timestamp, ingested_at timestamp"
)
T0 = dt.datetime(2025, 6, 1, 10)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_deltas_of_each_event_type(spark):
    rows = [
        (etype, q)
        for etype, q in [
            ("RESTOCK", 10), ("RETURN", 2), ("TRANSFER_IN", 4), ("ADJUSTMENT", -3),
            ("SALE", 5), ("TRANSFER_OUT", 6), ("RESERVE", 7), ("RELEASE", 8), ("ADJUSTMENT", 1),
        ]
    ]  # fmt: skip
    df = spark.createDataFrame(rows, "event_type string, quantity long")
    got = df.transform(with_deltas)
    expected = spark.createDataFrame(
        [
            ("RESTOCK", 10, 10, 0),
            ("RETURN", 2, 2, 0),
            ("TRANSFER_IN", 4, 4, 0),
            ("ADJUSTMENT", -3, -3, 0),  # signed
            ("SALE", 5, -5, 0),
            ("TRANSFER_OUT", 6, -6, 0),
            ("RESERVE", 7, 0, 7),  # available -> reserved: on-hand unchanged
            ("RELEASE", 8, 0, -8),
            ("ADJUSTMENT", 1, 1, 0),
        ],
        "event_type string, quantity long, d_on_hand long, d_reserved long",
    )
    assert_df_equality(got, expected, ignore_nullable=True)


def test_duplicates_count_once_and_the_first_delivery_wins(spark):
    events = spark.createDataFrame(
        [
            ("e1", "L", "S", "SALE", 1, "POS", at(0), at(1)),
            ("e1", "L", "S", "SALE", 1, "POS", at(0), at(1)),  # identical duplicate
            ("e2", "L", "S", "SALE", 2, "POS", at(5), at(90)),  # re-delivered later
            ("e2", "L", "S", "SALE", 2, "POS", at(5), at(6)),
            ("e3", "L", "S", "SALE", 3, "POS", at(7), None),  # no ingestion time: arrival = event
        ],
        EVENT_SCHEMA,
    )
    got = events.transform(dedup_events).select("event_id", "quantity", "arrival")
    expected = spark.createDataFrame(
        [("e1", 1, at(1)), ("e2", 2, at(6)), ("e3", 3, at(7))],
        "event_id string, quantity long, arrival timestamp",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_replay_input_skips_invalid_own_adjustments_and_not_yet_arrived(spark):
    events = spark.createDataFrame(
        [
            ("ok", "L", "S", "SALE", 1, "POS", at(0), at(1)),
            ("neg", "L", "S", "SALE", -1, "POS", at(0), at(1)),  # bad: quarantined
            ("adj", "L", "S", "ADJUSTMENT", -2, "RFID", at(0), at(1)),  # a real adjustment
            ("recon:c9", "L", "S", "ADJUSTMENT", 5, "RFID", at(0), at(1)),  # this job's own
            ("late", "L", "S", "RETURN", 1, "POS", at(0), at(120)),  # arrives after the cut-off
            ("nullq", "L", "S", "SALE", None, "POS", at(0), at(1)),
        ],
        EVENT_SCHEMA,
    )
    got = replay_events(events, F.lit(at(60))).select("event_id", "d_on_hand", "d_reserved")
    expected = spark.createDataFrame(
        [("ok", -1, 0), ("adj", -2, 0)], "event_id string, d_on_hand long, d_reserved long"
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    rejected = rejected_events(events).select("event_id", "reasons")
    assert sorted(map(tuple, rejected.collect())) == [
        ("neg", ["negative_quantity"]),
        ("nullq", ["missing_value:quantity"]),
    ]


def test_event_errors_name_every_reason(spark):
    events = spark.createDataFrame(
        [
            ("x", None, "S", "TELEPORT", 1, "POS", at(0), at(1)),
            ("y", "L", "S", "ADJUSTMENT", -9, "RFID", None, at(1)),
        ],
        EVENT_SCHEMA,
    )
    got = {r.event_id: r.reasons for r in events.transform(with_event_errors).collect()}
    assert got == {
        "x": ["unknown_event_type", "missing_pair"],
        "y": ["missing_value:event_ts"],  # a negative ADJUSTMENT is fine
    }
