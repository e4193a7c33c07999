"""Non-additive windows: buyer concentration, templated reviews, delayed after-sale cases."""

from __future__ import annotations

from chispa import assert_df_equality

from transforms.seller_risk.measures import ratio
from transforms.seller_risk.windowed import (
    after_sale_windows,
    buyer_windows,
    templated_review_windows,
)


def test_buyer_concentration_and_repeat_buyers(spark):
    seller_orders = spark.createDataFrame(
        [
            ("a", "x", 10),
            ("a", "x", 10),
            ("a", "x", 8),  # edge: first day of the 3-day window
            ("a", "y", 9),
            ("a", "z", 7),  # one day too old for the 3-day window
            ("a", None, 10),  # null row: buyer unknown (Olist item without order row)
            ("a", "v", None),  # null row: no event day
            ("b", "w", 10),
        ],
        "seller_id string, buyer_id string, event_day int",
    )
    got = buyer_windows(seller_orders, windows=(1, 3), start_day=10, end_day=10)
    expected = spark.createDataFrame(
        [("a", 10, 2, 1, 2, 1, 4, 2, 3, 1), ("b", 10, 1, 1, 1, 0, 1, 1, 1, 0)],
        "seller_id string, as_of_day int, "
        "buyer_orders_1d long, distinct_buyers_1d long, top_buyer_orders_1d long, repeat_buyers_1d long, "
        "buyer_orders_3d long, distinct_buyers_3d long, top_buyer_orders_3d long, repeat_buyers_3d long",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_ratio_is_null_when_the_denominator_is_zero_or_null(spark):
    df = spark.createDataFrame([(3, 4), (0, 0), (1, None), (None, 2)], "n long, d long")
    got = [r[0] for r in df.select(ratio("n", "d")).collect()]
    assert got == [0.75, None, None, None]


def test_templated_reviews_repeat_within_the_window(spark):
    facts = spark.createDataFrame(
        [
            ("a", 10, "excellent seller will buy again"),
            ("a", 8, "excellent seller will buy again"),  # edge: first day of the 3-day window
            ("a", 7, "excellent seller will buy again"),  # too old for the 3-day window
            ("a", 10, "arrived broken and late again"),  # once only
            ("a", 10, None),  # null row: short or no comment
            ("a", 10, "nice product fast delivery here"),
            ("a", 10, "nice product fast delivery here"),
        ],
        "seller_id string, day int, template_text string",
    )
    got = templated_review_windows(facts, windows=(1, 3), min_count=2, start_day=10, end_day=10)
    expected = spark.createDataFrame(
        [("a", 10, 2, 4)],
        "seller_id string, as_of_day int, templated_reviews_1d long, templated_reviews_3d long",
    )
    assert_df_equality(got, expected, ignore_nullable=True)


def test_after_sale_window_is_delayed_and_cases_count_once_opened(spark):
    # delay 2, window 3: on D=20 orders of days 16..18 count, cases opened by day 20.
    cases = spark.createDataFrame(
        [
            ("a", "o15", "RETURN", 15, 16),  # order one day too old
            ("a", "o16", "CHARGEBACK", 16, 17),  # edge: oldest order day of the window
            ("a", "o18", "RETURN", 18, 20),  # edge: newest order day, opened on D
            ("a", "o18", "REFUND", 18, 21),  # opened after D=20, counts on D=21
            ("a", "o19", "REFUND", 19, 19),  # order too recent for D=20, counts on D=21
        ],
        "seller_id string, order_id string, case_type string, order_day int, open_day int",
    )
    got = after_sale_windows(cases, windows=(3,), delay_days=2, start_day=20, end_day=21)
    expected = spark.createDataFrame(
        [("a", 20, 1, 0, 1, 0), ("a", 21, 1, 2, 0, 0)],
        "seller_id string, as_of_day int, returns_3d long, refunds_3d long, chargebacks_3d long, "
        "disputes_3d long",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_no_rows_outside_the_requested_range(spark):
    seller_orders = spark.createDataFrame(
        [("a", "x", 5)], "seller_id string, buyer_id string, event_day int"
    )
    got = buyer_windows(seller_orders, windows=(3,), start_day=10, end_day=12)
    assert got.collect() == []
