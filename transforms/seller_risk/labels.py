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


# Outcomes a lake label can be made of: the share of a seller's orders placed in
# (D, D + horizon] with that outcome, over the orders it can be judged on.
OUTCOMES = (
    "late_delivery",  # delivered after the estimate, of the delivered orders
    "one_star",  # a 1-star review, of the reviewed orders
    "cancellation",  # status canceled, of the orders with a status
    "return",  # an after-sale case of that type, of the orders placed
    "refund",
    "chargeback",
    "dispute",
)
CASE_OUTCOMES = {
    "return": "RETURN",
    "refund": "REFUND",
    "chargeback": "CHARGEBACK",
    "dispute": "DISPUTE",
}


def future_outcomes(
    seller_orders: DataFrame,
    reviews: DataFrame,
    cases: DataFrame | None,
    days: Sequence[date],
    horizon_days: int,
) -> DataFrame:
    """(seller_id, as_of_date, <outcome>_n, <outcome>_of) for every OUTCOME: how many of the
    seller's orders placed in (D, D + horizon] had it, and over how many it is judged.

    `cases` are `build_case_facts` rows (one per seller, order and case type); None
    (no after-sales table, as in Olist) makes the case outcomes' support 0, not
    "no chargebacks". Cases count whenever they were opened: a label looks ahead.
    """
    spark = seller_orders.sparkSession
    spine = spark.createDataFrame([(d,) for d in days], "as_of_date date").withColumn(
        "d", F.unix_date("as_of_date")
    )
    orders = seller_orders.where(F.col("event_day").isNotNull()).select(
        "seller_id",
        "order_id",
        F.col("event_day").alias("day"),
        "has_order_row",
        "status",
        (F.col("delivered_at") > F.col("estimated_at")).alias("late"),
        F.col("delivered_at").isNotNull().alias("delivered"),
    )
    scored = reviews.groupBy("order_id").agg(F.min("score").alias("score"))
    has_cases = cases is not None
    if has_cases:
        flags = cases.groupBy("seller_id", "order_id").agg(
            *[F.max(F.col("case_type") == t).alias(f"_case_{k}") for k, t in CASE_OUTCOMES.items()]
        )
        orders = orders.join(flags, on=["seller_id", "order_id"], how="left")
    in_horizon = (F.col("day") > F.col("d")) & (F.col("day") <= F.col("d") + horizon_days)
    has_status = F.col("status").isNotNull()
    aggs = [
        F.count_if(F.col("delivered") & F.col("late")).alias("late_delivery_n"),
        F.count_if(F.col("delivered")).alias("late_delivery_of"),
        F.count_if(F.col("score") == 1).alias("one_star_n"),
        F.count("score").alias("one_star_of"),
        F.count_if(has_status & (F.col("status") == "canceled")).alias("cancellation_n"),
        F.count_if(has_status).alias("cancellation_of"),
    ]
    for k in CASE_OUTCOMES:
        if has_cases:
            aggs += [
                F.count_if(F.coalesce(F.col(f"_case_{k}"), F.lit(False))).alias(f"{k}_n"),
                F.count(F.lit(1)).alias(f"{k}_of"),
            ]
        else:
            aggs += [F.lit(0).cast("long").alias(f"{k}_n"), F.lit(0).cast("long").alias(f"{k}_of")]
    return (
        orders.join(scored, on="order_id", how="left")
        .join(F.broadcast(spine), on=in_horizon, how="inner")
        .groupBy("seller_id", "as_of_date")
        .agg(*aggs)
    )


def outcome_labels(
    outcomes: DataFrame, thresholds: dict[str, float], min_support: int
) -> DataFrame:
    """(seller_id, label_ts, label, outcome_<outcome>_share...) from `future_outcomes`.

    label = 1 when any judged outcome's share (support >= min_support, each over its
    own denominator: delivered, reviewed, with a status, placed) reaches its
    threshold; 0 when at least one is judged and none reaches it; a seller-day with
    no judged outcome gets no label (an unknown future is not a good one). label_ts
    is the end of D: the label is made as of D, so D's snapshot is the one it may use.
    """
    unknown = sorted(set(thresholds) - set(OUTCOMES))
    if unknown:
        raise ValueError(f"unknown outcomes {unknown}; known: {list(OUTCOMES)}")
    shares = {
        k: F.when(F.col(f"{k}_of") >= min_support, F.col(f"{k}_n") / F.col(f"{k}_of"))
        for k in thresholds
    }
    hits = [F.coalesce(s >= thresholds[k], F.lit(False)) for k, s in shares.items()]
    judged = [s.isNotNull() for s in shares.values()]
    any_hit = F.greatest(*hits) if len(hits) > 1 else hits[0]
    any_judged = F.greatest(*judged) if len(judged) > 1 else judged[0]
    label_ts = F.to_timestamp(F.date_add("as_of_date", 1))
    return (
        outcomes.withColumns({f"outcome_{k}_share": s for k, s in shares.items()})
        .withColumn("label", F.when(any_hit, 1).when(any_judged, 0))
        .where(F.col("label").isNotNull())
        .select(
            "seller_id",
            label_ts.alias("label_ts"),
            F.col("label").cast("int").alias("label"),
            *[f"outcome_{k}_share" for k in thresholds],
        )
    )
