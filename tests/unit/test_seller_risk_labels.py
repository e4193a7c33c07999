"""Outcome labels after D and the AUC used to judge the features against them."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from transforms.seller_risk.facts import build_seller_orders
from transforms.seller_risk.labels import next_window_outcomes, roc_auc

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
