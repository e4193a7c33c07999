"""Skew toolkit: find hot keys, then aggregate or window them in salted pieces.

AQE splits a skewed partition only for sort-merge and shuffled-hash joins. A
`groupBy` or a `Window.partitionBy` on a key that holds a large share of the
rows still sends all of that key's rows to one task. These functions spread
only the hot keys (the others keep one piece) and give exactly the result of
the unsalted computation:

- `salted_aggregate`: two stages, (key, salt) then key, for decomposable
  aggregates (sum, count, min, max, avg via sum/count) and one count_distinct
  (salted by the value's hash, so each distinct value lives in one piece).
- `with_salted_range_window`: value-range frames ([D + lo, D + hi] on an
  integral order column) per (key, time bucket); each row is replicated into
  the neighbouring buckets whose outputs its frame reaches, and each output
  is kept in its own bucket only.

`hot_keys` is the one function here that runs a Spark action (a count of a
sample): jobs call it and pass its answer to the pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

SALT = "_salt"
BUCKET = "_bucket"
DECOMPOSABLE = ("sum", "count", "min", "max", "avg")
DISTINCT = "count_distinct"


@dataclass(frozen=True)
class Agg:
    """`func(column) AS alias`; column "*" only with count (rows, nulls included)."""

    func: str
    column: str
    alias: str


def hot_keys(
    df: DataFrame,
    key_cols: Sequence[str],
    min_share: float,
    sample_fraction: float = 1.0,
    seed: int = 7,
) -> list[tuple]:
    """Key values (tuples, None for a null key) holding >= `min_share` of the sampled rows.

    Hottest first. A seeded sample keeps the answer reproducible; `sample_fraction`
    1.0 counts every row.
    """
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], got {min_share}")
    if not 0 < sample_fraction <= 1:
        raise ValueError(f"sample_fraction must be in (0, 1], got {sample_fraction}")
    sample = df.select(*key_cols)
    if sample_fraction < 1:
        sample = sample.sample(fraction=sample_fraction, seed=seed)
    counts = sample.groupBy(*key_cols).agg(F.count(F.lit(1)).alias("_n"))
    totals = counts.agg(F.sum("_n").alias("_total")).first()
    total = totals["_total"] or 0
    if total == 0:
        return []
    rows = counts.where(F.col("_n") >= F.lit(min_share * total)).orderBy(F.desc("_n")).collect()
    return [tuple(r[c] for c in key_cols) for r in rows]


def is_hot(key_cols: Sequence[str], keys: Sequence[tuple]) -> Column:
    """True for the rows whose key is one of `keys` (null-safe: a null key can be hot)."""
    if not keys:
        return F.lit(False)
    matches = [
        reduce(
            lambda a, b: a & b,
            [F.col(c).eqNullSafe(F.lit(v)) for c, v in zip(key_cols, key, strict=True)],
        )
        for key in keys
    ]
    return reduce(lambda a, b: a | b, matches)


def _unsalted(a: Agg) -> Column:
    col = F.lit(1) if a.column == "*" else F.col(a.column)
    if a.func == DISTINCT:
        return F.count_distinct(col).alias(a.alias)
    return getattr(F, a.func)(col).alias(a.alias)


def _check_aggs(aggs: Sequence[Agg]) -> str | None:
    """The count_distinct column (at most one), after refusing what cannot be split."""
    distinct = {a.column for a in aggs if a.func == DISTINCT}
    for a in aggs:
        if a.func not in (*DECOMPOSABLE, DISTINCT):
            raise ValueError(
                f"salted_aggregate: {a.func}({a.column}) is not decomposable into partial "
                f"results; supported: {', '.join((*DECOMPOSABLE, DISTINCT))}"
            )
        if a.column == "*" and a.func != "count":
            raise ValueError(f"salted_aggregate: '*' only goes with count, not {a.func}")
    if len(distinct) > 1 or "*" in distinct:
        raise ValueError(
            "salted_aggregate: count_distinct of more than one column cannot share one salt "
            f"(got {sorted(distinct)}); aggregate them in separate calls"
        )
    return next(iter(distinct), None)


def _partials(a: Agg) -> tuple[list[Column], Column]:
    """Stage-1 columns of one aggregate and the stage-2 column combining them."""
    col = F.lit(1) if a.column == "*" else F.col(a.column)
    p = f"_p_{a.alias}"
    if a.func in ("sum", "min", "max"):
        combine = {"sum": F.sum, "min": F.min, "max": F.max}[a.func]
        return [getattr(F, a.func)(col).alias(p)], combine(p)
    if a.func in ("count", DISTINCT):
        first = F.count(col) if a.func == "count" else F.count_distinct(col)
        # A count is never null: coalesce keeps the plain aggregate's non-nullable type.
        return [first.alias(p)], F.coalesce(F.sum(p), F.lit(0))
    # avg = sum / count over the non-null values; null when there are none.
    return (
        [F.sum(col).alias(f"{p}_s"), F.count(col).alias(f"{p}_n")],
        F.sum(f"{p}_s") / F.sum(f"{p}_n"),
    )


def salted_aggregate(
    df: DataFrame,
    group_cols: Sequence[str],
    aggs: Sequence[Agg],
    keys: Sequence[tuple],
    buckets: int,
    key_cols: Sequence[str] | None = None,
) -> DataFrame:
    """`df.groupBy(group_cols).agg(aggs)`, with the rows of the hot `keys` split over `buckets`.

    `keys` are values of `key_cols` (default: `group_cols`; a prefix such as the
    seller of a (seller, day) grouping is allowed). Without hot keys, or with
    one bucket, this is the plain aggregation. The result has the plain
    aggregation's column types. Doubles are summed in another order, so their
    last bits may differ, as they do between any two partitionings in Spark.
    """
    if buckets < 1:
        raise ValueError(f"buckets must be >= 1, got {buckets}")
    distinct_col = _check_aggs(aggs)
    plain = df.groupBy(*group_cols).agg(*[_unsalted(a) for a in aggs])
    if not keys or buckets == 1:
        return plain
    key_cols = list(key_cols or group_cols)
    # Deterministic salt (a retried task must put a row in the same piece): the hash of the
    # distinct column, so each value lands in one piece, or of the whole row.
    hashed = (
        [distinct_col] if distinct_col else [c for c, t in df.dtypes if not t.startswith("map")]
    )
    salt = F.when(is_hot(key_cols, keys), F.pmod(F.xxhash64(*hashed), F.lit(buckets))).otherwise(
        F.lit(0)
    )
    stages = [_partials(a) for a in aggs]
    partial = (
        df.withColumn(SALT, salt)
        .groupBy(*group_cols, SALT)
        .agg(*[c for first, _ in stages for c in first])
    )
    types = dict(plain.dtypes)
    combined = partial.groupBy(*group_cols).agg(
        *[
            second.cast(types[a.alias]).alias(a.alias)
            for a, (_, second) in zip(aggs, stages, strict=True)
        ]
    )
    return combined.select(*plain.columns)


@dataclass(frozen=True)
class RangeAgg:
    """`func(column)` over the value range [D + lo, D + hi] of the order column."""

    func: str
    column: str
    lo: int
    hi: int = 0


def with_salted_range_window(
    df: DataFrame,
    key_cols: Sequence[str],
    order_col: str,
    specs: Mapping[str, RangeAgg],
    keys: Sequence[tuple],
    bucket_width: int,
) -> DataFrame:
    """`df` plus one column per spec: func over `partitionBy(key_cols).orderBy(order_col)`
    with `rangeBetween(lo, hi)`, the hot `keys` computed per bucket of `bucket_width`
    order values.

    A row with order value e is in the frame of the outputs D with
    e - hi <= D <= e - lo, so it is copied into every bucket those D fall in;
    each row's own output is kept from its own bucket (floor(e / width)).
    Rows with a null order value, and every row of a cold key, stay in one
    piece, as they would unsalted. Unbounded frames cannot be split: use
    `lo`/`hi` within a finite range.
    """
    if bucket_width < 1:
        raise ValueError(f"bucket_width must be >= 1, got {bucket_width}")
    for name, s in specs.items():
        if s.lo > s.hi:
            raise ValueError(f"{name}: lo {s.lo} > hi {s.hi}")
    order = F.col(order_col)

    def frame(partition: list[str]) -> Window:
        return Window.partitionBy(*partition).orderBy(order_col)

    def columns(partition: list[str]) -> dict[str, Column]:
        return {
            name: getattr(F, s.func)(s.column).over(frame(partition).rangeBetween(s.lo, s.hi))
            for name, s in specs.items()
        }

    if not keys:
        return df.withColumns(columns(list(key_cols)))
    lo = min(s.lo for s in specs.values())
    hi = max(s.hi for s in specs.values())
    own = F.floor(order / bucket_width)
    first = F.least(F.floor((order - hi) / bucket_width), own)
    last = F.greatest(F.floor((order - lo) / bucket_width), own)
    split = is_hot(key_cols, keys) & order.isNotNull()
    buckets = F.when(split, F.sequence(first, last)).otherwise(F.array(F.lit(None).cast("long")))
    spread = df.withColumn("_own", F.when(split, own)).withColumn(BUCKET, F.explode(buckets))
    is_own = F.col(BUCKET).eqNullSafe(F.col("_own"))
    return spread.withColumns(columns([*key_cols, BUCKET])).where(is_own).drop(BUCKET, "_own")
