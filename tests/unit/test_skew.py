"""Skew toolkit: hot keys found, and salted results identical to the unsalted computation."""

from __future__ import annotations

import random

import pytest
from chispa import assert_df_equality
from pyspark.sql import Window
from pyspark.sql import functions as F

from transforms.common.skew import (
    Agg,
    RangeAgg,
    hot_keys,
    salted_aggregate,
    with_salted_range_window,
)

SCHEMA = "seller string, day int, amount long, price double, buyer string"


@pytest.fixture(scope="module")
def skewed(spark):
    """Seller "hot" holds 60% of the rows and null sellers 20%; values and days have nulls."""
    rng = random.Random(11)
    rows = []
    for i in range(200):
        r = rng.random()
        seller = "hot" if r < 0.6 else None if r < 0.8 else f"s{i % 7}"
        day = None if i % 23 == 0 else rng.randint(0, 40)
        amount = None if i % 9 == 0 else rng.randint(-5, 50)
        price = None if i % 11 == 0 else float(rng.randint(1, 400)) / 4  # exact in binary
        buyer = None if i % 13 == 0 else f"b{rng.randint(0, 15)}"
        rows.append((seller, day, amount, price, buyer))
    rows.append(("edge", 0, 0, 0.0, "b0"))  # edge: a key with a single row
    return spark.createDataFrame(rows, SCHEMA)


def test_hot_keys_returns_keys_above_the_share_hottest_first(spark, skewed):
    assert hot_keys(skewed, ["seller"], min_share=0.15) == [("hot",), (None,)]
    assert hot_keys(skewed, ["seller"], min_share=0.5) == [("hot",)]
    assert hot_keys(skewed, ["seller"], min_share=0.9) == []
    # A seeded sample gives the same answer on every call.
    sampled = hot_keys(skewed, ["seller"], min_share=0.4, sample_fraction=0.5, seed=3)
    assert sampled == [("hot",)]
    assert hot_keys(skewed, ["seller"], 0.4, 0.5, 3) == sampled


def test_hot_keys_of_an_empty_frame_is_empty(spark):
    assert hot_keys(spark.createDataFrame([], SCHEMA), ["seller"], 0.1) == []


AGGS = [
    Agg("sum", "amount", "amount_sum"),
    Agg("count", "*", "rows"),
    Agg("count", "amount", "amounts"),
    Agg("min", "price", "price_min"),
    Agg("max", "day", "day_max"),
    Agg("avg", "price", "price_avg"),
    Agg("sum", "price", "price_sum"),
]


def plain(df, group_cols, aggs):
    exprs = {
        "sum": F.sum,
        "count": F.count,
        "min": F.min,
        "max": F.max,
        "avg": F.avg,
        "count_distinct": F.count_distinct,
    }
    return df.groupBy(*group_cols).agg(
        *[
            exprs[a.func](F.lit(1) if a.column == "*" else F.col(a.column)).alias(a.alias)
            for a in aggs
        ]
    )


@pytest.mark.parametrize("group_cols", [["seller"], ["seller", "day"]])
def test_salted_aggregate_equals_the_plain_aggregate(spark, skewed, group_cols):
    keys = [("hot",), (None,)]
    got = salted_aggregate(skewed, group_cols, AGGS, keys, buckets=4, key_cols=["seller"])
    assert_df_equality(got, plain(skewed, group_cols, AGGS), ignore_row_order=True)


def test_only_a_hot_key_is_salted(spark, skewed):
    """The plan groups by a salt column when there are hot keys, and not otherwise."""
    salted = salted_aggregate(skewed, ["seller"], AGGS[:2], [("hot",)], buckets=4)
    unsalted = salted_aggregate(skewed, ["seller"], AGGS[:2], [], buckets=4)
    assert "_salt" in salted._jdf.queryExecution().analyzed().toString()
    assert "_salt" not in unsalted._jdf.queryExecution().analyzed().toString()


def test_salted_count_distinct_equals_the_plain_one(spark, skewed):
    aggs = [Agg("count_distinct", "buyer", "buyers"), Agg("sum", "amount", "amount_sum")]
    got = salted_aggregate(skewed, ["seller"], aggs, [("hot",), (None,)], buckets=3)
    assert_df_equality(got, plain(skewed, ["seller"], aggs), ignore_row_order=True)


def test_without_hot_keys_it_is_the_plain_aggregate(spark, skewed):
    got = salted_aggregate(skewed, ["seller"], AGGS, [], buckets=8)
    assert_df_equality(got, plain(skewed, ["seller"], AGGS), ignore_row_order=True)


@pytest.mark.parametrize(
    ("aggs", "message"),
    [
        ([Agg("percentile", "price", "p")], "not decomposable"),
        ([Agg("collect_list", "buyer", "b")], "not decomposable"),
        ([Agg("count_distinct", "buyer", "a"), Agg("count_distinct", "day", "b")], "more than one"),
        ([Agg("sum", "*", "s")], "only goes with count"),
    ],
)
def test_non_decomposable_aggregates_are_refused(spark, skewed, aggs, message):
    with pytest.raises(ValueError, match=message):
        salted_aggregate(skewed, ["seller"], aggs, [("hot",)], buckets=4)


SPECS = {
    "amount_7d": RangeAgg("sum", "amount", -6, 0),
    "rows_3d": RangeAgg("count", "amount", -2, 0),
    "price_max_5d": RangeAgg("max", "price", -4, 0),
    "amount_prev_2d": RangeAgg("sum", "amount", -3, -2),  # frame not holding the row itself
    "price_min_next_3d": RangeAgg("min", "price", 1, 3),  # a forward-looking frame
}


def plain_windows(df, specs):
    by_seller = Window.partitionBy("seller").orderBy("day")
    return df.withColumns(
        {
            name: getattr(F, s.func)(s.column).over(by_seller.rangeBetween(s.lo, s.hi))
            for name, s in specs.items()
        }
    )


@pytest.mark.parametrize("width", [1, 10])
def test_salted_range_window_equals_the_plain_window(spark, skewed, width):
    got = with_salted_range_window(
        skewed, ["seller"], "day", SPECS, [("hot",), (None,)], bucket_width=width
    )
    assert_df_equality(got, plain_windows(skewed, SPECS), ignore_row_order=True)


def test_salted_range_window_refuses_bad_widths(spark, skewed):
    with pytest.raises(ValueError, match="bucket_width"):
        with_salted_range_window(skewed, ["seller"], "day", SPECS, [("hot",)], bucket_width=0)
