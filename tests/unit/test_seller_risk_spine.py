"""The seller x day spine (gaps and islands) and window sums over it."""

from __future__ import annotations

from chispa import assert_df_equality

from transforms.seller_risk.spine import Rolling, build_active_spine, trailing, with_rolling


def test_active_spine_islands_clipped_to_the_range(spark):
    days = spark.createDataFrame(
        [
            ("a", 10),
            ("a", 12),
            ("a", 16),  # 4 days after 12 with active_days 3: a new island
            ("b", 10),
            ("b", 13),  # edge: exactly 3 days after 10, still one island
            ("c", None),  # null row: no day, no spine
            ("d", 21),  # after the range end
        ],
        "seller_id string, day int",
    )
    got = build_active_spine(days, active_days=3, start_day=11, end_day=20)
    expected = spark.createDataFrame(
        [("a", d) for d in (11, 12, 13, 14, 16, 17, 18)] + [("b", d) for d in range(11, 16)],
        "seller_id string, as_of_day int",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_rolling_windows_offsets_history_and_empty_windows(spark):
    daily = spark.createDataFrame(
        [
            ("a", 10, 1, 10),
            ("a", 12, 2, 12),
            ("a", 15, 4, 15),
            ("a", 21, 100, 21),
            ("b", 12, None, None),
        ],
        "seller_id string, day int, orders long, sale_day int",
    )
    spine = spark.createDataFrame(
        [("a", 12), ("a", 15), ("a", 20), ("b", 12)], "seller_id string, as_of_day int"
    )
    specs = {
        "orders_1d": trailing("orders", 1),
        "orders_3d": trailing("orders", 3),
        "delayed_2d": trailing("orders", 2, offset=2),  # days D-3 .. D-2
        "total": Rolling("sum", "orders", None),
        "first": Rolling("min", "sale_day", None),
    }
    got = with_rolling(spine, daily, specs)
    expected = spark.createDataFrame(
        [
            ("a", 12, 2, 3, 1, 3, 10),
            ("a", 15, 4, 4, 2, 7, 10),
            ("a", 20, 0, 0, 0, 7, 10),  # empty windows: 0; day 21 is after D
            ("b", 12, 0, 0, 0, 0, None),  # null measure: sums 0, min null
        ],
        "seller_id string, as_of_day int, orders_1d long, orders_3d long, delayed_2d long, "
        "total long, first int",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
