"""Robust z-score of item prices against their category (median / MAD of log price)."""

from __future__ import annotations

from chispa import assert_approx_df_equality, assert_df_equality

from transforms.seller_risk.windowed import category_price_reference, with_price_z


def _prices(spark, rows):
    return spark.createDataFrame(
        rows, "seller_id string, category string, day int, log_price double"
    )


def test_reference_median_and_mad_over_the_trailing_days(spark):
    prices = _prices(
        spark,
        [
            ("a", "c", 99, 1.0),
            ("a", "c", 99, 2.0),
            ("b", "c", 100, 2.0),
            ("b", "c", 100, 3.0),
            ("b", "c", 100, 10.0),  # an outlier moves the median and the MAD little
            ("a", "c", 98, 50.0),  # edge: one day before the 2-day reference of day 100
            ("a", "t", 100, 4.0),
        ],
    )
    got = category_price_reference(prices, reference_days=2, step_days=1, start_day=99, end_day=100)
    expected = spark.createDataFrame(
        [
            # day 99: 50, 1, 2 -> median 2; deviations 48, 1, 0 -> MAD 1
            ("c", 99, 2.0, 3, 1.0),
            # day 100: 1, 2, 2, 3, 10 -> median 2; deviations 1, 0, 0, 1, 8 -> MAD 1
            ("c", 100, 2.0, 5, 1.0),
            ("t", 100, 4.0, 1, 0.0),
        ],
        "category string, reference_day int, median_log_price double, reference_items long, "
        "mad_log_price double",
    )
    assert_approx_df_equality(
        got.select(*expected.columns), expected, 1e-12, ignore_row_order=True, ignore_nullable=True
    )


def test_item_z_is_null_for_thin_or_flat_categories(spark):
    reference = spark.createDataFrame(
        [("c", 100, 2.0, 5, 1.0), ("thin", 100, 2.0, 4, 1.0), ("flat", 100, 2.0, 9, 0.0)],
        "category string, reference_day int, median_log_price double, reference_items long, "
        "mad_log_price double",
    )
    prices = _prices(
        spark,
        [
            ("a", "c", 100, 10.0),  # (10 - 2) / 1.4826 = 5.3959
            ("a", "c", 100, 1.0),  # (1 - 2) / 1.4826 = -0.6745: below -0.5
            ("a", "c", 100, 2.0),
            ("a", "thin", 100, 9.0),  # 4 reference items < 5
            ("a", "flat", 100, 9.0),  # MAD 0: no scale
            ("a", "c", 101, 9.0),  # no reference that day
        ],
    )
    got = with_price_z(prices, reference, step_days=1, min_reference_items=5, below_z=-0.5)
    expected = spark.createDataFrame(
        [
            ("a", 100, 1, 53959, 0),
            ("a", 100, 1, -6745, 1),
            ("a", 100, 1, 0, 0),
        ],
        "seller_id string, day int, priced_items int, price_z_e4 long, below_items long",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_weekly_reference_uses_only_days_up_to_the_reference_day(spark):
    # Reference days are multiples of 7 (98, 105); each holds the 14 days up to it.
    prices = _prices(
        spark,
        [
            ("a", "c", 95, 1.0),
            ("a", "c", 98, 2.0),
            ("a", "c", 100, 3.0),
            ("b", "c", 104, 5.0),  # sold after 98: scored against 98, not against itself
            ("b", "c", 105, 2.5),  # edge: on a reference day, scored against that day
            ("b", "c", None, 9.0),  # null row: no day
        ],
    )
    reference = category_price_reference(
        prices, reference_days=14, step_days=7, start_day=100, end_day=106
    )
    expected_reference = spark.createDataFrame(
        [("c", 98, 1.5, 2, 0.5), ("c", 105, 2.5, 5, 0.5)],
        "category string, reference_day int, median_log_price double, reference_items long, "
        "mad_log_price double",
    )
    assert_approx_df_equality(
        reference.select(*expected_reference.columns),
        expected_reference,
        1e-12,
        ignore_row_order=True,
        ignore_nullable=True,
    )
    got = with_price_z(
        prices.where("day >= 100"), reference, 7, min_reference_items=2, below_z=-2.0
    )
    expected = spark.createDataFrame(
        [
            ("a", 100, 1, 20235, 0),
            ("b", 104, 1, 47214, 0),
            ("b", 105, 1, 0, 0),
        ],
        "seller_id string, day int, priced_items int, price_z_e4 long, below_items long",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
