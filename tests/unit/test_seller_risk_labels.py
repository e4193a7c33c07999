"""Outcome labels after D and the AUC used to judge the features against them."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from transforms.seller_risk.facts import build_case_facts, build_seller_orders
from transforms.seller_risk.labels import (
    future_outcomes,
    next_window_outcomes,
    outcome_labels,
    roc_auc,
)

D = dt.date(2025, 6, 10)
ITEMS = "order_id string, order_item_id int, product_id string, seller_id string, shipping_limit_at timestamp, price double, freight_value double"
ORDERS = "order_id string, customer_id string, status string, purchased_at timestamp, approved_at timestamp, delivered_carrier_at timestamp, delivered_customer_at timestamp, estimated_delivery_at timestamp"
CUSTOMERS = "customer_id string, customer_unique_id string, created_at timestamp"
REVIEWS = "review_id string, order_id string, score int"
OUT = "seller_id string, as_of_date date, reviews_next long, one_star_share_next double, deliveries_next long, late_delivery_share_next double"


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2025, 6, day, hour)


def test_outcomes_count_only_orders_placed_after_d_within_the_horizon(spark):
    # (order, seller, placed, delivered, estimated, review score)
    plan = [
        ("o0", "s1", at(10), at(12), at(15), 1),  # placed on D itself: not "after D"
        ("o1", "s1", at(11), at(20), at(15), 1),  # late, 1 star
        ("o2", "s1", at(12), at(13), at(15), 5),
        ("o3", "s1", at(13), None, at(15), None),  # not delivered, not reviewed
        ("o4", "s1", at(17, 0), at(18), at(25), 1),  # last day of a 7-day horizon
        ("o5", "s1", at(18), at(19), at(25), 1),  # after the horizon
        ("o6", "s2", at(11), at(12), at(15), 4),  # s2: one delivery, one review
    ]
    items = spark.createDataFrame(
        [(o, 1, "p", s, placed, 10.0, 1.0) for o, s, placed, *_ in plan], ITEMS
    )
    orders = spark.createDataFrame(
        [(o, f"c{o}", "delivered", p, None, None, d, e) for o, _, p, d, e, _ in plan], ORDERS
    )
    customers = spark.createDataFrame([], CUSTOMERS)
    reviews = spark.createDataFrame(
        [(f"r{o}", o, score) for o, *_, score in plan if score is not None], REVIEWS
    )
    seller_orders = build_seller_orders(items, orders, customers)
    out = next_window_outcomes(seller_orders, reviews, [D], horizon_days=7, min_support=2)
    expected = spark.createDataFrame(
        [("s1", D, 3, 2 / 3, 3, 1 / 3), ("s2", D, 1, None, 1, None)], OUT
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_roc_auc_matches_hand_computed_values_with_ties():
    assert roc_auc([(0.9, True), (0.1, False)]) == 1.0
    assert roc_auc([(0.1, True), (0.9, False)]) == 0.0
    # pos {3, 2}, neg {2, 1}: pairs 3>2, 3>1, 2=2 (half), 2>1 -> 3.5 / 4
    assert roc_auc([(3, True), (2, True), (2, False), (1, False)]) == pytest.approx(0.875)
    assert roc_auc([(1, True)]) is None


CASES = "case_id string, order_id string, seller_id string, case_type string, amount double, opened_at timestamp"


def test_future_outcomes_count_cancellations_and_cases_and_label_on_thresholds(spark):
    # (order, seller, placed, status, delivered, estimated, score, case types)
    plan = [
        ("o1", "s1", at(11), "canceled", None, at(20), None, []),
        ("o2", "s1", at(12), "delivered", at(25), at(20), 1, ["CHARGEBACK", "CHARGEBACK"]),
        ("o3", "s1", at(13), "delivered", at(14), at(20), 5, ["REFUND"]),
        ("o4", "s1", at(14), "delivered", at(15), at(20), 4, []),
        ("o5", "s2", at(11), "delivered", at(12), at(20), 5, []),
        ("o6", "s2", at(12), "delivered", at(13), at(20), 5, []),
        ("o7", "s3", at(11), "delivered", at(12), at(20), 5, []),  # support 1: no label
        ("o8", "s1", at(9), "canceled", None, at(20), None, ["CHARGEBACK"]),  # before D
    ]
    items = spark.createDataFrame(
        [(o, 1, "p", s, placed, 10.0, 1.0) for o, s, placed, *_ in plan], ITEMS
    )
    orders = spark.createDataFrame(
        [(o, f"c{o}", st, p, None, None, d, e) for o, _, p, st, d, e, *_ in plan], ORDERS
    )
    reviews = spark.createDataFrame(
        [(f"r{o}", o, sc) for o, *_, sc, _ in plan if sc is not None], REVIEWS
    )
    cases = spark.createDataFrame(
        [
            (f"k{o}{i}", o, s, t, 1.0, at(28))
            for o, s, *_, types in plan
            for i, t in enumerate(types)
        ],
        CASES,
    )
    seller_orders = build_seller_orders(items, orders, spark.createDataFrame([], CUSTOMERS))
    outcomes = future_outcomes(
        seller_orders, reviews, build_case_facts(cases, seller_orders), [D], horizon_days=7
    )
    got = {r["seller_id"]: r.asDict() for r in outcomes.collect()}
    s1 = got["s1"]
    assert (s1["cancellation_n"], s1["cancellation_of"]) == (1, 4)
    assert (s1["chargeback_n"], s1["chargeback_of"]) == (1, 4)  # two cases, one order
    assert (s1["refund_n"], s1["late_delivery_n"], s1["late_delivery_of"]) == (1, 1, 3)
    assert (s1["one_star_n"], s1["one_star_of"]) == (1, 3)

    labels = outcome_labels(outcomes, {"chargeback": 0.25, "one_star": 0.5}, min_support=2)
    by_seller = {r["seller_id"]: r for r in labels.collect()}
    assert set(by_seller) == {"s1", "s2"}  # s3: too few orders to judge anything
    assert by_seller["s1"]["label"] == 1  # chargeback share 0.25 reaches the threshold
    assert by_seller["s2"]["label"] == 0
    assert by_seller["s1"]["label_ts"] == dt.datetime(2025, 6, 11)  # the end of D
    assert by_seller["s1"]["outcome_chargeback_share"] == 0.25


def test_without_after_sales_case_outcomes_are_unjudged_not_zero(spark):
    items = spark.createDataFrame([("o1", 1, "p", "s1", at(11), 10.0, 1.0)], ITEMS)
    orders = spark.createDataFrame(
        [("o1", "c1", "delivered", at(11), None, None, at(12), at(20))], ORDERS
    )
    seller_orders = build_seller_orders(items, orders, spark.createDataFrame([], CUSTOMERS))
    reviews = spark.createDataFrame([], REVIEWS)
    outcomes = future_outcomes(seller_orders, reviews, None, [D], horizon_days=7)
    assert outcome_labels(outcomes, {"chargeback": 0.1}, min_support=1).count() == 0
    with pytest.raises(ValueError, match="unknown outcomes"):
        outcome_labels(outcomes, {"fraud": 0.1}, min_support=1)
