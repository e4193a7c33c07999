"""Seller x as-of-day spine and the two set-based ways features are computed over it.

- Additive measures (counts, sums) are aggregated per (seller, day) first, so
  the hottest seller is at most one row per day; those rows are unioned with
  the spine rows and summed with value-range window frames
  (`rangeBetween(D + lo, D + hi)`): one shuffle by seller, one sort, every
  window of every measure in one pass.
- Non-additive measures (distinct buyers, top-buyer share, repeated texts,
  delayed after-sale cases) explode each daily row onto the as-of days it
  counts for (at most the longest window, clipped to the requested range) and
  aggregate by (seller, as-of day, ...): the keys include the day, so a hot
  seller's rows spread over many tasks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from transforms.common.skew import Agg, salted_aggregate

SELLER = "seller_id"
AS_OF = "as_of_day"


@dataclass(frozen=True)
class Rolling:
    """`agg` of `measure` over days [D + lo, D + hi]; lo None = all history."""

    agg: str  # "sum" or "min"
    measure: str
    lo: int | None
    hi: int = 0


def trailing(measure: str, days: int, offset: int = 0) -> Rolling:
    """Sum over the `days` days ending `offset` days before the as-of day."""
    return Rolling("sum", measure, -(days - 1) - offset, -offset)


def explode_as_of_days(
    df: DataFrame, first: Column, last: Column, start_day: int, end_day: int
) -> DataFrame:
    """One row per as-of day in [first, last] within [start_day, end_day] (column `as_of_day`).

    A null bound gives no rows (greatest/least would skip the null and span the range).
    """
    lo = F.greatest(first, F.lit(start_day))
    hi = F.least(last, F.lit(end_day))
    known = first.isNotNull() & last.isNotNull()
    return df.where(known & (lo <= hi)).withColumn(AS_OF, F.explode(F.sequence(lo, hi)))


def build_active_spine(
    event_days: DataFrame, active_days: int, start_day: int, end_day: int
) -> DataFrame:
    """(seller_id, as_of_day) for every day in range with a sale in the last `active_days` days.

    Gaps and islands: a sale on day d keeps the seller active on
    [d, d + active_days - 1], so consecutive sale days less than `active_days`
    + 1 apart form one island [first, last + active_days - 1].
    """
    days = event_days.where(F.col("day") <= end_day).select(SELLER, "day").distinct()
    by_day = Window.partitionBy(SELLER).orderBy("day")  # lag takes no frame
    is_new_island = F.coalesce(F.col("day") - F.lag("day").over(by_day) > active_days, F.lit(True))
    running = by_day.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    islands = (
        days.withColumn("is_new_island", is_new_island)
        .withColumn("island", F.sum(F.col("is_new_island").cast("int")).over(running))
        .groupBy(SELLER, "island")
        .agg(F.min("day").alias("first_day"), F.max("day").alias("last_day"))
    )
    return explode_as_of_days(
        islands, F.col("first_day"), F.col("last_day") + (active_days - 1), start_day, end_day
    ).select(SELLER, AS_OF)


def with_rolling(spine: DataFrame, daily: DataFrame, specs: Mapping[str, Rolling]) -> DataFrame:
    """The spine plus one column per spec, computed over the union of daily rows and spine rows.

    Spine rows carry no measures, so a day without events still gets a row and
    a frame without events sums to 0 (min stays null).
    """
    measures = sorted({s.measure for s in specs.values()})
    rows = (
        daily.select(SELLER, "day", *measures)
        .withColumn("is_spine", F.lit(False))
        .unionByName(
            spine.select(SELLER, F.col(AS_OF).alias("day"), F.lit(True).alias("is_spine")),
            allowMissingColumns=True,
        )
    )
    ordered = Window.partitionBy(SELLER).orderBy("day")

    def column(s: Rolling) -> Column:
        lo = Window.unboundedPreceding if s.lo is None else s.lo
        value = getattr(F, s.agg)(s.measure).over(ordered.rangeBetween(lo, s.hi))
        return F.coalesce(value, F.lit(0)) if s.agg == "sum" else value

    return (
        rows.select(
            SELLER,
            F.col("day").alias(AS_OF),
            "is_spine",
            *[column(s).alias(name) for name, s in specs.items()],
        )
        .where("is_spine")
        .drop("is_spine")
    )


def aggregate_daily(
    sources: list[DataFrame],
    measures: Mapping[str, str],
    hot_sellers: Sequence[tuple] = (),
    salt_buckets: int = 1,
) -> DataFrame:
    """Union event rows (each with some of `measures`) and sum them per (seller, day).

    The rows of `hot_sellers` are summed in `salt_buckets` pieces first
    (transforms.common.skew): the same sums, without one task per hot seller-day. The
    union is coalesced into the session's `spark.sql.shuffle.partitions` tasks
    (the job's tuned value) before summing: the result does not depend on it.
    """
    aligned = [
        src.select(
            SELLER,
            "day",
            *[
                (F.col(m) if m in src.columns else F.lit(None)).cast(t).alias(m)
                for m, t in measures.items()
            ],
        )
        for src in sources
    ]
    union = aligned[0]
    for other in aligned[1:]:
        union = union.unionByName(other)
    # One task per partition of every source (42 at 8 shuffle partitions) made tasks of
    # a few hundred ms, where each source's first tasks spend more on code generation
    # than on rows. Merged without a shuffle into as many tasks as the job's shuffle
    # partitions, each task's partial sums also combine rows of several sources.
    partitions = int(union.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    union = union.coalesce(partitions)
    sums = [Agg("sum", m, m) for m in measures]
    return salted_aggregate(
        union, [SELLER, "day"], sums, hot_sellers, salt_buckets, key_cols=[SELLER]
    )
