"""Shaping ALS results into the gold tables: ids back, popularity, stock, versions."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F


def with_indexes(df: DataFrame, users: DataFrame, items: DataFrame) -> DataFrame:
    """Add user_idx / item_idx from the id maps (user_id, idx) and (item_id, idx)."""
    return df.join(
        users.select("user_id", F.col("idx").alias("user_idx")), on="user_id", how="inner"
    ).join(items.select("item_id", F.col("idx").alias("item_idx")), on="item_id", how="inner")


def seen_items(
    interactions: DataFrame, users: DataFrame, items: DataFrame, event_types: Sequence[str]
) -> DataFrame:
    """(idx, exclude array<int>): per user, the items of the given event types."""
    kept = interactions.where(F.col("event_type").isin(list(event_types)))
    return (
        with_indexes(kept.select("user_id", "item_id"), users, items)
        .groupBy(F.col("user_idx").alias("idx"))
        .agg(F.array_distinct(F.collect_list("item_idx")).alias("exclude"))
    )


def out_of_stock(snapshot: DataFrame, min_available: int) -> DataFrame:
    """(item_id): SKUs whose current available stock over all locations < min_available."""
    return (
        snapshot.where(F.col("is_current"))
        .groupBy(F.col("sku").alias("item_id"))
        .agg(F.sum(F.coalesce(F.col("available"), F.lit(0))).alias("available"))
        .where(F.col("available") < min_available)
        .select("item_id")
    )


def vectors_with_ids(
    factors: DataFrame, ids: DataFrame, id_col: str, version: Column, as_of: Column
) -> DataFrame:
    """ALS factors (id int, features array<float>) as (id_col, model_version, as_of_date, vector)."""
    return factors.join(ids.select(id_col, F.col("idx").alias("id")), on="id", how="inner").select(
        id_col,
        version.alias("model_version"),
        as_of.alias("as_of_date"),
        F.col("features").cast("array<float>").alias("vector"),
    )


def topn_with_ids(
    topn: DataFrame,
    left: DataFrame,
    right: DataFrame,
    names: tuple[str, str, str],
    version: Column,
    as_of: Column,
) -> DataFrame:
    """TOPN rows (idx, rank, other_idx, score) with string ids: names = (left, right, score)."""
    left_col, right_col, score_col = names
    return (
        topn.join(left.select(F.col("idx"), F.col(left.columns[0]).alias(left_col)), "idx", "inner")
        .join(
            right.select(F.col("idx").alias("other_idx"), F.col(right.columns[0]).alias(right_col)),
            on="other_idx",
            how="inner",
        )
        .select(
            left_col,
            F.col("rank").cast("int").alias("rank"),
            right_col,
            F.col("score").cast("double").alias(score_col),
            version.alias("model_version"),
            as_of.alias("as_of_date"),
        )
    )


def item_popularity(pairs: DataFrame) -> DataFrame:
    """(item_id, score): how many distinct users interacted with the item."""
    return pairs.groupBy("item_id").agg(F.countDistinct("user_id").cast("double").alias("score"))


def popular_items(
    popularity: DataFrame, products: DataFrame | None, n: int, version: Column, as_of: Column
) -> DataFrame:
    """Top n items overall and per category, for users ALS knows nothing about.

    `products`: (product_id, category); items without a category only rank overall.
    Ties break by item_id so a re-run ranks identically.
    """
    overall = popularity.select(
        F.lit("overall").alias("scope"),
        F.lit(None).cast("string").alias("category"),
        "item_id",
        "score",
    )
    parts = [overall]
    if products is not None:
        cats = products.select(F.col("product_id").alias("item_id"), "category").where(
            F.col("category").isNotNull()
        )
        parts.append(
            popularity.join(cats, on="item_id", how="inner").select(
                F.lit("category").alias("scope"), "category", "item_id", "score"
            )
        )
    ranked = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
    w = Window.partitionBy("scope", "category").orderBy(F.desc("score"), "item_id")
    return (
        ranked.withColumn("rank", F.row_number().over(w).cast("int"))
        .where(F.col("rank") <= n)
        .select(
            "scope",
            "category",
            "rank",
            "item_id",
            "score",
            version.alias("model_version"),
            as_of.alias("as_of_date"),
        )
    )
