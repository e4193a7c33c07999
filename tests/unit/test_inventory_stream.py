"""Inventory ledger messages: reasons, first deliveries, the book per pair, stock alerts."""

from __future__ import annotations

import datetime as dt
import json

from chispa import assert_df_equality

from transforms.inventory.stream import (
    book_changes,
    current_book,
    first_deliveries,
    negative_stock_alerts,
    parse_inventory_messages,
    to_inventory_messages,
)

RAW = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
T0 = dt.datetime(2025, 6, 30, 12, 0)
BOOK = (
    "location_id string, sku string, on_hand long, reserved long, available long, "
    "events long, last_event_ts timestamp"
)


def msg(offset, value, partition=0):
    body = value if isinstance(value, str | type(None)) else json.dumps(value)
    return (b"S1", None if body is None else body.encode(), "inv", partition, offset, T0)


def ev(event_id, event_type="SALE", quantity=1, loc="S1", sku="K1", minute=0, **extra):
    return {
        "event_id": event_id,
        "location_id": loc,
        "sku": sku,
        "event_type": event_type,
        "quantity": quantity,
        "source": "POS",
        "event_ts": f"2025-06-30T12:{minute:02d}:00Z",
        **extra,
    }


def raw(spark, messages):
    return spark.createDataFrame(messages, RAW)


def test_each_bad_message_gets_its_reason_and_good_ones_none(spark):
    no_sku = ev("e4")
    del no_sku["sku"]
    parsed = parse_inventory_messages(
        raw(
            spark,
            [
                msg(0, ev("e0")),
                msg(1, "{not json"),
                msg(2, None),
                msg(3, ev("e3", event_type="THEFT")),
                msg(4, no_sku),
                msg(5, ev("e5", quantity="two")),
                msg(6, ev("e6", quantity=-3)),  # a SALE of -3 units: replay rejects it
                msg(7, ev("e7", event_type="ADJUSTMENT", quantity=-3)),  # signed: fine
                msg(8, ev("e8", source="FAX")),
                msg(9, ev("e9", source=None)),  # the source is optional
            ],
        )
    )
    got = {r.offset: r.reason for r in parsed.collect()}
    assert got == {
        0: None,
        1: "malformed_json",
        2: "empty_value",
        3: "unknown_event_type",
        4: "missing_sku",
        5: "missing_quantity",  # a required field of the wrong type is no value at all
        6: "negative_quantity",
        7: None,
        8: "unknown_source",
        9: None,
    }


def test_a_quantity_past_the_bound_is_invalid_so_the_book_cannot_overflow(spark):
    """The book sums quantities as 64-bit integers (ANSI mode fails the query on an
    overflow): one event moves at most MAX_QUANTITY units either way."""
    from transforms.inventory.stream import MAX_QUANTITY

    adjust = "ADJUSTMENT"
    messages = [
        msg(0, ev("a", adjust, MAX_QUANTITY)),
        msg(1, ev("b", adjust, -MAX_QUANTITY)),
        msg(2, ev("c", adjust, MAX_QUANTITY + 1)),
        msg(3, ev("d", adjust, -MAX_QUANTITY - 1)),
        msg(4, ev("e", adjust, 2**62)),
        msg(5, ev("f", adjust, 2**62)),
        msg(6, ev("g", adjust, 2**63)),  # not a 64-bit integer: no quantity at all
        msg(7, ev("h", "RESTOCK", 5, event_ts="+99999-01-01T00:00:00Z")),
    ]
    got = {r.offset: r.reason for r in parse_inventory_messages(raw(spark, messages)).collect()}
    assert got == {
        0: None,
        1: None,
        2: "invalid_quantity",
        3: "invalid_quantity",
        4: "invalid_quantity",
        5: "invalid_quantity",
        6: "missing_quantity",
        7: "invalid_event_ts",
    }
    ((on_hand, events),) = [
        (r.on_hand, r.events) for r in current_book(raw(spark, messages)).collect()
    ]
    assert (on_hand, events) == (0, 2)


def test_book_applies_each_event_type_once_per_event_id(spark):
    messages = [
        msg(0, ev("r", "RESTOCK", 10, minute=1)),
        msg(1, ev("s", "SALE", 3, minute=2)),
        msg(2, ev("s", "SALE", 3, minute=2)),  # redelivered: counts once
        msg(0, ev("rv", "RESERVE", 2, minute=3), partition=1),
        msg(1, ev("rl", "RELEASE", 1, minute=4), partition=1),
        msg(2, ev("rt", "RETURN", 1, minute=5), partition=1),
        msg(3, ev("to", "TRANSFER_OUT", 4, minute=6), partition=1),
        msg(4, ev("ti", "TRANSFER_IN", 2, minute=7), partition=1),
        msg(5, ev("ad", "ADJUSTMENT", -1, minute=8), partition=1),
        msg(6, ev("k2", "SALE", 1, sku="K2", minute=9), partition=1),
        msg(7, "garbage", partition=1),
    ]
    got = current_book(raw(spark, messages))
    # on hand: 10 - 3 + 1 - 4 + 2 - 1 = 5; reserved 2 - 1 = 1
    expected = spark.createDataFrame(
        [
            ("S1", "K1", 5, 1, 4, 8, dt.datetime(2025, 6, 30, 12, 8)),
            ("S1", "K2", -1, 0, -1, 1, dt.datetime(2025, 6, 30, 12, 9)),
        ],
        BOOK,
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_first_delivery_is_the_lowest_partition_then_offset(spark):
    parsed = parse_inventory_messages(
        raw(spark, [msg(5, ev("a", quantity=1)), msg(2, ev("a", quantity=1), partition=1)])
    )
    (row,) = first_deliveries(parsed).collect()
    assert (row.partition, row.offset) == (0, 5)


def test_empty_batch_gives_an_empty_book(spark):
    assert book_changes(first_deliveries(parse_inventory_messages(raw(spark, [])))).count() == 0


def test_alerts_one_row_per_kind_of_negative_stock(spark):
    book = spark.createDataFrame(
        [
            ("S1", "K1", -2, 0, -2, 1, T0),  # both negative
            ("S1", "K2", 1, 3, -2, 2, T0),  # reserved more than on hand
            ("S1", "K3", 0, 0, 0, 1, T0),  # empty shelf: no alert
        ],
        BOOK,
    )
    got = {(r.sku, r.alert_type) for r in negative_stock_alerts(book).collect()}
    assert got == {
        ("K1", "NEGATIVE_ON_HAND"),
        ("K1", "NEGATIVE_AVAILABLE"),
        ("K2", "NEGATIVE_AVAILABLE"),
    }


def test_messages_round_trip_through_the_parser(spark):
    events = spark.createDataFrame(
        [
            ("e1", "S1", "K1", "RESTOCK", 5, "WAREHOUSE", T0, None),
            ("e2", "S2", "K1", "SALE", 1, None, T0 + dt.timedelta(minutes=1), None),
        ],
        "event_id string, location_id string, sku string, event_type string, quantity long, "
        "source string, event_ts timestamp, ingested_at timestamp",
    )
    parsed = parse_inventory_messages(to_inventory_messages(events, "inv", 3))
    rows = {r.event_id: r for r in parsed.collect()}
    assert {e: r.reason for e, r in rows.items()} == {"e1": None, "e2": None}
    assert rows["e1"].quantity == 5 and rows["e1"].event_ts == T0
    assert rows["e2"].source is None
