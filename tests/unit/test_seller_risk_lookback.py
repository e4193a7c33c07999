"""A `--date D` run reads only its lookback, and gets exactly what a backfill gets for D.

The history below is built so that every lookback rule matters: a first sale long
before the lookback, orders shipped, delivered and reviewed weeks after they were
placed (they count on those days), cases on orders of the delayed window, listings
from long ago, sparse categories whose price reference reaches back furthest, and
gaps longer than `active_days` (sellers going inactive and coming back).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from tests.conftest import silver
from transforms.seller_risk.facts import build_seller_orders
from transforms.seller_risk.features import build_seller_risk_features, lookback_days
from transforms.seller_risk.measures import RiskParams

FIRST, LAST = date(2025, 1, 1), date(2025, 9, 30)
DAYS = (LAST - FIRST).days + 1
DEFAULT = RiskParams(min_category_items=1)
# Every reach changed, and the price reference (the longest by default) made longer still.
WIDE = RiskParams(
    windows=(3, 45),
    active_days=20,
    after_sale_delay_days=30,
    burst_recent_days=5,
    burst_baseline_days=50,
    price_reference_days=100,
    price_reference_step_days=10,
    min_category_items=1,
)


def _ts(day: int, hour: int = 12) -> str:
    return str(
        datetime.combine(FIRST + timedelta(days=day), datetime.min.time()) + timedelta(hours=hour)
    )


def _history() -> dict[str, list[dict]]:
    """Three sellers over 273 days: s1 every 3rd day throughout, s2 in two bursts 120
    days apart, s3 once at the very start and then near the end (a first sale far
    outside any lookback). Delays vary with the order number, up to 90 days."""
    rows: dict[str, list[dict]] = {
        t: [] for t in ("orders", "order_items", "customers", "reviews", "after_sales")
    }
    sale_days = {
        "s1": range(0, DAYS, 3),
        "s2": [*range(10, 40, 2), *range(160, 200, 2)],
        "s3": [0, *range(250, DAYS, 4)],
    }
    n = 0
    for seller, days in sale_days.items():
        for day in days:
            n += 1
            oid, cid = f"o{n}", f"c{n % 7}"
            carrier, delivered = day + n % 41, day + 3 + n % 67
            rows["orders"].append(
                {
                    "order_id": oid,
                    "customer_id": cid,
                    "status": "canceled" if n % 11 == 0 else "delivered",
                    "purchased_at": _ts(day),
                    "delivered_carrier_at": _ts(carrier),
                    "delivered_customer_at": _ts(delivered),
                    "estimated_delivery_at": _ts(day + 10),
                }
            )
            rows["order_items"].append(
                {
                    "order_id": oid,
                    "order_item_id": 1,
                    "product_id": f"p{n % 5}",
                    "seller_id": seller,
                    "shipping_limit_at": _ts(day + 2),
                    "price": 10.0 + (n * 37) % 90,
                    "freight_value": 2.0,
                }
            )
            if n % 2:
                text = "same words for every single review here" if n % 3 else f"review {n}"
                rows["reviews"].append(
                    {
                        "review_id": f"r{n}",
                        "order_id": oid,
                        "score": 1 + n % 5,
                        "comment_message": text,
                        "created_at": _ts(delivered + n % 90),
                    }
                )
            if n % 4 == 0:
                rows["after_sales"].append(
                    {
                        "case_id": f"k{n}",
                        "order_id": oid,
                        "seller_id": seller,
                        "case_type": ("RETURN", "REFUND", "CHARGEBACK", "DISPUTE")[n // 4 % 4],
                        "opened_at": _ts(day + n % 50),
                    }
                )
    rows["customers"] = [
        {"customer_id": f"c{i}", "customer_unique_id": f"u{i}", "created_at": _ts(i * 30)}
        for i in range(7)
    ]
    rows["products"] = [
        {
            "product_id": f"p{i}",
            "seller_id": f"s{1 + i % 3}",
            "category": f"cat{i % 2}",
            "listed_at": _ts(i * 40),
        }
        for i in range(5)
    ]
    rows["sellers"] = [{"seller_id": f"s{i}", "registered_at": _ts(0)} for i in (1, 2, 3)]
    return rows  # fmt: skip


@pytest.fixture(scope="module")
def inputs(spark):
    t = {name: silver(spark, name, rows) for name, rows in _history().items()}
    seller_orders = build_seller_orders(t["order_items"], t["orders"], t["customers"]).cache()
    return seller_orders, t


def _features(inputs, params, start, end):
    seller_orders, t = inputs
    return build_seller_risk_features(
        seller_orders, t["reviews"], t["products"], t["sellers"],
        t["after_sales"], params, start, end,
    )  # fmt: skip


def test_lookback_is_the_furthest_reach():
    # price reference: 29 (window) + 6 (step) + 59 (reference) > active 89, after-sale 43
    assert lookback_days(DEFAULT) == 94
    # burst baseline 5 + 50 - 1 = 54 < price 44 + 9 + 99 = 152
    assert lookback_days(WIDE) == 152
    assert lookback_days(RiskParams(active_days=400)) == 399


# 2025-05-20: s2 back after 120 days; the last day: s3's first sale 270 days earlier.
@pytest.mark.parametrize(
    "params,days",
    [(DEFAULT, [date(2025, 5, 20), LAST]), (WIDE, [LAST])],
    ids=["default", "wide"],
)
def test_single_days_equal_the_backfill(inputs, params, days):
    """Each day computed alone equals the backfill over all history (which reads
    everything: its lookback starts before the first event)."""
    backfill = _features(inputs, params, FIRST, LAST).cache()
    for day in days:
        alone = _features(inputs, params, day, day)
        assert alone.count() > 0
        assert_df_equality(alone, backfill.where(F.col("as_of_date") == day), ignore_row_order=True)
    backfill.unpersist()


def test_lifetime_facts_come_from_before_the_lookback(inputs):
    """s3 sold on day 0, then from day 250: on the last day its first sale and its
    listing are 270+ days old, far outside the 94-day lookback."""
    row = _features(inputs, DEFAULT, LAST, LAST).where("seller_id = 's3'").first()
    assert row.days_since_first_sale == DAYS - 1
    assert row.listings_total == 1
