"""Seller risk facts: seller-orders (with Olist's missing order rows), reviews, cases."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from tests.conftest import silver
from transforms.seller_risk.facts import (
    build_case_facts,
    build_review_facts,
    build_seller_orders,
    normalized_text,
)

EPOCH = dt.date(1970, 1, 1)


def day(iso: str) -> int:
    return (dt.date.fromisoformat(iso) - EPOCH).days


def test_seller_orders_keep_items_without_order_row(spark):
    items = silver(
        spark,
        "order_items",
        [
            {"order_id": "o1", "order_item_id": 1, "seller_id": "a", "shipping_limit_at": "2025-06-05 10:00:00", "price": 10.1, "freight_value": 1.0},
            {"order_id": "o1", "order_item_id": 2, "seller_id": "a", "shipping_limit_at": "2025-06-04 10:00:00", "price": 0.2, "freight_value": None},
            {"order_id": "o1", "order_item_id": 3, "seller_id": "b", "shipping_limit_at": "2025-06-05 10:00:00", "price": 5.0, "freight_value": 0.5},
            # Olist: no order row; dated by the shipping limit.
            {"order_id": "o2", "order_item_id": 1, "seller_id": "a", "shipping_limit_at": "2025-06-09 23:59:59", "price": 7.0, "freight_value": 0.0},
            # null row: no order row and no shipping limit.
            {"order_id": "o3", "order_item_id": 1, "seller_id": "a", "shipping_limit_at": None, "price": 1.0, "freight_value": 0.0},
            # order row whose customer has no customers row: buyer = customer_id.
            {"order_id": "o4", "order_item_id": 1, "seller_id": "b", "shipping_limit_at": "2025-06-12 00:00:00", "price": 2.0, "freight_value": 0.0},
        ],
    )  # fmt: skip
    orders = silver(
        spark,
        "orders",
        [
            {"order_id": "o1", "customer_id": "c1", "status": "delivered", "purchased_at": "2025-06-01 23:00:00"},
            {"order_id": "o4", "customer_id": "c9", "status": "canceled", "purchased_at": "2025-06-10 00:00:00"},
        ],
    )  # fmt: skip
    customers = silver(
        spark,
        "customers",
        [
            {
                "customer_id": "c1",
                "customer_unique_id": "person1",
                "created_at": "2025-05-30 00:00:00",
            }
        ],
    )
    got = build_seller_orders(items, orders, customers).select(
        "seller_id", "order_id", "event_day", "has_order_row", "items", "gmv_cents", "freight_cents", "status", "buyer_id"
    )  # fmt: skip
    schema = T.StructType(
        [
            T.StructField("seller_id", T.StringType()),
            T.StructField("order_id", T.StringType()),
            T.StructField("event_day", T.IntegerType()),
            T.StructField("has_order_row", T.BooleanType()),
            T.StructField("items", T.LongType()),
            T.StructField("gmv_cents", T.LongType()),
            T.StructField("freight_cents", T.LongType()),
            T.StructField("status", T.StringType()),
            T.StructField("buyer_id", T.StringType()),
        ]
    )
    expected = spark.createDataFrame(
        [
            ("a", "o1", day("2025-06-01"), True, 2, 1030, 100, "delivered", "person1"),
            ("b", "o1", day("2025-06-01"), True, 1, 500, 50, "delivered", "person1"),
            ("a", "o2", day("2025-06-09"), False, 1, 700, 0, None, None),
            ("a", "o3", None, False, 1, 100, 0, None, None),
            ("b", "o4", day("2025-06-10"), True, 1, 200, 0, "canceled", "c9"),
        ],
        schema,
    )  # fmt: skip
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Excellent seller!!!  Product arrived", "excellent seller product arrived"),
        ("  ÓTIMO,produto; recomendo 100% ", "ótimo produto recomendo 100"),
        ("!!!", ""),
        (None, None),
    ],
)
def test_normalized_text(spark, text, expected):
    df = spark.createDataFrame([(text,)], "t string")
    assert df.select(normalized_text("t").alias("n")).first()["n"] == expected


def test_review_facts_account_age_at_order_and_template_text(spark):
    seller_orders = spark.createDataFrame(
        [
            (
                "o1",
                "a",
                dt.datetime(2025, 6, 10, 12),
                dt.datetime(2025, 6, 3, 12, 0, 1),
            ),  # 6.99 days old
            ("o2", "a", dt.datetime(2025, 6, 10, 12), dt.datetime(2025, 6, 3, 12)),  # edge: 7 days
            ("o3", "a", dt.datetime(2025, 6, 10, 12), None),  # account age unknown
        ],
        "order_id string, seller_id string, ordered_at timestamp, buyer_created_at timestamp",
    )
    reviews = silver(
        spark,
        "reviews",
        [
            {"review_id": "r1", "order_id": "o1", "score": 5, "comment_message": "Great seller, will buy again!", "created_at": "2025-06-20 08:00:00"},
            {"review_id": "r2", "order_id": "o2", "score": 1, "comment_message": "bad", "created_at": "2025-06-21 08:00:00"},
            {"review_id": "r3", "order_id": "o3", "score": 3, "comment_message": None, "created_at": "2025-06-22 08:00:00"},
            {"review_id": "r4", "order_id": "o3", "score": 4, "comment_message": "no date", "created_at": None},
        ],
    )  # fmt: skip
    got = build_review_facts(reviews, seller_orders, young_account_days=7, min_text_length=20)
    expected = spark.createDataFrame(
        [
            ("a", day("2025-06-20"), 5, True, True, "great seller will buy again"),
            ("a", day("2025-06-21"), 1, True, False, None),
            ("a", day("2025-06-22"), 3, False, None, None),
        ],
        "seller_id string, day int, score long, has_account_age boolean, "
        "is_young_account boolean, template_text string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_case_facts_attribution_and_one_count_per_order_and_type(spark):
    seller_orders = spark.createDataFrame(
        [("o1", "a", 100), ("o1", "b", 100), ("o2", "a", 105), ("o3", "a", None)],
        "order_id string, seller_id string, event_day int",
    )
    after_sales = silver(
        spark,
        "after_sales",
        [
            {"case_id": "k1", "order_id": "o1", "seller_id": "b", "case_type": "REFUND", "opened_at": "1970-04-20 10:00:00"},
            {"case_id": "k2", "order_id": "o2", "seller_id": None, "case_type": "CHARGEBACK", "opened_at": "1970-04-25 00:00:00"},
            {"case_id": "k3", "order_id": "o2", "seller_id": "a", "case_type": "CHARGEBACK", "opened_at": "1970-04-24 00:00:00"},
            {"case_id": "k4", "order_id": "o1", "seller_id": None, "case_type": "RETURN", "opened_at": "1970-04-21 00:00:00"},
            {"case_id": "k5", "order_id": "o3", "seller_id": "a", "case_type": "RETURN", "opened_at": "1970-04-21 00:00:00"},
            {"case_id": "k6", "order_id": "o2", "seller_id": "a", "case_type": "DISPUTE", "opened_at": None},
        ],
    )  # fmt: skip
    got = build_case_facts(after_sales, seller_orders)
    expected = spark.createDataFrame(
        [
            ("b", "o1", "REFUND", 100, 109),
            ("a", "o2", "CHARGEBACK", 105, 113),  # two cases, counted once, the first one's day
            ("a", "o1", "RETURN", 100, 110),  # no seller named: every seller of the order
            ("b", "o1", "RETURN", 100, 110),
        ],
        "seller_id string, order_id string, case_type string, order_day int, open_day int",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
