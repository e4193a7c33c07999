"""Outcome labels for judging the features: what happened to a seller in the days after D.

For each evaluation day D and seller, over orders placed in (D, D + horizon]:
the share of 1-star reviews among their reviews and the share of late
deliveries (delivered after the estimate) among their delivered orders. A
label is null when its support is below `min_support` (a share over two
orders is noise, not an outcome).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def next_window_outcomes(
    seller_orders: DataFrame,
    reviews: DataFrame,
    days: Sequence[date],
    horizon_days: int,
    min_support: int,
) -> DataFrame:
    """(seller_id, as_of_date, reviews_next, one_star_share_next, deliveries_next,
    late_delivery_share_next) for every seller with an order in a day's horizon."""
    spark = seller_orders.sparkSession
    spine = spark.createDataFrame([(d,) for d in days], "as_of_date date").withColumn(
        "d", F.unix_date("as_of_date")
    )
    orders = seller_orders.where(F.col("has_order_row") & F.col("event_day").isNotNull()).select(
        "seller_id",
        "order_id",
        F.col("event_day").alias("day"),
        (F.col("delivered_at") > F.col("estimated_at")).alias("late"),
        F.col("delivered_at").isNotNull().alias("delivered"),
    )
    scored = reviews.groupBy("order_id").agg(F.min("score").alias("score"))
    in_horizon = (F.col("day") > F.col("d")) & (F.col("day") <= F.col("d") + horizon_days)
    window = (
        orders.join(scored, on="order_id", how="left")
        .join(F.broadcast(spine), on=in_horizon, how="inner")
        .groupBy("seller_id", "as_of_date")
        .agg(
            F.count("score").alias("reviews_next"),
            F.count_if(F.col("score") == 1).alias("one_star_next"),
            F.count_if(F.col("delivered")).alias("deliveries_next"),
            F.count_if(F.col("delivered") & F.col("late")).alias("late_next"),
        )
    )

    def share(num: str, den: str):
        return F.when(F.col(den) >= min_support, F.col(num) / F.col(den))

    return window.select(
        "seller_id",
        "as_of_date",
        "reviews_next",
        share("one_star_next", "reviews_next").alias("one_star_share_next"),
        "deliveries_next",
        share("late_next", "deliveries_next").alias("late_delivery_share_next"),
    )


def roc_auc(pairs: Sequence[tuple[float, bool]]) -> float | None:
    """Mann-Whitney AUC of (score, is_positive) pairs, ties counted one half; None if one class."""
    ranked = sorted(pairs, key=lambda p: p[0])
    n_pos = sum(1 for _, y in ranked if y)
    n_neg = len(ranked) - n_pos
    if not n_pos or not n_neg:
        return None
    rank_sum, i = 0.0, 0
    while i < len(ranked):  # average ranks over ties
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        rank_sum += sum(1 for _, y in ranked[i:j] if y) * (i + j + 1) / 2
        i = j
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
