"""The Walmart shrink simulation: units, ABC classes, ledger events, counts and truth."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F

from transforms.inventory.walmart import (
    ShrinkSimParams,
    build_counts,
    build_items,
    build_ledger,
    with_pair_profile,
    with_shrink,
    with_units,
)

P = ShrinkSimParams(unit_price=10.0, cost_ratio=0.5, cover_weeks=2, count_every_weeks=1,
                    shrink_rate=0.0, incident_probability=0.0)  # fmt: skip
W1, W2 = dt.date(2010, 2, 5), dt.date(2010, 2, 12)
SALES = "store_id string, dept_id string, week_date date, weekly_sales double, is_holiday boolean"


def test_units_and_abc_by_sales_value(spark):
    sales = spark.createDataFrame(
        [
            ("WM-001", "1", W1, 700.0, False),  # 70% of the total
            ("WM-001", "2", W1, 150.0, False),  # ahead: 70% -> A
            ("WM-001", "3", W1, 120.0, False),  # ahead: 85% -> B
            ("WM-001", "4", W1, 30.0, False),  # ahead: 97% -> C
            ("WM-001", "5", W1, -14.0, False),  # net returns: C
            ("WM-001", "6", W1, None, False),  # null sales: no row
        ],
        SALES,
    )
    units = with_units(sales, P)
    got = units.select("sku", "week", "sold_units", "returned_units")
    expected = spark.createDataFrame(
        [("WMD01", 0, 70, 0), ("WMD02", 0, 15, 0), ("WMD03", 0, 12, 0), ("WMD04", 0, 3, 0), ("WMD05", 0, 0, 1)],
        "sku string, week int, sold_units long, returned_units long",
    )  # fmt: skip
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    items = {r.sku: (r.abc_class, r.unit_cost) for r in build_items(units, P).collect()}
    assert items == {"WMD01": ("A", 5.0), "WMD02": ("A", 5.0), "WMD03": ("B", 5.0),
                     "WMD04": ("C", 5.0), "WMD05": ("C", 5.0)}  # fmt: skip


def test_ledger_and_counts_of_one_pair(spark):
    sales = spark.createDataFrame(
        [("WM-001", "7", W1, 100.0, False), ("WM-001", "7", W2, -20.0, False)], SALES
    )
    profiled = with_shrink(with_pair_profile(with_units(sales, P)), P)
    ledger = build_ledger(profiled, P).select("event_id", "event_type", "quantity", "event_ts")
    expected = spark.createDataFrame(
        [
            ("wm:WM-001:WMD07:2010-02-05:open", "RESTOCK", 20, dt.datetime(2010, 1, 29, 6)),
            ("wm:WM-001:WMD07:2010-02-05:sale", "SALE", 10, dt.datetime(2010, 2, 5, 12)),
            ("wm:WM-001:WMD07:2010-02-05:restock", "RESTOCK", 10, dt.datetime(2010, 2, 6, 6)),
            ("wm:WM-001:WMD07:2010-02-12:return", "RETURN", 2, dt.datetime(2010, 2, 12, 12)),
        ],
        "event_id string, event_type string, quantity long, event_ts timestamp",
    )
    assert_df_equality(ledger, expected, ignore_row_order=True, ignore_nullable=True)
    locations = spark.createDataFrame([("WM-001", "A")], "location_id string, store_format string")
    counts = build_counts(profiled, locations, P).select(
        "count_ts", "counted_qty", "method", "ledger_qty", "cum_shrink_units"
    )
    expected = spark.createDataFrame(
        [
            (dt.datetime(2010, 2, 7, 20, 0, 1), 20, "RFID", 20, 0),  # 20 - 10 + 10
            (dt.datetime(2010, 2, 14, 20, 0, 1), 22, "RFID", 22, 0),  # + the return
        ],
        "count_ts timestamp, counted_qty long, method string, ledger_qty long, cum_shrink_units long",
    )
    assert_df_equality(counts, expected, ignore_row_order=True, ignore_nullable=True)


def test_shrink_is_seeded_and_lowers_the_counts(spark):
    sales = spark.createDataFrame(
        [("WM-001", "7", W1 + dt.timedelta(days=7 * w), 10_000.0, False) for w in range(8)], SALES
    )
    p = ShrinkSimParams(
        unit_price=10.0, count_every_weeks=1, shrink_rate=0.02, incident_probability=0.0
    )
    locations = spark.createDataFrame([], "location_id string, store_format string")

    def counts():
        profiled = with_shrink(with_pair_profile(with_units(sales, p)), p)
        return build_counts(profiled, locations, p).orderBy("count_ts")

    first = counts().collect()
    assert [tuple(r) for r in first] == [
        tuple(r) for r in counts().collect()
    ]  # same seed, same rows
    lost = [r.cum_shrink_units for r in first]
    assert lost == sorted(lost) and 0 < lost[-1] < 8 * 1000  # never more than was sold
    assert all(r.counted_qty == r.ledger_qty - r.cum_shrink_units for r in first)
    assert {r.method for r in first} == {"CYCLE"}
    assert counts().where(F.col("is_floored")).count() == 0
