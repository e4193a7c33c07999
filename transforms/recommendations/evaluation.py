"""Offline evaluation of top-k recommendations: the public MovieLens protocol.

The protocol public benchmarks use on MovieLens 100K: each item's interactions
are split 75/25 at random (stratified by item, a fixed seed); the model
recommends the top k items a user has not seen in training; precision@k,
recall@k, nDCG@k (binary relevance) and MAP are averaged over the users present
in both parts. MAP is the benchmarks' definition: the sum of precision at each
hit within the top k, divided by the user's number of held-out items.
"""

from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

METRICS = ("precision_at_10", "recall_at_10", "ndcg_at_10", "map", "coverage")


def split_stratified(
    df: DataFrame, ratio: float, seed: int, by: str = "item_id"
) -> tuple[DataFrame, DataFrame]:
    """Each `by` group's rows in a seeded random order; the first round(ratio x n) train.

    The order is a hash of (seed, user, item), so the split is the same on any
    number of partitions and any run. A group of one row goes to training.
    """
    order = F.xxhash64(F.lit(seed), F.col("user_id"), F.col("item_id"))
    w = Window.partitionBy(by).orderBy(order, "user_id", "item_id")
    whole = Window.partitionBy(by).rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    ranked = df.withColumn("_pos", F.row_number().over(w)).withColumn(
        "_n", F.count(F.lit(1)).over(whole)
    )
    is_train = F.col("_pos") <= F.greatest(F.lit(1), F.round(F.col("_n") * ratio))
    train = ranked.where(is_train).drop("_pos", "_n")
    test = ranked.where(~is_train).drop("_pos", "_n")
    return train, test


def per_user_metrics(recs: DataFrame, test: DataFrame, train_users: DataFrame, k: int) -> DataFrame:
    """One row per evaluated user: hits, precision, recall, nDCG and AP at k.

    recs: (user_id, item_id, rank 1..), test: (user_id, item_id), train_users:
    (user_id). A user with held-out items but no recommendation scores 0.
    """
    relevant = (
        test.select("user_id", "item_id")
        .distinct()
        .join(train_users.select("user_id").distinct(), on="user_id", how="inner")
    )
    n_rel = relevant.groupBy("user_id").agg(F.count(F.lit(1)).alias("n_relevant"))
    top = recs.where(F.col("rank") <= k).select("user_id", "item_id", "rank")
    hits = top.join(relevant, on=["user_id", "item_id"], how="inner")
    w = Window.partitionBy("user_id").orderBy("rank").rowsBetween(Window.unboundedPreceding, 0)
    scored = (
        hits.withColumn("hit_no", F.count(F.lit(1)).over(w))
        .groupBy("user_id")
        .agg(
            F.count(F.lit(1)).alias("hits"),
            F.sum(1.0 / F.log2(F.col("rank") + 1.0)).alias("dcg"),
            F.sum(F.col("hit_no") / F.col("rank")).alias("precision_sum"),
        )
    )
    ideal_n = F.least(F.col("n_relevant"), F.lit(k))
    # IDCG = sum_{i=1..min(n, k)} 1 / log2(i + 1), from a tiny lookup of prefix sums.
    idcg = F.aggregate(
        F.sequence(F.lit(1), ideal_n),
        F.lit(0.0),
        lambda acc, i: acc + 1.0 / F.log2(i.cast("double") + 1.0),
    )
    return (
        n_rel.join(scored, on="user_id", how="left")
        .fillna({"hits": 0, "dcg": 0.0, "precision_sum": 0.0})
        .select(
            "user_id",
            "n_relevant",
            "hits",
            (F.col("hits") / F.lit(float(k))).alias("precision"),
            (F.col("hits") / F.col("n_relevant")).alias("recall"),
            (F.col("dcg") / idcg).alias("ndcg"),
            (F.col("precision_sum") / F.col("n_relevant")).alias("ap"),
        )
    )


def ranking_metrics(
    recs: DataFrame, test: DataFrame, train: DataFrame, k: int = 10
) -> dict[str, float]:
    """Mean precision@k, recall@k, nDCG@k and MAP, plus catalogue coverage and user count.

    Coverage: the share of training items that appear in somebody's top k.
    """
    # Two queries read the recommendations (scoring every user): compute them once.
    cached_here = not recs.is_cached
    if cached_here:
        recs = recs.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        users = per_user_metrics(recs, test, train.select("user_id"), k)
        row = users.agg(
            F.count(F.lit(1)).alias("users"),
            F.avg("precision").alias("precision"),
            F.avg("recall").alias("recall"),
            F.avg("ndcg").alias("ndcg"),
            F.avg("ap").alias("map"),
        ).first()
        shown = recs.where(F.col("rank") <= k).select("item_id").distinct().count()
    finally:
        if cached_here:
            recs.unpersist()
    n_items = train.select("item_id").distinct().count()
    return {
        "users": int(row["users"]),
        "precision_at_10": float(row["precision"] or 0.0),
        "recall_at_10": float(row["recall"] or 0.0),
        "ndcg_at_10": float(row["ndcg"] or 0.0),
        "map": float(row["map"] or 0.0),
        "coverage": shown / n_items if n_items else 0.0,
    }
