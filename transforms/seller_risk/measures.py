"""Seller risk: additive daily measures, their rolling windows, and the rates derived from them.

Every rate is null when its denominator is 0 (Spark 4 runs with ANSI mode on,
so a bare division by zero would fail the job); its denominator is an output
column too, so a reviewer can tell "0 of 0" from "0 of 40".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.seller_risk.facts import DAY_SECONDS, day_number
from transforms.seller_risk.spine import AS_OF, Rolling, aggregate_daily, trailing
from transforms.seller_risk.windowed import CASE_TYPES, Z_SCALE

# Additive measures per (seller, day), all integers so sums are exact and cheap.
MEASURES = {
    "orders": "long",
    "gmv_cents": "long",
    "freight_cents": "long",
    "with_status": "long",
    "canceled": "long",
    "shipments": "long",
    "late_shipments": "long",
    "deliveries": "long",
    "delay_seconds": "long",
    "reviews": "long",
    "score_sum": "long",
    "one_star": "long",
    "with_account_age": "long",
    "young_account": "long",
    "priced_items": "long",
    "price_z_e4": "long",
    "below_items": "long",
    "listings": "long",
}


# Window column stems that differ from their measure's name.
WINDOW_NAMES = {
    "with_status": "orders_with_status",
    "canceled": "canceled_orders",
    "with_account_age": "reviews_with_account_age",
}


GMV = "decimal(22,2)"


@dataclass(frozen=True)
class RiskParams:
    """Windows and thresholds of the seller risk features (from the job's YAML; the
    `metadata` bounds are checked when the config is loaded)."""

    windows: tuple[int, ...] = field(default=(1, 7, 30), metadata={"min_length": 1})
    active_days: int = field(default=90, metadata={"ge": 1})
    after_sale_delay_days: int = field(default=14, metadata={"ge": 0})
    burst_recent_days: int = field(default=7, metadata={"ge": 1})
    burst_baseline_days: int = field(default=28, metadata={"ge": 1})
    listing_days: int = field(default=7, metadata={"ge": 1})
    young_account_days: int = field(default=7, metadata={"ge": 1})
    template_min_count: int = field(default=3, metadata={"ge": 2})
    template_min_length: int = field(default=20, metadata={"ge": 1})
    price_reference_days: int = field(default=60, metadata={"ge": 1})
    price_reference_step_days: int = field(default=7, metadata={"ge": 1})
    min_category_items: int = field(default=20, metadata={"ge": 2})
    below_category_z: float = -2.0


# Per-window outputs, by family, in output order ({n} = window length in days).
WINDOW_FEATURES = {
    "volume": ("orders_{n}d", "gmv_{n}d", "aov_{n}d"),
    "fulfilment": (
        "orders_with_status_{n}d",
        "canceled_orders_{n}d",
        "cancel_rate_{n}d",
        "shipments_{n}d",
        "late_shipments_{n}d",
        "late_shipment_rate_{n}d",
        "deliveries_{n}d",
        "delivery_delay_mean_days_{n}d",
    ),
    "after_sale": (
        "after_sale_orders_{n}d",
        *[f"{stem}s_{{n}}d" for stem in CASE_TYPES.values()],
        *[f"{stem}_rate_{{n}}d" for stem in CASE_TYPES.values()],
    ),
    "buyers": (
        "buyer_orders_{n}d",
        "distinct_buyers_{n}d",
        "top_buyer_share_{n}d",
        "repeat_buyer_share_{n}d",
    ),
    "reviews": (
        "reviews_{n}d",
        "review_score_mean_{n}d",
        "one_star_share_{n}d",
        "templated_reviews_{n}d",
        "templated_review_share_{n}d",
        "reviews_with_account_age_{n}d",
        "young_account_review_share_{n}d",
    ),
    "pricing": (
        "priced_items_{n}d",
        "price_z_mean_{n}d",
        "price_below_share_{n}d",
        "freight_ratio_{n}d",
    ),
}


def feature_columns(p: RiskParams) -> list[str]:
    """Every feature and count column of the output, in order."""
    cols = [
        t.format(n=n)
        for templates in WINDOW_FEATURES.values()
        for n in p.windows
        for t in templates
    ]
    return [
        *cols,
        f"orders_prior_{p.burst_baseline_days}d",
        "burst_ratio",
        "listings_total",
        f"new_listings_{p.listing_days}d",
        "account_age_days",
        "days_since_first_sale",
    ]


def ratio(num: Column | str, den: Column | str) -> Column:
    """num / den as double, null when den is 0 or null (never a division error, never NaN)."""
    num, den = (
        F.col(num) if isinstance(num, str) else num,
        F.col(den) if isinstance(den, str) else den,
    )
    return F.when(den > 0, num.cast("double") / den.cast("double"))


def daily_measures(
    placed: DataFrame,
    fulfilled: DataFrame,
    review_facts: DataFrame,
    item_z: DataFrame,
    listings: DataFrame,
    hot_sellers: Sequence[tuple] = (),
    salt_buckets: int = 1,
) -> DataFrame:
    """Additive measures per (seller, day), each keyed by the day its event became known.

    Orders count on their event day; a late shipment when the carrier got it; a
    delivery delay when it was delivered; a review when it was written. Status
    is a snapshot without a time (Olist has no cancellation time), so a
    cancellation counts on the order's day. `placed` and `fulfilled` are seller-orders
    (`build_seller_orders`): the first counted by order day, the second by shipping
    and delivery day (the same table, or each cut to the days a range reads).
    """
    placed = placed.where(F.col("event_day").isNotNull())
    is_late = F.col("carrier_at") > F.col("limit_at")
    delay = F.unix_timestamp("delivered_at") - F.unix_timestamp("estimated_at")
    sources = [
        placed.select(
            "seller_id",
            F.col("event_day").alias("day"),
            F.lit(1).alias("orders"),
            "gmv_cents",
            "freight_cents",
            F.col("status").isNotNull().cast("long").alias("with_status"),
            (F.col("status") == "canceled").cast("long").alias("canceled"),
        ),
        fulfilled.where(F.col("carrier_at").isNotNull() & F.col("limit_at").isNotNull()).select(
            "seller_id",
            day_number("carrier_at").alias("day"),
            F.lit(1).alias("shipments"),
            is_late.cast("long").alias("late_shipments"),
        ),
        fulfilled.where(
            F.col("delivered_at").isNotNull() & F.col("estimated_at").isNotNull()
        ).select(
            "seller_id",
            day_number("delivered_at").alias("day"),
            F.lit(1).alias("deliveries"),
            delay.alias("delay_seconds"),
        ),
        review_facts.select(
            "seller_id",
            "day",
            F.lit(1).alias("reviews"),
            F.col("score").alias("score_sum"),
            (F.col("score") == 1).cast("long").alias("one_star"),
            F.col("has_account_age").cast("long").alias("with_account_age"),
            F.coalesce(F.col("is_young_account"), F.lit(False)).cast("long").alias("young_account"),
        ),
        item_z,
        listings.withColumn("listings", F.lit(1)),
    ]
    return aggregate_daily(sources, MEASURES, hot_sellers, salt_buckets).withColumn(
        "sale_day", F.when(F.col("orders") > 0, F.col("day"))
    )


def rolling_specs(p: RiskParams) -> dict[str, Rolling]:
    """Window sums over the spine: trailing windows, the delayed after-sale window, history."""
    specs: dict[str, Rolling] = {}
    for n in p.windows:
        for measure in MEASURES:
            if measure != "listings":  # listings have their own window
                specs[f"{WINDOW_NAMES.get(measure, measure)}_{n}d"] = trailing(measure, n)
        specs[f"after_sale_orders_{n}d"] = trailing("orders", n, offset=p.after_sale_delay_days)
    specs["orders_recent"] = trailing("orders", p.burst_recent_days)
    specs[f"orders_prior_{p.burst_baseline_days}d"] = trailing(
        "orders", p.burst_baseline_days, offset=p.burst_recent_days
    )
    specs[f"new_listings_{p.listing_days}d"] = trailing("listings", p.listing_days)
    specs["listings_total"] = Rolling("sum", "listings", None)
    specs["first_sale_day"] = Rolling("min", "sale_day", None)
    return specs


def with_rates(df: DataFrame, p: RiskParams, has_after_sales: bool) -> DataFrame:
    """Rates, means and shares from the window counts; after-sale ones null without the table."""
    cols: dict[str, Column] = {}
    for n in p.windows:
        w = f"_{n}d"
        cols |= {
            f"aov{w}": ratio(f"gmv_cents{w}", f"orders{w}") / 100,
            f"cancel_rate{w}": ratio(f"canceled_orders{w}", f"orders_with_status{w}"),
            f"late_shipment_rate{w}": ratio(f"late_shipments{w}", f"shipments{w}"),
            f"delivery_delay_mean_days{w}": ratio(f"delay_seconds{w}", f"deliveries{w}")
            / DAY_SECONDS,
            f"top_buyer_share{w}": ratio(f"top_buyer_orders{w}", f"buyer_orders{w}"),
            f"repeat_buyer_share{w}": ratio(f"repeat_buyers{w}", f"distinct_buyers{w}"),
            f"review_score_mean{w}": ratio(f"score_sum{w}", f"reviews{w}"),
            f"one_star_share{w}": ratio(f"one_star{w}", f"reviews{w}"),
            f"templated_review_share{w}": ratio(f"templated_reviews{w}", f"reviews{w}"),
            f"young_account_review_share{w}": ratio(
                f"young_account{w}", f"reviews_with_account_age{w}"
            ),
            f"price_z_mean{w}": ratio(f"price_z_e4{w}", f"priced_items{w}") / Z_SCALE,
            f"price_below_share{w}": ratio(f"below_items{w}", f"priced_items{w}"),
            f"freight_ratio{w}": ratio(f"freight_cents{w}", f"gmv_cents{w}"),
            # exact: whole cents back to DECIMAL money (20 digits hold any long)
            f"gmv{w}": (F.col(f"gmv_cents{w}").cast("decimal(20,0)") / 100).cast(GMV),
        }
        for stem in CASE_TYPES.values():
            rate = ratio(f"{stem}s{w}", f"after_sale_orders{w}")
            cols[f"{stem}_rate{w}"] = rate if has_after_sales else F.lit(None).cast("double")
    prior = f"orders_prior_{p.burst_baseline_days}d"
    recent_daily = F.col("orders_recent") / p.burst_recent_days
    # A baseline that starts before the seller's (or the data's) first sale is not a
    # baseline: without this, every seller "bursts" in the weeks after it starts.
    has_baseline = (
        F.col(AS_OF) - F.col("first_sale_day") >= p.burst_recent_days + p.burst_baseline_days
    )
    cols["burst_ratio"] = F.when(
        has_baseline, ratio(recent_daily, F.col(prior) / p.burst_baseline_days)
    )
    new_listings = f"new_listings_{p.listing_days}d"
    cols[new_listings] = F.when(F.col("listings_total") > 0, F.col(new_listings))
    cols["days_since_first_sale"] = F.col(AS_OF) - F.col("first_sale_day")
    registered = day_number("registered_at")
    cols["account_age_days"] = F.when(registered <= F.col(AS_OF), F.col(AS_OF) - registered)
    return df.withColumns(cols)
