"""build_seller_risk_features on tiny silver tables: volume, fulfilment and tenure per window.

As-of day D = 2025-06-30. Seller s1 sells on D, D-2 (an item without order
row), D-5, D-29 (edge: inside the 30-day window), D-30 (edge: outside) and
D-40, and once after D. Seller s2's only sale is 76 days old: active, every
window empty. Seller s3's last sale is 121 days old: not active, no row.
Seller s4 started 20 days ago: too young for a burst baseline.
"""

from __future__ import annotations

from datetime import date

import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from tests.conftest import silver
from transforms.seller_risk.facts import build_seller_orders
from transforms.seller_risk.features import build_seller_risk_features
from transforms.seller_risk.measures import RiskParams

D = date(2025, 6, 30)


def item(order_id, seller, price, freight, limit, n=1, product="p1"):
    return {
        "order_id": order_id,
        "order_item_id": n,
        "product_id": product,
        "seller_id": seller,
        "shipping_limit_at": limit,
        "price": price,
        "freight_value": freight,
    }


def order(order_id, purchased, status, carrier=None, delivered=None, estimated=None):
    return {
        "order_id": order_id,
        "customer_id": f"c_{order_id}",
        "status": status,
        "purchased_at": purchased,
        "delivered_carrier_at": carrier,
        "delivered_customer_at": delivered,
        "estimated_delivery_at": estimated,
    }


@pytest.fixture(scope="module")
def features(spark):
    items = silver(
        spark,
        "order_items",
        [
            item("o1", "s1", 10.0, 2.0, "2025-07-02 00:00:00"),
            item("o1", "s1", 5.5, 1.0, "2025-07-02 00:00:00", n=2),
            item("o2", "s1", 20.0, 4.0, "2025-06-27 00:00:00"),
            item("o3", "s1", 30.0, 3.0, "2025-06-03 10:00:00"),
            item("o4", "s1", 40.0, 0.0, "2025-06-02 00:00:00"),
            item("o5", "s1", 7.0, 0.5, "2025-06-28 09:00:00"),  # no order row
            item("o6", "s1", 99.0, 1.0, "2025-07-03 00:00:00"),  # bought after D
            item("o7", "s1", 50.0, 1.0, None),  # null row: no order row, no limit
            item("o0", "s1", 1.0, 0.0, "2025-05-23 00:00:00"),
            item("o8", "s2", 12.0, 1.0, "2025-04-17 00:00:00"),
            item("o41", "s4", 5.0, 0.0, "2025-06-12 00:00:00"),
            item("o42", "s4", 5.0, 0.0, "2025-07-02 00:00:00"),
            item("o9", "s3", 12.0, 1.0, "2025-03-03 00:00:00"),
        ],
    )
    orders = silver(
        spark,
        "orders",
        [
            order("o1", "2025-06-30 08:00:00", "shipped"),
            order("o2", "2025-06-25 10:00:00", "canceled"),
            order(
                "o3",
                "2025-06-01 00:00:00",
                "delivered",
                carrier="2025-06-04 09:00:00",  # after its 06-03 10:00 limit: late
                delivered="2025-06-10 00:00:00",
                estimated="2025-06-08 00:00:00",
            ),
            order(
                "o4",
                "2025-05-31 23:59:59",
                "delivered",
                carrier="2025-06-01 00:00:00",
                delivered="2025-06-05 12:00:00",
                estimated="2025-06-06 00:00:00",
            ),
            order("o6", "2025-07-01 00:00:00", "created"),
            order("o0", "2025-05-21 00:00:00", "delivered"),
            order("o8", "2025-04-15 00:00:00", "delivered"),
            order("o41", "2025-06-10 00:00:00", "delivered"),
            order("o42", "2025-06-30 00:00:00", "delivered"),
            order("o9", "2025-03-01 00:00:00", "delivered"),
        ],
    )
    products = silver(
        spark,
        "products",
        [
            {"product_id": "p1", "seller_id": "s1", "listed_at": "2025-06-24 00:00:00"},
            {"product_id": "p2", "seller_id": "s1", "listed_at": "2024-01-01 00:00:00"},
            {"product_id": "p3", "seller_id": "s1", "listed_at": "2025-07-01 00:00:00"},
            {"product_id": "p4", "seller_id": None, "listed_at": None},
        ],
    )
    sellers = silver(
        spark,
        "sellers",
        [
            {"seller_id": "s1", "registered_at": "2025-01-01 10:00:00"},
            {"seller_id": "s2", "registered_at": None},
        ],
    )
    # Cached like the job persists it: it feeds every feature family.
    seller_orders = build_seller_orders(items, orders, silver(spark, "customers", [])).cache()
    out = build_seller_risk_features(
        seller_orders,
        silver(spark, "reviews", []),
        products,
        sellers,
        None,
        RiskParams(),
        D,
        D,
    )
    return out.cache()


