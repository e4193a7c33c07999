"""Seller risk features that are not sums: computed by exploding rows onto their as-of days.

Each function returns one row per (seller_id, as_of_day) that has data, with
one column per window; the caller left-joins them onto the spine.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.seller_risk.spine import AS_OF, SELLER, explode_as_of_days

# after_sales.case_type -> feature stem: <stem>s_<n>d counts, <stem>_rate_<n>d rates.
CASE_TYPES = {
    "RETURN": "return",
    "REFUND": "refund",
    "CHARGEBACK": "chargeback",
    "DISPUTE": "dispute",
}
# MAD of a normal distribution is 0.6745 sigma: scaling by 1.4826 makes the robust z comparable.
MAD_TO_SIGMA = 1.4826
# z is kept as round(z * Z_SCALE) in a long: exact (order-independent) and cheap window sums.
Z_SCALE = 10_000


def _in_window(age: Column, n: int, value: Column) -> Column:
    return F.coalesce(F.sum(F.when(age < n, value)), F.lit(0)).cast("long")


def with_exploded_ages(
    daily: DataFrame, day: Column, windows: Sequence[int], start_day: int, end_day: int
) -> DataFrame:
    """Rows onto the as-of days [day, day + max window - 1]; `age` = as-of day - day."""
    exploded = explode_as_of_days(daily, day, day + (max(windows) - 1), start_day, end_day)
    return exploded.withColumn("age", F.col(AS_OF) - day)


def buyer_windows(
    seller_orders: DataFrame, windows: Sequence[int], start_day: int, end_day: int
) -> DataFrame:
    """Orders with a known buyer, distinct buyers, top buyer's orders, repeat buyers per window."""
    daily = (
        seller_orders.where(F.col("buyer_id").isNotNull() & F.col("event_day").isNotNull())
        .groupBy(SELLER, "buyer_id", "event_day")
        .agg(F.count(F.lit(1)).alias("n"))
    )
    per_buyer = (
        with_exploded_ages(daily, F.col("event_day"), windows, start_day, end_day)
        .groupBy(SELLER, AS_OF, "buyer_id")
        .agg(*[_in_window(F.col("age"), n, F.col("n")).alias(f"c{n}") for n in windows])
    )
    aggs = []
    for n in windows:
        c = F.col(f"c{n}")
        aggs += [
            F.sum(c).alias(f"buyer_orders_{n}d"),
            F.count(F.when(c > 0, True)).alias(f"distinct_buyers_{n}d"),
            F.max(c).alias(f"top_buyer_orders_{n}d"),
            F.count(F.when(c >= 2, True)).alias(f"repeat_buyers_{n}d"),
        ]
    return per_buyer.groupBy(SELLER, AS_OF).agg(*aggs)


def templated_review_windows(
    review_facts: DataFrame, windows: Sequence[int], min_count: int, start_day: int, end_day: int
) -> DataFrame:
    """Reviews whose normalized text the same seller received >= `min_count` times in the window."""
    daily = (
        review_facts.where(F.col("template_text").isNotNull())
        .groupBy(SELLER, "template_text", "day")
        .agg(F.count(F.lit(1)).alias("n"))
    )
    per_text = (
        with_exploded_ages(daily, F.col("day"), windows, start_day, end_day)
        .groupBy(SELLER, AS_OF, "template_text")
        .agg(*[_in_window(F.col("age"), n, F.col("n")).alias(f"c{n}") for n in windows])
    )
    aggs = [
        F.coalesce(F.sum(F.when(F.col(f"c{n}") >= min_count, F.col(f"c{n}"))), F.lit(0))
        .cast("long")
        .alias(f"templated_reviews_{n}d")
        for n in windows
    ]
    return per_text.groupBy(SELLER, AS_OF).agg(*aggs)


