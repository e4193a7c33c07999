"""Fitting Spark ALS on implicit feedback, scoring it, and the offline evaluation.

No IO, no config objects: plain parameters in, DataFrames and numbers out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from pyspark import StorageLevel
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.recommendations.evaluation import ranking_metrics, split_stratified
from transforms.recommendations.outputs import item_popularity
from transforms.recommendations.topn import recommend_top_n


@dataclass(frozen=True)
class AlsParams:
    """Spark ALS settings (the job's YAML; `metadata` bounds are checked when the config
    is loaded)."""

    rank: int = field(metadata={"ge": 1})
    reg_param: float = field(metadata={"ge": 0})
    alpha: float = field(metadata={"ge": 0})
    max_iter: int = field(metadata={"ge": 1})
    num_user_blocks: int = field(metadata={"ge": 1})
    num_item_blocks: int = field(metadata={"ge": 1})
    checkpoint_interval: int = field(metadata={"ge": 1})
    seed: int = 42


def fit_als(pairs: DataFrame, p: AlsParams) -> tuple[ALSModel, float]:
    """Fit on (user_idx, item_idx, strength); returns the model and the fit's seconds.

    The input is persisted and counted first: ALS reads it once per iteration, and
    a recomputed input (re-running the aggregation) could differ between reads.
    """
    data = pairs.select("user_idx", "item_idx", "strength").persist(StorageLevel.MEMORY_AND_DISK)
    try:
        data.count()
        als = ALS(
            rank=p.rank,
            maxIter=p.max_iter,
            regParam=p.reg_param,
            alpha=p.alpha,
            implicitPrefs=True,
            userCol="user_idx",
            itemCol="item_idx",
            ratingCol="strength",
            numUserBlocks=p.num_user_blocks,
            numItemBlocks=p.num_item_blocks,
            checkpointInterval=p.checkpoint_interval,
            coldStartStrategy="drop",
            seed=p.seed,
        )
        t0 = time.monotonic()
        model = als.fit(data)
        # fit() is lazy about the last factors: count them to time the whole training.
        model.userFactors.count()
        model.itemFactors.count()
        return model, time.monotonic() - t0
    finally:
        data.unpersist()


def item_matrix(
    factors: DataFrame, allowed: DataFrame | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(idx array, vectors matrix) of item factors (id, features), optionally only `allowed` ids."""
    if allowed is not None:
        factors = factors.join(allowed.select(F.col("idx").alias("id")), on="id", how="left_semi")
    pdf = factors.orderBy("id").toPandas()
    if pdf.empty:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 1), dtype=np.float32)
    return pdf["id"].to_numpy(), np.vstack(pdf["features"].to_numpy()).astype(np.float32)


def recommend(
    model: ALSModel, seen: DataFrame, n: int, allowed: DataFrame | None = None
) -> DataFrame:
    """Top n per user (idx, rank, other_idx, score), never an item in the user's `seen`."""
    idx, vectors = item_matrix(model.itemFactors, allowed)
    users = model.userFactors.select(F.col("id").alias("idx"), F.col("features").alias("vector"))
    users = users.join(seen, on="idx", how="left")
    return recommend_top_n(users, idx, vectors, n)


def _by_ids(topn: DataFrame) -> DataFrame:
    return topn.select(
        F.col("idx").alias("user_id"), F.col("other_idx").alias("item_id"), "rank", "score"
    )


def _seen(pairs: DataFrame) -> DataFrame:
    return pairs.groupBy(F.col("user_idx").alias("idx")).agg(
        F.collect_list("item_idx").alias("exclude")
    )


def evaluate(
    pairs: DataFrame,
    p: AlsParams,
    ratio: float,
    seed: int,
    k: int = 10,
    scale: Callable[[DataFrame], DataFrame] | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """The public protocol on (user_id, item_id, user_idx, item_idx, strength).

    The split hashes the string ids, so it is the same whatever indexes the ids got.
    `scale` (e.g. BM25, which uses per-user and per-item totals) is applied to the
    training part after the split, so the held-out pairs never shape training.

    Returns (als, popularity), each with precision_at_10, recall_at_10, ndcg_at_10,
    map, coverage, users and train_seconds (0 for popularity).
    """
    train, test = split_stratified(pairs, ratio, seed, by="item_id")
    train = (scale(train) if scale else train).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        model, seconds = fit_als(train, p)
        seen = _seen(train)
        as_ids = train.select(
            F.col("user_idx").alias("user_id"), F.col("item_idx").alias("item_id")
        )
        test_ids = test.select(
            F.col("user_idx").alias("user_id"), F.col("item_idx").alias("item_id")
        )
        als = ranking_metrics(_by_ids(recommend(model, seen, k)), test_ids, as_ids, k)
        pop = item_popularity(as_ids)
        users = seen.select(
            "idx", F.array(F.lit(1.0)).cast("array<float>").alias("vector"), "exclude"
        )
        pdf = pop.orderBy("item_id").toPandas()
        pop_recs = recommend_top_n(
            users,
            pdf["item_id"].to_numpy(),
            pdf["score"].to_numpy().reshape(-1, 1).astype(np.float32),
            k,
        )
        popularity = ranking_metrics(_by_ids(pop_recs), test_ids, as_ids, k)
        return {**als, "train_seconds": seconds}, {**popularity, "train_seconds": 0.0}
    finally:
        train.unpersist()
