"""Point in time: events after the end of D never change D's features; they show on D+1.

Limitation kept visible: orders.status is a snapshot without a time, so a
later *cancellation* of an order placed by D would change D's cancel rate.
"""

from __future__ import annotations

from datetime import date

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from tests.conftest import silver
from transforms.seller_risk.facts import build_seller_orders
from transforms.seller_risk.features import build_seller_risk_features
from transforms.seller_risk.measures import RiskParams

D, NEXT = date(2025, 6, 30), date(2025, 7, 1)
AFTER = "2025-07-01 00:00:00"  # the first instant after D
PARAMS = RiskParams(min_category_items=1)


def item(order_id, price, limit):
    return {"order_id": order_id, "order_item_id": 1, "product_id": "p1", "seller_id": "s1",
            "shipping_limit_at": limit, "price": price, "freight_value": 1.0}  # fmt: skip


def order(order_id, customer, purchased, status, carrier=None, delivered=None):
    return {"order_id": order_id, "customer_id": customer, "status": status, "purchased_at": purchased,
            "delivered_carrier_at": carrier, "delivered_customer_at": delivered,
            "estimated_delivery_at": "2025-06-20 00:00:00"}  # fmt: skip


TEMPLATE = "Excellent seller!!! Product arrived perfect, recommend"
BASE = {
    "customers": [
        {"customer_id": "c1", "customer_unique_id": "u1", "created_at": "2025-01-01 00:00:00"},
        {"customer_id": "c2", "customer_unique_id": "u2", "created_at": "2025-06-25 00:00:00"},
        {"customer_id": "c3", "customer_unique_id": None, "created_at": None},  # null row
    ],
    "orders": [
        order("o1", "c1", "2025-06-10 10:00:00", "delivered", "2025-06-12 00:00:00", "2025-06-15 00:00:00"),
        order("o2", "c2", "2025-06-28 10:00:00", "processing"),
        order("o9", "c3", "2025-06-30 23:59:59", "created"),  # edge: last second of D
    ],
    "order_items": [
        item("o1", 100.0, "2025-06-12 10:00:00"),
        item("o2", 90.0, "2025-06-30 12:00:00"),
        item("o9", 95.0, "2025-07-02 00:00:00"),
    ],
    "reviews": [
        {"review_id": "r1", "order_id": "o1", "score": 5, "comment_message": TEMPLATE, "created_at": "2025-06-16 00:00:00"},
        {"review_id": "r2", "order_id": "o2", "score": 5, "comment_message": TEMPLATE, "created_at": "2025-06-29 00:00:00"},
    ],
    "after_sales": [
        {"case_id": "k1", "order_id": "o1", "seller_id": "s1", "case_type": "REFUND", "opened_at": "2025-06-25 00:00:00"},
    ],
    "products": [{"product_id": "p1", "seller_id": "s1", "category": "c", "listed_at": "2025-01-01 00:00:00"}],
    "sellers": [{"seller_id": "s1", "registered_at": "2024-06-30 00:00:00"}],
}  # fmt: skip
LATER = {
    "customers": [{"customer_id": "c4", "customer_unique_id": "u4", "created_at": AFTER}],
    "orders": [
        order("o3", "c4", AFTER, "created"),
        # o2 as it looks later: handed to the carrier after its limit, after D.
        order("o2", "c2", "2025-06-28 10:00:00", "delivered", AFTER, "2025-07-03 00:00:00"),
    ],
    "order_items": [item("o3", 1.0, "2025-07-03 00:00:00"), item("o4", 2.0, AFTER)],  # o4: no order row
    "reviews": [
        {"review_id": "r3", "order_id": "o1", "score": 1, "comment_message": TEMPLATE, "created_at": AFTER},
    ],
    "after_sales": [
        {"case_id": "k2", "order_id": "o1", "seller_id": "s1", "case_type": "CHARGEBACK", "opened_at": AFTER},
    ],
    "products": [{"product_id": "p2", "seller_id": "s1", "category": "c", "listed_at": AFTER}],
}  # fmt: skip


def _features(spark, tables, start, end):
    t = {name: silver(spark, name, rows) for name, rows in tables.items()}
    seller_orders = build_seller_orders(t["order_items"], t["orders"], t["customers"]).cache()
    return build_seller_risk_features(
        seller_orders, t["reviews"], t["products"], t["sellers"],
        t["after_sales"], PARAMS, start, end,
    )  # fmt: skip


@pytest.fixture(scope="module")
def base(spark):
    return _features(spark, BASE, D, D).cache()


@pytest.fixture(scope="module")
def later(spark):
    replaced = {"o2"}
    tables = {k: list(v) for k, v in BASE.items()}
    tables["orders"] = [o for o in tables["orders"] if o["order_id"] not in replaced]
    for name, rows in LATER.items():
        tables[name] = tables[name] + rows
    return _features(spark, tables, D, NEXT).cache()


def test_events_after_d_do_not_change_d(base, later):
    assert_df_equality(later.where(F.col("as_of_date") == D), base)


def test_the_same_events_count_on_the_next_day(later):
    row = later.where(F.col("as_of_date") == NEXT).first()
    got = {
        c: row[c]
        for c in ("orders_1d", "shipments_1d", "late_shipments_1d", "reviews_1d", "one_star_share_1d",
                  "templated_reviews_30d", "chargebacks_30d", "refunds_30d", "new_listings_7d")
    }  # fmt: skip
    assert got == {
        "orders_1d": 2,  # o3 and the item without order row
        "shipments_1d": 1,
        "late_shipments_1d": 1,
        "reviews_1d": 1,
        "one_star_share_1d": 1.0,
        "templated_reviews_30d": 3,
        "chargebacks_30d": 1,
        "refunds_30d": 1,
        "new_listings_7d": 1,
    }


def test_base_day_sees_its_own_events(base):
    row = base.first()
    assert (row.orders_1d, row.orders_7d, row.reviews_30d, row.refunds_30d) == (1, 2, 2, 1)
    assert (row.young_account_review_share_30d, row.templated_reviews_30d) == (0.5, 0)
