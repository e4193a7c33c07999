"""Implicit feedback for ALS: event weights, time decay, BM25, stable integer ids.

Pure functions: interactions in, (user, item, confidence) out. The confidence
Spark's implicit ALS sees is 1 + alpha x r, where r is what these functions
produce for each (user, item) pair.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

SECONDS_PER_DAY = 86_400.0


def with_event_weight(
    df: DataFrame,
    event_weights: Mapping[str, float],
    rating_weights: Mapping[int, float] | None = None,
) -> DataFrame:
    """`weight` per interaction from its event type; an unknown type weighs 0.

    `rating_weights` maps a rating (rounded to an int) to a multiplier of a
    `rating` event's weight: it lets a 1-star rating count less than a 5-star
    one (a rating says the user saw the movie, its value how much they liked it).
    A rating event without a value keeps the multiplier 1.
    """
    weight = F.lit(0.0)
    for event, w in sorted(event_weights.items()):
        weight = F.when(F.col("event_type") == event, F.lit(float(w))).otherwise(weight)
    if rating_weights:
        stars = F.round(F.col("rating")).cast("int")
        mult = F.lit(1.0)
        for star, m in sorted(rating_weights.items()):
            mult = F.when(stars == star, F.lit(float(m))).otherwise(mult)
        weight = F.when(F.col("event_type") == "rating", weight * mult).otherwise(weight)
    return df.withColumn("weight", weight)


def with_time_decay(df: DataFrame, as_of: Column, half_life_days: float | None) -> DataFrame:
    """Multiply `weight` by 0.5 ** (age in days / half-life); no half-life: no decay.

    Age is measured from `as_of` (the run's logical date, never the clock) and is
    never negative: an event after `as_of` counts as fresh.
    """
    if half_life_days is None:
        return df
    age_days = F.greatest(
        F.lit(0.0),
        (as_of.cast("timestamp").cast("double") - F.col("event_ts").cast("double"))
        / SECONDS_PER_DAY,
    )
    return df.withColumn("weight", F.col("weight") * F.pow(F.lit(0.5), age_days / half_life_days))


def aggregate_confidence(df: DataFrame) -> DataFrame:
    """(user_id, item_id, strength): the sum of the pair's weights, pairs with weight > 0."""
    return (
        df.where(F.col("user_id").isNotNull() & F.col("item_id").isNotNull())
        .groupBy("user_id", "item_id")
        .agg(F.sum("weight").alias("strength"))
        .where(F.col("strength") > 0)
    )


def with_bm25(df: DataFrame, k1: float, b: float) -> DataFrame:
    """BM25-weight `strength` as the `implicit` library's bm25_weight (items as documents).

    Each item is a document whose terms are its users: a user who interacted
    with few items (a rare term) weighs more (idf), and a pair's weight
    saturates with its strength (k1) and is normalised by the item's total
    strength against the mean item (b). It damps the most popular items, whose
    interactions otherwise dominate the squared loss.
    """
    n_items = df.select("item_id").distinct().count()
    by_user = Window.partitionBy("user_id").rowsBetween(
        Window.unboundedPreceding, Window.unboundedFollowing
    )
    by_item = Window.partitionBy("item_id").rowsBetween(
        Window.unboundedPreceding, Window.unboundedFollowing
    )
    item_len = F.sum("strength").over(by_item)
    mean_len = df.groupBy("item_id").agg(F.sum("strength").alias("s")).agg(F.avg("s")).first()[0]
    idf = F.log(F.lit(float(n_items))) - F.log1p(F.count(F.lit(1)).over(by_user))
    length_norm = (1.0 - b) + b * item_len / F.lit(float(mean_len))
    weighted = F.col("strength") * (k1 + 1.0) / (k1 * length_norm + F.col("strength")) * idf
    return df.withColumn("strength", weighted).where(F.col("strength") > 0)


def with_log_scale(df: DataFrame, eps: float | None) -> DataFrame:
    """strength -> log(1 + strength / eps) (Hu, Koren, Volinsky's log confidence)."""
    if eps is None:
        return df
    return df.withColumn("strength", F.log1p(F.col("strength") / F.lit(eps)))


def new_id_rows(ids: DataFrame, mapping: DataFrame, id_col: str) -> DataFrame:
    """Rows to append to an id mapping: ids not in it yet, numbered after its maximum.

    `ids`: one column `id_col`; `mapping`: (`id_col`, idx). New ids are numbered
    in sorted order from max(idx) + 1, so an id keeps its index forever and the
    same new ids get the same indexes on a re-run.
    """
    start = mapping.agg(F.coalesce(F.max("idx"), F.lit(-1))).first()[0] + 1
    new = (
        ids.where(F.col(id_col).isNotNull())
        .distinct()
        .join(mapping.select(id_col), on=id_col, how="left_anti")
    )
    # A global sort numbered by zipWithIndex: distributed (a first run numbers every id;
    # a window without partitions would pull them all into one task).
    numbered = new.orderBy(id_col).rdd.zipWithIndex()
    schema = T.StructType([new.schema[id_col], T.StructField("idx", T.IntegerType(), False)])
    spark = new.sparkSession
    return spark.createDataFrame(numbered.map(lambda r: (r[0][0], r[1] + start)), schema)
