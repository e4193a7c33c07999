"""Discrepancy rows, adjustments, alerts, the snapshot flag and the accuracy metrics."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from transforms.inventory.accuracy import build_accuracy
from transforms.inventory.outputs import (
    build_adjustments,
    build_alerts,
    build_discrepancies,
    with_current_flag,
)

DAY = dt.date(2025, 6, 1)
CUTOFF = dt.datetime(2025, 6, 2)
RECONCILED = (
    "count_id string, location_id string, sku string, counted_qty long, count_ts timestamp, "
    "method string, abc_class string, unit_cost double, tol_bp long, tol_min long, "
    "n_events long, book_qty long, book_reserved long, variance_units long, "
    "adjustment_units long, on_hand_after long"
)


def rec(cid, loc, sku, klass, cost, book, counted, reserved=0, method="CYCLE"):
    tol = {"A": (100, 1), "B": (300, 1), "C": (500, 2)}[klass]
    var = counted - book
    outside = abs(var) > tol[1] and abs(var) * 10_000 > tol[0] * abs(book)
    adj = var if outside else 0
    at = dt.datetime(2025, 6, 1, 12, 0, 1)
    return (
        cid,
        loc,
        sku,
        counted,
        at,
        method,
        klass,
        cost,
        *tol,
        1,
        book,
        reserved,
        var,
        adj,
        book + adj,
    )


@pytest.fixture
def discrepancies(spark):
    rows = [
        rec("c1", "L1", "A1", "A", 10.0, 100, 90, method="RFID"),  # shrink 10 units, 100.0
        rec("c2", "L1", "B1", "B", 2.0, 100, 103),  # 3% of 100: match
        rec("c3", "L2", "A1", "A", 10.0, 50, 50),
        rec("c4", "L2", "C1", "C", 1.5, -3, 0, reserved=1),  # overage, negative book
    ]
    df = spark.createDataFrame(rows, RECONCILED)
    return build_discrepancies(df, F.lit(CUTOFF), F.lit(DAY))


def test_discrepancy_rows(discrepancies):
    got = {
        r.count_id: (
            r.variance_units,
            r.variance_value,
            r.status,
            r.tolerance_units,
            r.book_available,
        )
        for r in discrepancies.collect()
    }
    assert got == {
        "c1": (-10, -100.0, "SHRINK", 1.0, 100),
        "c2": (3, 6.0, "MATCH", 3.0, 100),
        "c3": (0, 0.0, "MATCH", 1.0, 50),
        "c4": (3, 4.5, "OVERAGE", 2.0, -4),
    }


def test_adjustments_one_event_per_count_outside_tolerance(spark, discrepancies):
    got = build_adjustments(discrepancies).select(
        "event_id", "location_id", "sku", "event_type", "quantity", "source", "count_id", "status"
    )
    expected = spark.createDataFrame(
        [
            ("recon:c1", "L1", "A1", "ADJUSTMENT", -10, "RFID", "c1", "SHRINK"),
            ("recon:c4", "L2", "C1", "ADJUSTMENT", 3, "WAREHOUSE", "c4", "OVERAGE"),
        ],
        "event_id string, location_id string, sku string, event_type string, quantity long, "
        "source string, count_id string, status string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_alerts_for_negative_book_on_hand_and_available(discrepancies):
    got = sorted(
        (r.count_id, r.alert_type, r.book_qty, r.book_available)
        for r in build_alerts(discrepancies).collect()
    )
    assert got == [("c4", "NEGATIVE_AVAILABLE", -3, -4), ("c4", "NEGATIVE_ON_HAND", -3, -4)]


def test_accuracy_per_location_class_network_and_top_skus(spark, discrepancies):
    got = build_accuracy(discrepancies, top_n=2).select(
        "grain", "grain_key", "rank", "counts", "within_tolerance", "accuracy",
        "variance_units", "abs_variance_value", "shrink_units", "shrink_value", "shrink_rate",
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            ("location", "L1", None, 2, 1, 0.5, -7, 106.0, 10, 100.0, 100.0 / 1200.0),
            ("location", "L2", None, 2, 1, 0.5, 3, 4.5, 0, 0.0, 0.0),
            ("abc_class", "A", None, 2, 1, 0.5, -10, 100.0, 10, 100.0, 100.0 / 1500.0),
            ("abc_class", "B", None, 1, 1, 1.0, 3, 6.0, 0, 0.0, 0.0),
            # book value -4.5 is not positive: no shrink rate
            ("abc_class", "C", None, 1, 0, 0.0, 3, 4.5, 0, 0.0, None),
            ("network", "ALL", None, 4, 2, 0.5, -4, 110.5, 10, 100.0, 100.0 / 1695.5),
            ("sku", "A1", 1, 2, 1, 0.5, -10, 100.0, 10, 100.0, 100.0 / 1500.0),
            ("sku", "B1", 2, 1, 1, 1.0, 3, 6.0, 0, 0.0, 0.0),
        ],
        "grain string, grain_key string, rank int, counts long, within_tolerance long, "
        "accuracy double, variance_units long, abs_variance_value double, shrink_units long, "
        "shrink_value double, shrink_rate double",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_current_flag_is_the_latest_count_of_each_pair(spark):
    at = dt.datetime(2025, 6, 1)
    rows = [
        ("L", "S", "c1", at, True),
        ("L", "S", "c2", at + dt.timedelta(hours=1), None),
        ("L", "S", "c0", at + dt.timedelta(hours=1), None),  # same instant: higher id wins
        ("L", "T", "c3", at, None),
    ]
    snap = spark.createDataFrame(
        rows,
        "location_id string, sku string, count_id string, as_of_ts timestamp, is_current boolean",
    )
    full = snap.select(
        "location_id", "sku", "count_id", "as_of_ts",
        *[F.lit(None).cast(t).alias(c) for c, t in [
            ("book_on_hand", "long"), ("adjustment_units", "long"), ("on_hand", "long"),
            ("reserved", "long"), ("available", "long"), ("reconciled_through", "timestamp"),
            ("reconciled_date", "date")]],
        "is_current",
    )  # fmt: skip
    got = {r.count_id: r.is_current for r in with_current_flag(full).collect()}
    assert got == {"c1": False, "c2": True, "c0": False, "c3": True}