def after_sale_windows(
    case_facts: DataFrame, windows: Sequence[int], delay_days: int, start_day: int, end_day: int
) -> DataFrame:
    """Orders with a case of each type, for orders placed in the delayed window.

    On as-of day D the n-day window holds orders placed in
    (D - delay - n, D - delay]; a case counts only if opened on or before D.
    """
    shifted = F.col("order_day") + delay_days
    first = F.greatest(shifted, F.col("open_day"))
    exploded = explode_as_of_days(
        case_facts, first, shifted + (max(windows) - 1), start_day, end_day
    ).withColumn("age", F.col(AS_OF) - shifted)
    aggs = [
        _in_window(F.col("age"), n, (F.col("case_type") == case_type).cast("long")).alias(
            f"{name}s_{n}d"
        )
        for n in windows
        for case_type, name in CASE_TYPES.items()
    ]
    return exploded.groupBy(SELLER, AS_OF).agg(*aggs)


def reference_day(day: Column, step_days: int) -> Column:
    """The latest reference day on or before `day`: days d with d % step_days == 0 (epoch-aligned,
    so a backfill and a single-day run use the same ones)."""
    return day - F.pmod(day, F.lit(step_days))


def category_price_reference(
    item_prices: DataFrame, reference_days: int, step_days: int, start_day: int, end_day: int
) -> DataFrame:
    """Median and MAD of log price per category on every reference day in [start_day, end_day].

    A reference day r holds the items of days (r - reference_days, r]; items
    are scored against the latest reference day on or before their sale day,
    so refreshing every `step_days` days only ever uses older data. Exact
    `percentile` with a frequency column: deterministic whatever the
    partitioning (percentile_approx is not), and repeated prices collapse.
    """
    counted = (
        item_prices.where(F.col("day").isNotNull())
        .groupBy("category", "day", "log_price")
        .agg(F.count(F.lit(1)).alias("n"))
    )
    # Reference days are multiples of step_days: the first one on or after the sale day,
    # and not before the one the range's first item is scored against.
    first_in_range = start_day - start_day % step_days
    first = F.greatest(
        F.col("day") + F.pmod(-F.col("day"), F.lit(step_days)), F.lit(first_in_range)
    )
    last = F.least(F.col("day") + (reference_days - 1), F.lit(end_day))
    exploded = (
        counted.where(first <= last)
        .withColumn(AS_OF, F.explode(F.sequence(first, last, F.lit(step_days))))
        .drop("day")
    )
    medians = exploded.groupBy("category", AS_OF).agg(
        F.percentile("log_price", 0.5, F.col("n")).alias("median_log_price"),
        F.sum("n").alias("reference_items"),
    )
    deviation = F.abs(F.col("log_price") - F.col("median_log_price"))
    # Broadcast the medians (one row per category and reference day), not the exploded
    # prices: AQE sized the join from the rows before the explode and broadcast the
    # exploded side (2.7M rows at 1M orders), which put the whole MAD aggregation into
    # the 8 tasks that held the medians, heaviest where the biggest categories hashed.
    mads = (
        exploded.join(F.broadcast(medians), on=["category", AS_OF], how="inner")
        .groupBy("category", AS_OF)
        .agg(F.percentile(deviation, 0.5, F.col("n")).alias("mad_log_price"))
    )
    return medians.join(mads, on=["category", AS_OF], how="inner").withColumnRenamed(
        AS_OF, "reference_day"
    )


def with_price_z(
    item_prices: DataFrame,
    reference: DataFrame,
    step_days: int,
    min_reference_items: int,
    below_z: float,
) -> DataFrame:
    """Each item's robust z against its category's latest reference on or before its sale day.

    Null (item dropped) when the category had too few items or no spread.

    z is kept as a long, round(z * Z_SCALE), so window sums are exact.
    """
    scale = F.col("mad_log_price") * MAD_TO_SIGMA
    z = F.when(
        (F.col("reference_items") >= min_reference_items) & (F.col("mad_log_price") > 0),
        (F.col("log_price") - F.col("median_log_price")) / scale,
    )
    return (
        item_prices.withColumn("reference_day", reference_day(F.col("day"), step_days))
        .join(reference, on=["category", "reference_day"], how="inner")
        .withColumn("z", z)
        .where(F.col("z").isNotNull())
        .select(
            SELLER,
            "day",
            F.lit(1).alias("priced_items"),
            F.round(F.col("z") * Z_SCALE).cast("long").alias("price_z_e4"),
            (F.col("z") <= below_z).cast("long").alias("below_items"),
        )
    )