L, DBL = T.LongType(), T.DoubleType()


def _expect(spark, features, columns, s1, s2, s4=None):
    """Compare the `columns` ((name, type) pairs) of s1, s2 (and s4) with the expected values."""
    schema = T.StructType(
        [T.StructField("seller_id", T.StringType()), *[T.StructField(c, t) for c, t in columns]]
    )
    rows = [("s1", *s1), ("s2", *s2)] + ([("s4", *s4)] if s4 is not None else [])
    expected = spark.createDataFrame(rows, schema)
    actual = features.where(F.col("seller_id").isin([r[0] for r in rows])).select(
        "seller_id", *[F.col(c).cast(t) for c, t in columns]
    )
    assert_approx_df_equality(actual.orderBy("seller_id"), expected, 1e-9, ignore_nullable=True)


def test_one_row_per_active_seller_at_end_of_day(features):
    got = [(r.seller_id, r.as_of_date) for r in features.orderBy("seller_id").collect()]
    assert got == [("s1", D), ("s2", D), ("s4", D)]


def test_volume_windows_and_empty_windows(spark, features):
    cols = [("orders_1d", L), ("orders_7d", L), ("orders_30d", L), ("gmv_1d", DBL)]
    cols += [("gmv_7d", DBL), ("gmv_30d", DBL), ("aov_1d", DBL), ("aov_30d", DBL)]
    s1 = (1, 3, 4, 15.5, 42.5, 72.5, 15.5, 18.125)
    _expect(spark, features, cols, s1, (0, 0, 0, 0.0, 0.0, 0.0, None, None))


def test_burst_ratio_against_prior_28_days(spark, features):
    # s1: 3 orders in the last 7 days against 2 in the 28 days before: (3/7) / (2/28) = 6.
    # s4 would be (1/7) / (1/28) = 4, but its first sale is 20 < 7 + 28 days old: null.
    cols = [("orders_prior_28d", L), ("burst_ratio", DBL)]
    _expect(spark, features, cols, (2, 6.0), (0, None), (1, None))


def test_cancellation_rate_over_orders_with_a_status(spark, features):
    cols = [("orders_with_status_1d", L), ("orders_with_status_7d", L), ("canceled_orders_7d", L)]
    cols += [("cancel_rate_1d", DBL), ("cancel_rate_7d", DBL), ("cancel_rate_30d", DBL)]
    _expect(spark, features, cols, (1, 2, 1, 0.0, 0.5, 1 / 3), (0, 0, 0, None, None, None))


def test_late_shipments_by_carrier_day(spark, features):
    cols = [("shipments_7d", L), ("shipments_30d", L), ("late_shipments_30d", L)]
    cols += [("late_shipment_rate_7d", DBL), ("late_shipment_rate_30d", DBL)]
    _expect(spark, features, cols, (0, 2, 1, None, 0.5), (0, 0, 0, None, None))


def test_delivery_delay_mean_in_days(spark, features):
    # o3 arrived two days after its estimate, o4 half a day before it.
    cols = [
        ("deliveries_30d", L),
        ("delivery_delay_mean_days_30d", DBL),
        ("freight_ratio_30d", DBL),
    ]
    _expect(spark, features, cols, (2, 0.75, 10.5 / 72.5), (0, None, None))


def test_tenure_and_catalogue(spark, features):
    cols = [("listings_total", L), ("new_listings_7d", L), ("account_age_days", L)]
    cols += [("days_since_first_sale", L)]
    # s2 has no known listing and no registration date: null, not 0.
    _expect(spark, features, cols, (2, 1, 180, 40), (0, None, None, 76))


def test_missing_after_sales_gives_null_case_features(spark, features):
    # The delayed window (D-43..D-14) holds o0, o3 and o4; their cases are unknown.
    cols = [("after_sale_orders_30d", L), ("chargebacks_30d", L), ("chargeback_rate_30d", DBL)]
    _expect(spark, features, cols, (3, None, None), (0, None, None))
