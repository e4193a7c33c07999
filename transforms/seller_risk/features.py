"""Seller risk features as of the end of each day of a range, in one set-based pass.

`build_seller_risk_features` turns the silver tables into one row per active
seller per as-of day (see `transforms.seller_risk.spine` for how); `with_risk_score`
(in `seller_risk_scoring`) adds the score. Pure: no IO, no session, no clock.
Point in time: an event counts on day D only if its event time is on or before
the end of D (after-sale cases: opened by D, on orders of the delayed window).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.seller_risk.facts import (
    build_case_facts,
    build_item_prices,
    build_listings,
    build_review_facts,
)
from transforms.seller_risk.measures import (
    RiskParams,
    daily_measures,
    feature_columns,
    rolling_specs,
    with_rates,
)
from transforms.seller_risk.scoring import ScoreRule, with_risk_score
from transforms.seller_risk.spine import AS_OF, SELLER, build_active_spine, with_rolling
from transforms.seller_risk.windowed import (
    CASE_TYPES,
    after_sale_windows,
    buyer_windows,
    category_price_reference,
    templated_review_windows,
    with_price_z,
)

EPOCH = date(1970, 1, 1)
SCORE_COLUMNS = ("risk_score", "reason_codes", "score_contributions", "feature_version")


def to_day(d: date) -> int:
    return (d - EPOCH).days


def lookback_days(p: RiskParams) -> int:
    """How many days before a range's first as-of day its features read, by event day.

    The furthest reach of: the active-seller rule, the delayed after-sale window,
    the burst baseline, and the price reference of the window's first item (its
    reference day is up to `step - 1` days earlier and holds `price_reference_days`
    of items). Lifetime facts (first sale, listings to date) are not windows: they
    are carried separately (see `build_seller_risk_features`).
    """
    widest = max(p.windows) - 1
    return max(
        p.active_days - 1,
        widest + p.after_sale_delay_days,
        p.burst_recent_days + p.burst_baseline_days - 1,
        widest + (p.price_reference_step_days - 1) + (p.price_reference_days - 1),
    )


def within_lookback(
    seller_orders: DataFrame, reviews: DataFrame, first_day: int
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """The placed orders, fulfilled orders and reviews a range reads, each by the day
    it counts on, so nothing a window holds is lost:

    - orders placed on or after `first_day`, plus each seller's first sale when it is
      older: `days_since_first_sale` and the burst rule need it, and no window
      reaches back to it, so it adds to no window sum;
    - orders shipped or delivered on or after `first_day`, whenever they were placed
      (they count on those days, not on their order day);
    - reviews written on or after `first_day` (the caller looks their orders up in
      all history: a review can come long after its order).

    `first_day` = the range's first day - `lookback_days`: every window of the range
    reads the same rows as over all history.
    """
    dated = seller_orders.where(F.col("event_day").isNotNull())
    first_sales = dated.groupBy(SELLER).agg(F.min("event_day").alias("first_sale"))
    placed = (
        dated.join(first_sales, on=SELLER, how="inner")
        .where((F.col("event_day") >= first_day) | (F.col("event_day") == F.col("first_sale")))
        .drop("first_sale")
    )
    # `ts >= midnight of first_day` (session time zone) is `day_number(ts) >= first_day`,
    # in a form Delta prunes files with (min/max statistics of the column).
    since = F.date_from_unix_date(F.lit(first_day)).cast("timestamp")
    fulfilled = seller_orders.where(
        (F.col("carrier_at") >= since) | (F.col("delivered_at") >= since)
    )
    recent_reviews = reviews.where(F.col("created_at") >= since)
    return placed, fulfilled, recent_reviews


def _case_columns(windows: Sequence[int]) -> list[str]:
    return [f"{stem}s_{n}d" for n in windows for stem in CASE_TYPES.values()]


def _with_cases(
    df: DataFrame, cases: DataFrame | None, p: RiskParams, start_day: int, end_day: int
) -> DataFrame:
    """Case counts per window: 0 when none, null when the after_sales table is missing."""
    names = _case_columns(p.windows)
    if cases is None:
        return df.withColumns({c: F.lit(None).cast("long") for c in names})
    counts = after_sale_windows(cases, p.windows, p.after_sale_delay_days, start_day, end_day)
    return df.join(counts, on=[SELLER, AS_OF], how="left").fillna(0, subset=names)


def active_seller_days(
    seller_orders: DataFrame, p: RiskParams, start: date, end: date
) -> DataFrame:
    """(seller_id, as_of day number): the sellers with a sale in the `active_days` up to each day."""
    sale_days = seller_orders.where(F.col("event_day").isNotNull()).select(
        SELLER, F.col("event_day").alias("day")
    )
    return build_active_spine(sale_days, p.active_days, to_day(start), to_day(end))


def build_seller_risk_features(
    seller_orders: DataFrame,
    reviews: DataFrame,
    products: DataFrame,
    sellers: DataFrame,
    after_sales: DataFrame | None,
    p: RiskParams,
    start: date,
    end: date,
    hot_sellers: Sequence[tuple] = (),
    salt_buckets: int = 1,
) -> DataFrame:
    """(seller_id, as_of_date, features...) for every active seller and day in [start, end].

    `hot_sellers` (transforms.common.skew.hot_keys) have their daily sums salted over
    `salt_buckets`; the features are the same with or without.
    """
    start_day, end_day = to_day(start), to_day(end)
    first_item_day = start_day - (max(p.windows) - 1)  # oldest sale a window of `start` holds
    placed, fulfilled, recent_reviews = within_lookback(
        seller_orders, reviews, start_day - lookback_days(p)
    )
    review_facts = build_review_facts(
        recent_reviews, seller_orders, p.young_account_days, p.template_min_length
    )
    prices = build_item_prices(placed, products)
    step = p.price_reference_step_days
    reference = category_price_reference(
        prices, p.price_reference_days, step, first_item_day, end_day
    )
    in_range = (F.col("day") >= first_item_day) & (F.col("day") <= end_day)
    item_z = with_price_z(
        prices.where(in_range), reference, step, p.min_category_items, p.below_category_z
    )
    daily = daily_measures(
        placed,
        fulfilled,
        review_facts,
        item_z,
        build_listings(products),
        hot_sellers,
        salt_buckets,
    )
    spine = active_seller_days(placed, p, start, end)
    buyers = buyer_windows(placed, p.windows, start_day, end_day)
    templated = templated_review_windows(
        review_facts, p.windows, p.template_min_count, start_day, end_day
    )
    cases = None if after_sales is None else build_case_facts(after_sales, placed)
    window_counts = [c for c in buyers.columns + templated.columns if c not in (SELLER, AS_OF)]
    return (
        with_rolling(spine, daily.where(F.col("day") <= end_day), rolling_specs(p))
        .join(buyers, on=[SELLER, AS_OF], how="left")
        .join(templated, on=[SELLER, AS_OF], how="left")
        .fillna(0, subset=window_counts)
        .transform(_with_cases, cases, p, start_day, end_day)
        .join(sellers.select(SELLER, "registered_at"), on=SELLER, how="left")
        .transform(with_rates, p, has_after_sales=after_sales is not None)
        .select(SELLER, F.date_from_unix_date(AS_OF).alias("as_of_date"), *feature_columns(p))
    )


def build_seller_risk_table(
    features: DataFrame, rules: Sequence[ScoreRule], feature_version: str, reasons: int = 3
) -> DataFrame:
    """Features plus score, reason codes, per-feature contributions and the feature version."""
    return with_risk_score(features, rules, reasons).withColumn(
        "feature_version", F.lit(feature_version)
    )
