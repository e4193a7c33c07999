"""Seller events: parsing with reasons, lateness, first-of-each-event, tumbling windows."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import functions as F

from transforms.seller_risk.events import (
    aggregate_windows,
    first_of_each_event,
    in_windows,
    parse_events,
    quarantine_rows,
    window_features,
    with_late_reason,
)

RAW = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
T0 = dt.datetime(2025, 6, 30, 12, 0)


def msg(offset, value, partition=0):
    body = value if isinstance(value, str | type(None)) else json.dumps(value)
    return (b"k", None if body is None else body.encode(), "t", partition, offset, T0)


def ev(event_id, event_type="order_placed", seller="s1", ts="2025-06-30T12:01:00Z", **extra):
    return {
        "event_id": event_id,
        "event_type": event_type,
        "seller_id": seller,
        "event_ts": ts,
        **extra,
    }


def reasons(spark, messages):
    parsed = parse_events(spark.createDataFrame(messages, RAW))
    return {r.offset: r.reason for r in parsed.collect()}


def test_each_bad_message_gets_its_reason_and_good_ones_none(spark):
    got = reasons(
        spark,
        [
            msg(0, ev("e0", amount=10.5)),
            msg(1, "not json"),
            msg(2, "[1, 2]"),
            msg(3, None),
            msg(
                4,
                {
                    "event_type": "order_placed",
                    "seller_id": "s1",
                    "event_ts": "2025-06-30T12:00:00Z",
                },
            ),
            msg(5, ev("e5", event_type="teleported")),
            msg(6, ev("e6", amount="ten")),
            msg(7, ev("e7", ts="yesterday")),
            msg(8, ev("e8", event_type="review_posted", score=1)),
            msg(9, ev("e9", ts="2025-06-30T13:30:00Z")),  # 90 min after the broker got it
        ],
    )
    assert got == {
        0: None,
        1: "malformed_json",
        2: "malformed_json",
        3: "empty_value",
        4: "missing_event_id",
        5: "unknown_event_type",
        6: "invalid_amount",
        7: "missing_event_ts",  # an unparseable time is no time at all
        8: None,
        9: "invalid_event_ts",  # from the future: would move the watermark for everyone
    }


def nested(depth):
    """`depth` objects, each the only value of the one before."""
    return {} if depth == 1 else {"m": nested(depth - 1)}


def test_a_value_must_be_exactly_one_object_and_strings_may_hold_anything(spark):
    one = json.dumps(ev("e0"))
    deep = {"a": {"b": [1, {"c": {"d": "}"}}]}}
    got = reasons(
        spark,
        [
            msg(0, f"  {one}\n"),
            msg(1, one + " trailing"),  # Spark's parsers read the first object and stop
            msg(2, one + one),
            msg(3, one + ", " + one),
            msg(4, one[:-1]),  # truncated
            msg(5, ev("e5", note='quotes \\" and braces }{ inside a string', meta=deep)),
            msg(6, ev("e6", meta=json.loads("[" * 3 + "{}" + "]" * 3))),
            msg(7, ev("e7", meta=nested(8))),  # 9 objects deep: the most accepted
            msg(8, ev("e8", meta=nested(9))),
            # Long values: a regex that recursed per character or per object overflowed.
            msg(9, ev("e9", note="x" * 20_000, quoted='\\"' * 5_000, items=[{}] * 5_000)),
            msg(10, json.dumps(ev("e10", note="y" * 20_000)) + "{}"),
            msg(11, one + "\u2028"),  # not JSON whitespace
        ],
    )
    assert got == {
        0: None,
        1: "malformed_json",
        2: "malformed_json",
        3: "malformed_json",
        4: "malformed_json",
        5: None,
        6: None,
        7: None,
        8: "malformed_json",
        9: None,
        10: "malformed_json",
        11: "malformed_json",
    }


def test_late_events_are_marked_and_first_message_of_an_event_wins(spark):
    raw = spark.createDataFrame(
        [
            msg(0, ev("a", ts="2025-06-30T10:00:00Z")),  # older than the watermark
            msg(1, ev("b", amount=1.0)),
            msg(2, ev("b", amount=1.0), partition=1),  # duplicate id, later position
            msg(3, "oops"),
        ],
        RAW,
    )
    events = with_late_reason(
        parse_events(raw), F.lit(dt.datetime(2025, 6, 30, 11, 0)).cast("timestamp")
    )
    assert {r.offset: r.reason for r in events.collect()} == {
        0: "late",
        1: None,
        2: None,
        3: "malformed_json",
    }
    firsts = first_of_each_event(events).collect()
    assert [(r.event_id, r.partition, r.offset) for r in firsts] == [("b", 0, 1)]
    rejected = sorted((r.offset, r.reason, r.value) for r in quarantine_rows(events).collect())
    assert rejected[0][:2] == (0, "late") and rejected[1] == (3, "malformed_json", "oops")
    # No watermark yet: nothing is late.
    assert all(r.reason != "late" for r in with_late_reason(parse_events(raw), None).collect())


def test_windows_align_to_the_epoch_and_aggregate_every_type(spark):
    events = spark.createDataFrame(
        [
            ("s1", "order_placed", dt.datetime(2025, 6, 30, 12, 4, 59), 10.10),
            ("s1", "order_placed", dt.datetime(2025, 6, 30, 12, 5, 0), 0.2),  # next 5-min window
            ("s1", "order_cancelled", dt.datetime(2025, 6, 30, 12, 1), None),
            ("s1", "refund", dt.datetime(2025, 6, 30, 12, 59, 59), 3.0),
            ("s2", "listing_created", dt.datetime(2025, 6, 30, 13, 0), None),
        ],
        "seller_id string, event_type string, event_ts timestamp, amount double",
    )
    starts = {(r.window_minutes, r.window_start) for r in in_windows(events, [5]).collect()}
    assert starts == {
        (5, dt.datetime(2025, 6, 30, 12, 0)),
        (5, dt.datetime(2025, 6, 30, 12, 5)),
        (5, dt.datetime(2025, 6, 30, 12, 55)),
        (5, dt.datetime(2025, 6, 30, 13, 0)),
    }
    hour = window_features(events, [60]).where("seller_id = 's1'").first()
    assert (hour.window_start, hour.window_end) == (
        dt.datetime(2025, 6, 30, 12),
        dt.datetime(2025, 6, 30, 13),
    )
    assert (hour.orders, hour.cancellations, hour.refunds, hour.events) == (2, 1, 1, 4)
    assert hour.gmv == Decimal("10.30")  # cents: exact
    # Aggregating all windows at once equals aggregating the rows of each window.
    assert_df_equality(
        window_features(events, [5, 60]),
        aggregate_windows(in_windows(events, [5, 60])),
        ignore_row_order=True,
    )


def test_a_field_of_the_wrong_shape_is_invalid_and_an_explicit_null_is_absent(spark):
    """The wrong-type check reads every field as text: a nested object or an array where a
    number belongs is `invalid_<field>`; a JSON null is no value (optional: still valid)."""
    got = reasons(
        spark,
        [
            msg(0, ev("n1", amount={"value": 10})),
            msg(1, ev("n2", amount=[10])),
            msg(2, ev("n3", amount=None)),
            msg(3, ev("n4", amount=10)),
            msg(4, "  " + json.dumps(ev("n5"))),  # leading blanks: still an object
            msg(5, '"just a string"'),
        ],
    )
    assert got == {
        0: "invalid_amount",
        1: "invalid_amount",
        2: None,
        3: None,
        4: None,
        5: "malformed_json",
    }


def parsed(spark, messages):
    """offset -> (reason, amount) of each message, through parse_events."""
    rows = parse_events(spark.createDataFrame(messages, RAW)).collect()
    return {r.offset: (r.reason, r.amount) for r in rows}


def raw_amount(offset, text):
    """A message whose amount is `text` as it stands in the JSON (tokens json.dumps
    cannot write, digits a float would lose)."""
    body = json.dumps(ev(f"a{offset}", amount=0)).replace('"amount": 0', f'"amount": {text}')
    return msg(offset, body)


def test_amount_is_exact_money_never_rounded_and_never_out_of_range(spark):
    """amount is DECIMAL(18, 2): a third decimal place or a value past 16 integer digits
    (which a double would carry, and the GMV's cents would overflow on) is invalid."""
    got = parsed(
        spark,
        [
            msg(0, ev("e0", amount=10.5)),
            msg(1, ev("e1", amount="12.34")),  # a quoted number reads as a number
            msg(2, ev("e2", amount=12.345)),
            msg(3, ev("e3", amount="12.345")),
            raw_amount(4, "9999999999999999.99"),  # the largest
            raw_amount(5, "10000000000000000"),
            raw_amount(6, "1e308"),
            raw_amount(7, "1e400"),
            raw_amount(8, "-0"),
            raw_amount(9, "123456789012345678901234567890"),
            raw_amount(10, "12.3400000"),  # trailing zeros: still cents
            msg(11, ev("e11", amount=0.1 + 0.2)),  # 0.30000000000000004
            raw_amount(12, '"NaN"'),
        ],
    )
    assert got == {
        0: (None, Decimal("10.50")),
        1: (None, Decimal("12.34")),
        2: ("invalid_amount", None),
        3: ("invalid_amount", None),
        4: (None, Decimal("9999999999999999.99")),
        5: ("invalid_amount", None),
        6: ("invalid_amount", None),
        7: ("invalid_amount", None),
        8: (None, Decimal("0.00")),
        9: ("invalid_amount", None),
        10: (None, Decimal("12.34")),
        11: ("invalid_amount", None),
        12: ("invalid_amount", None),
    }
    # Not JSON, though Spark reads them as doubles: refused either way.
    for n, token in enumerate(["NaN", "Infinity", "-Infinity"]):
        ((reason, amount),) = parsed(spark, [raw_amount(n, token)]).values()
        assert reason in ("invalid_amount", "malformed_json") and amount is None


def test_fields_outside_their_limits_are_invalid_and_null(spark):
    """Event times in [1970, 9999), text up to 1,024 characters, ints in 32 bits, JSON in
    UTF-8: beyond them a later step would overflow (ANSI mode fails the query) or the
    driver could not read the value back. The typed field is null in the output."""
    events = parse_events(
        spark.createDataFrame(
            [
                msg(0, ev("e0", ts="1969-12-31T23:59:59Z")),
                msg(1, ev("e1", ts="1970-01-01T00:00:00Z")),
                # the last valid time, received then (an hour later is "from the future")
                (
                    *msg(2, ev("e2", ts="9998-12-31T23:59:59Z"))[:5],
                    dt.datetime(9998, 12, 31, 23, 59, 59),
                ),
                msg(3, ev("e3", ts="9999-12-31T23:59:59Z")),
                msg(4, ev("e4", ts="+99999-01-01T00:00:00Z")),
                msg(5, ev("e5", ts=-9223372036855)),  # wraps to year 294247 when read
                msg(6, ev("e6", ts=1751284800)),  # epoch seconds: 2025-06-30T12:00:00Z
                msg(7, ev("e7", ts="2025-06-30T12:00:00Z")),
                msg(8, ev("e8", seller="x" * 1025)),
                msg(9, ev("e9", seller="x" * 1024)),
                msg(10, ev("e10", score=2**31)),
                msg(11, ev("e11", note="x" * 5000)),  # fields outside the schema: any size
                (b"k", json.dumps(ev("e12")).encode().replace(b"e12", b"\xff"), "t", 0, 12, T0),
            ],
            RAW,
        )
    )
    rows = {r.offset: r for r in events.select("offset", "reason", "event_ts", "seller_id",
                                              "value").collect()}  # fmt: skip
    assert {o: r.reason for o, r in rows.items()} == {
        0: "invalid_event_ts",
        1: None,
        2: None,
        3: "invalid_event_ts",
        4: "invalid_event_ts",
        5: "invalid_event_ts",
        6: None,
        7: None,
        8: "invalid_seller_id",
        9: None,
        10: "invalid_score",
        11: None,
        12: "invalid_utf8",
    }
    assert all(rows[o].event_ts is None for o in (0, 3, 4, 5))
    assert rows[6].event_ts == rows[7].event_ts
    assert rows[8].seller_id is None and len(rows[9].seller_id) == 1024
    assert "\ufffd" in rows[12].value  # kept readable: the raw bytes stay in the topic


def test_window_gmv_is_exact_and_null_only_when_it_does_not_fit(spark):
    """GMV sums decimal amounts exactly; a window past DECIMAL(18, 2) gets a null GMV
    instead of failing the query (ANSI mode)."""
    top = Decimal("9999999999999999.99")
    events = spark.createDataFrame(
        [
            ("s1", "order_placed", dt.datetime(2025, 6, 30, 12, 1), Decimal("0.10")),
            ("s1", "order_placed", dt.datetime(2025, 6, 30, 12, 2), Decimal("0.20")),
            ("s1", "refund", dt.datetime(2025, 6, 30, 12, 3), Decimal("5.00")),
            ("s2", "order_placed", dt.datetime(2025, 6, 30, 12, 1), top),
            ("s2", "order_placed", dt.datetime(2025, 6, 30, 12, 2), top),
            ("s3", "order_placed", dt.datetime(2025, 6, 30, 12, 2), top),
        ],
        "seller_id string, event_type string, event_ts timestamp, amount decimal(18,2)",
    )
    got = {r.seller_id: (r.orders, r.gmv) for r in window_features(events, [60]).collect()}
    assert got == {"s1": (2, Decimal("0.30")), "s2": (2, None), "s3": (1, top)}


def test_window_increments_added_to_stored_windows_equal_the_windows_of_all_events(spark):
    """The stream adds each batch's window features to the stored ones (a MERGE with
    `window_increments`): counts, GMV and the spike decided on the sums equal the
    features of both batches' events at once. A GMV past DECIMAL(18, 2) stays null."""
    from transforms.seller_risk.events import window_increments, with_spike_flag

    top = Decimal("9" * 16 + ".99")
    at = dt.datetime(2025, 6, 30, 12, 1)
    schema = "seller_id string, event_type string, event_ts timestamp, amount decimal(18,2)"
    first = [
        ("s1", "order_placed", at, Decimal("1.10")),
        ("s1", "order_placed", at, Decimal("2.00")),
        ("s2", "order_placed", at, top),
        ("s3", "review_posted", at, None),
    ]
    second = [
        ("s1", "order_placed", at, Decimal("0.05")),
        ("s1", "refund", at, Decimal("3.00")),
        ("s2", "order_placed", at, top),  # the sum no longer fits
        ("s3", "order_placed", at, Decimal("4.00")),
    ]

    def features(rows):
        windows = window_features(spark.createDataFrame(rows, schema), [5, 60])
        return with_spike_flag(windows, None, spike_factor=3.0, spike_min_orders=3)

    keys = ["seller_id", "window_minutes", "window_start"]
    update = window_increments(spike_factor=3.0, spike_min_orders=3)
    merged = (
        features(first)
        .alias("t")
        .join(features(second).alias("s"), keys)
        .select(
            *[F.col(f"t.{k}").alias(k) for k in keys],
            F.col("t.window_end"),
            *[value.alias(c) for c, value in update.items()],
        )
    )
    want = features(first + second)
    assert_df_equality(merged, want.select(*merged.columns), ignore_row_order=True)
    spikes = {r.seller_id: (r.spike, r.gmv) for r in merged.where("window_minutes = 5").collect()}
    assert spikes["s1"] == (True, Decimal("3.15"))  # 3 orders only once both batches count
    assert spikes["s2"] == (False, None)


def test_spike_flag_against_a_real_baseline_snapshot(spark):
    """The baseline is the seller's 30-day daily order rate from the last daily snapshot
    strictly before the window's day, scaled to the window; a spike beats it
    `spike_factor` times with at least `spike_min_orders` orders."""
    from datetime import date, datetime

    from transforms.seller_risk.events import with_spike_flag

    features = spark.createDataFrame(
        [
            ("s1", 60, datetime(2025, 6, 10, 12, 0), 10),  # 10 vs 48/30/24 = 0.067 an hour
            ("s2", 60, datetime(2025, 6, 10, 12, 0), 10),  # 10 vs 14400/30/24 = 20 an hour
            ("s3", 60, datetime(2025, 6, 10, 12, 0), 6),  # no snapshot: min orders only
            ("s4", 60, datetime(2025, 6, 10, 12, 0), 4),  # no snapshot, too few orders
            ("s1", 1440, datetime(2025, 6, 10, 0, 0), 10),  # 10 vs 1.6 a day
        ],
        "seller_id string, window_minutes int, window_start timestamp, orders long",
    )
    baseline = spark.createDataFrame(
        [
            ("s1", date(2025, 6, 9), 48),
            ("s1", date(2025, 6, 10), 3000),  # the window's own day: not yet known
            ("s1", date(2025, 6, 1), 0),  # older: superseded by 06-09
            ("s2", date(2025, 6, 9), 14400),
            ("s9", date(2025, 6, 9), 1),
        ],
        "seller_id string, as_of_date date, orders_30d long",
    )
    got = {
        (r.seller_id, r.window_minutes): (
            None if r.baseline_orders is None else round(r.baseline_orders, 4),
            r.spike,
        )
        for r in with_spike_flag(features, baseline, 3.0, 5).collect()
    }
    assert got == {
        ("s1", 60): (round(48 / 30 / 24, 4), True),
        ("s2", 60): (20.0, False),
        ("s3", 60): (None, True),
        ("s4", 60): (None, False),
        ("s1", 1440): (1.6, True),
    }
