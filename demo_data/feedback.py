"""Synthetic signals that follow an order: reviews, after-sales cases, interactions.

All are projections of the order plan (`marketplace.build_order_plan`),
filtered to what has happened before the window end.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from demo_data.core import DAY_S, HOUR_S, DemoParams, toward_legit, ts
from demo_data.products import Catalog
from transforms.common.seeded import (
    array_literal,
    at,
    by_class,
    hex_id,
    pick,
    randint,
    uniform,
    weighted,
)

REVIEW_SHARE = 0.7  # of delivered orders
CANCELED_REVIEW_SHARE = 0.25
NO_COMMENT_SHARE = 0.45
NO_TITLE_SHARE = 0.75
UNANSWERED_SHARE = 0.1
GOOD_SCORES = ((1, 0.07), (2, 0.03), (3, 0.08), (4, 0.2), (5, 0.62))
BAD_SCORES = ((1, 0.45), (2, 0.15), (3, 0.15), (4, 0.1), (5, 0.15))
# Extra chance of a bad experience beyond cancellations and late deliveries.
BAD_MOOD = {"noisy": 0.3, "high_cancellation_chargeback": 0.4}
COMMENTS = (  # by score 1..5, same length each
    ("never arrived", "product broken", "terrible seller", "not as described", "waste of money"),
    ("poor quality", "arrived late", "missing parts", "not worth it", "disappointed"),
    ("ok", "average product", "took a while", "as expected", "could be better"),
    ("good", "good product", "arrived on time", "satisfied", "nice, recommend"),
    ("excellent", "great product", "fast delivery", "very good", "perfect, thank you"),
)
TITLES = ("bad", "not good", "ok", "good", "great")
# fake_reviews puppets post the same few templated texts.
FAKE_COMMENTS = (
    "Excellent seller!!! Product arrived perfect, 100% recommend, will buy again",
    "Excellent seller!!! Product arrived perfect, 100% recommended, buy with confidence",
)
FAKE_TITLE = "Recommend 100%"
# (CHARGEBACK, REFUND, RETURN, DISPUTE) probabilities per order, by seller class.
CASE_RATES = {
    "legit": (0.003, 0.015, 0.03, 0.008),
    "noisy": (0.01, 0.04, 0.06, 0.02),
    "high_cancellation_chargeback": (0.18, 0.20, 0.05, 0.05),
}
CANCELED_REFUND_SHARE = 0.35
CASE_OPENED_DAYS = (5, 40)
VIEW_LOOKBACK_S = 3 * DAY_S
CART_LOOKBACK_S = 2 * DAY_S


def _u(p: DemoParams, purpose: str) -> Column:
    return uniform(p.seed, purpose, "order_idx")


def reviews_from_plan(plan: DataFrame, p: DemoParams) -> DataFrame:
    """At most one review per order, created after delivery (or after a cancellation)."""
    is_puppet = F.col("customer_kind") == "puppet"
    delivered = F.col("status") == "delivered"
    u = _u(p, "review")
    is_reviewed = (delivered & (is_puppet | (u < REVIEW_SHARE))) | (
        F.col("is_canceled") & (u < CANCELED_REVIEW_SHARE)
    )
    delay = F.when(is_puppet, F.floor(_u(p, "review_delay") * DAY_S)).otherwise(
        F.floor(_u(p, "review_delay") * 5 * DAY_S)
    )
    created = F.when(delivered, F.col("customer_s") + HOUR_S + delay).otherwise(
        F.col("purchase_s") + DAY_S + delay
    )
    bad_mood = by_class("klass", toward_legit(BAD_MOOD, 0.0, p), 0.0)
    is_bad = F.col("is_canceled") | F.col("is_late") | (_u(p, "mood") < bad_mood)
    score = (
        F.when(is_puppet, F.lit(5))
        .when(is_bad, weighted(BAD_SCORES, _u(p, "score")))
        .otherwise(weighted(GOOD_SCORES, _u(p, "score")))
    )
    answered = F.col("created_s") + 6 * HOUR_S + F.floor(_u(p, "answer") * 3 * DAY_S)
    comments = array_literal(COMMENTS)
    phrase = F.element_at(
        F.element_at(comments, F.col("score")),
        (F.floor(_u(p, "comment") * len(COMMENTS[0])) + 1).cast("int"),
    )
    return (
        plan.where(is_reviewed)
        .withColumns({"created_s": created.cast("long"), "score": score.cast("int")})
        .where(F.col("created_s") < p.end_s)
        .select(
            hex_id(p.seed, "review", "order_idx").alias("review_id"),
            "order_id",
            "score",
            F.when(is_puppet, F.lit(FAKE_TITLE))
            .when(_u(p, "title") >= NO_TITLE_SHARE, at(TITLES, F.col("score") - 1))
            .alias("comment_title"),
            F.when(is_puppet, pick(FAKE_COMMENTS, _u(p, "fake_comment")))
            .when(_u(p, "has_comment") >= NO_COMMENT_SHARE, phrase)
            .alias("comment_message"),
            ts("created_s").alias("created_at"),
            ts(
                F.when(
                    (answered < p.end_s) & (_u(p, "answered") >= UNANSWERED_SHARE), answered
                ).cast("long")
            ).alias("answered_at"),
        )
    )


def after_sales_from_plan(plan: DataFrame, p: DemoParams) -> DataFrame:
    """At most one case per order, opened 5-40 days after purchase, if before the window end."""
    rates = []
    for i in range(4):
        legit = CASE_RATES["legit"][i]
        by_klass = toward_legit({k: v[i] for k, v in CASE_RATES.items()}, legit, p)
        rates.append(by_class("klass", by_klass, legit))
    chargeback, refund, ret, dispute = rates
    refund = refund + F.when(F.col("is_canceled"), CANCELED_REFUND_SHARE).otherwise(0.0)
    delivered = F.col("status") == "delivered"
    u = _u(p, "case")
    case_type = (
        F.when(u < chargeback, F.lit("CHARGEBACK"))
        .when(u < chargeback + refund, F.lit("REFUND"))
        .when(delivered & (u < chargeback + refund + ret), F.lit("RETURN"))
        .when(u < chargeback + refund + ret + dispute, F.lit("DISPUTE"))
    )
    opened = (
        F.col("purchase_s")
        + randint(_u(p, "case_day"), *CASE_OPENED_DAYS) * DAY_S
        + F.floor(_u(p, "case_second") * DAY_S)
    )
    first_price = F.element_at("lines", 1)["price"]
    return (
        plan.withColumns({"case_type": case_type, "opened_s": opened.cast("long")})
        .where(F.col("case_type").isNotNull() & (F.col("opened_s") < p.end_s))
        .select(
            hex_id(p.seed, "case", "order_idx").alias("case_id"),
            "order_id",
            "seller_id",
            "case_type",
            F.when(F.col("case_type") == "RETURN", first_price)
            .otherwise(F.col("total"))
            .alias("amount"),
            ts("opened_s").alias("opened_at"),
        )
    )


def _browsing(purchases: DataFrame, p: DemoParams, event_type: str, per_purchase: int) -> DataFrame:
    """Views or carts before a purchase: the bought item first, then other listings,
    drawn like orders (popular sellers get more attention)."""
    cat = Catalog.of(p)
    key = ["order_idx", "item_id", "j"]
    lookback = VIEW_LOOKBACK_S if event_type == "view" else CART_LOOKBACK_S
    # The bought item is viewed before it is carted, and carted just before purchase.
    own_offset = (
        600 + F.floor(uniform(p.seed, f"{event_type}_own", *key) * DAY_S)
        if event_type == "view"
        else 60 + F.floor(uniform(p.seed, f"{event_type}_own", *key) * 540)
    )
    other_offset = 60 + F.floor(uniform(p.seed, f"{event_type}_ts", *key) * lookback)
    n = randint(uniform(p.seed, f"n_{event_type}", "order_idx", "item_id"), 1, 2 * per_purchase - 1)
    is_own = F.col("j") == 0
    other_listing = F.floor(
        uniform(p.seed, f"{event_type}_listing", *key) * F.col("other_listings")
    ).cast("long")
    return (
        purchases.withColumn("j", F.explode(F.sequence(F.lit(0), n - 1)))
        .withColumns(
            {
                "other_rank": cat.sellers.rank_for(uniform(p.seed, f"{event_type}_seller", *key)),
                "event_s": (
                    F.col("event_s") - F.when(is_own, own_offset).otherwise(other_offset)
                ).cast("long"),
            }
        )
        .withColumn("other_listings", cat.listings("other_rank"))
        .withColumn("other_listing", other_listing)
        .where(
            is_own
            | (
                F.col("event_s")
                >= cat.listed_s("other_rank", "other_listing", F.col("other_listings"))
            )
        )
        .select(
            "user_id",
            F.when(is_own, F.col("item_id"))
            .otherwise(cat.product_id("other_rank", "other_listing"))
            .alias("item_id"),
            F.lit(event_type).alias("event_type"),
            "event_s",
        )
    )


def interactions_from_plan(plan: DataFrame, p: DemoParams) -> DataFrame:
    """Implicit feedback: one purchase per distinct item of an order, views >> carts >> purchases."""
    purchases = (
        plan.select(
            "order_idx",
            F.col("customer_id").alias("user_id"),
            F.col("purchase_s").alias("event_s"),
            F.explode("lines").alias("x"),
        )
        .where(F.col("x.is_first_of_product"))
        .select("order_idx", "user_id", "event_s", F.col("x.product_id").alias("item_id"))
    )
    events = (
        purchases.select("user_id", "item_id", F.lit("purchase").alias("event_type"), "event_s")
        .unionByName(_browsing(purchases, p, "view", p.views_per_purchase))
        .unionByName(_browsing(purchases, p, "cart", p.carts_per_purchase))
    )
    return events.select(
        "user_id",
        "item_id",
        "event_type",
        ts("event_s").alias("event_ts"),
        F.lit(None).cast("double").alias("rating"),
    )
