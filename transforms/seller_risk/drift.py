"""Population stability index per feature: has today's input drifted from the training data?

A model is only as good as the match between the rows it scores and the rows
it learnt from; PSI flags a feature whose distribution moved (rule of thumb:
< 0.1 stable, 0.1-0.25 worth a look, > 0.25 shifted). Bins are the
reference's approximate deciles (deduplicated, so a lumpy feature gets fewer
bins; open ends, so no value falls outside), right-closed like Spark's tree
splits: bin i holds edge[i-1] < x <= edge[i]. Null is a bin of its own, since
a feature that goes missing more often has drifted too. Empty bins would make
the log infinite, so shares are floored at epsilon:

    PSI = sum_b (cur_b - ref_b) * ln(cur_b / ref_b)

Two passes whatever the number of features: the reference's quantiles (all
features in one approxQuantile), then one aggregation of every feature's bin
counts on both sides (bin indices in one select, exploded to feature, bin).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

NULL_BIN = -1

PSI_SCHEMA = T.StructType(
    [
        T.StructField("feature", T.StringType(), False),
        T.StructField("psi", T.DoubleType(), True),
        T.StructField("reference_rows", T.LongType(), False),
        T.StructField("current_rows", T.LongType(), False),
        T.StructField("bins", T.IntegerType(), False),
    ]
)


def psi_of_shares(
    ref: Mapping[object, float], cur: Mapping[object, float], epsilon: float = 1e-4
) -> float:
    """PSI of two distributions given as bin -> share; a bin missing on one side has share 0."""
    terms = []
    for b in set(ref) | set(cur):
        r, c = max(ref.get(b, 0.0), epsilon), max(cur.get(b, 0.0), epsilon)
        terms.append((c - r) * math.log(c / r))
    return math.fsum(terms)  # exactly rounded: the bins' order does not matter


def bin_edges(
    reference: DataFrame, features: Sequence[str], bins: int = 10, relative_error: float = 0.001
) -> dict[str, list[float]]:
    """feature -> sorted distinct inner edges: the reference's 1/bins .. (bins-1)/bins quantiles.

    One Spark job for all features; nulls are ignored, an all-null feature has no edges.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    missing = sorted(set(features) - set(reference.columns))
    if missing:
        raise ValueError(f"unknown features {missing}; known: {reference.columns}")
    if len(set(features)) != len(features):
        raise ValueError(f"features repeat: {list(features)}")
    if bins == 1 or not features:
        return {f: [] for f in features}
    aliases = [f"_f{i}" for i in range(len(features))]
    numeric = reference.select(
        *[F.col(f"`{f}`").cast("double").alias(a) for f, a in zip(features, aliases, strict=True)]
    )
    probabilities = [i / bins for i in range(1, bins)]
    quantiles = numeric.approxQuantile(aliases, probabilities, relative_error)
    return {
        f: sorted({q for q in qs if not math.isnan(q)})
        for f, qs in zip(features, quantiles, strict=True)
    }


def bin_index(value: Column, edges: Sequence[float]) -> Column:
    """0..len(edges): how many edges lie below the value (right-closed bins); null -> NULL_BIN."""
    x = value.cast("double")
    index = F.lit(0)
    for edge in edges:
        index = index + (x > F.lit(float(edge))).cast("int")
    return F.when(x.isNull(), F.lit(NULL_BIN)).otherwise(index)


def psi(
    reference: DataFrame,
    current: DataFrame,
    features: Sequence[str],
    bins: int = 10,
    epsilon: float = 1e-4,
    relative_error: float = 0.001,
    edges: Mapping[str, Sequence[float]] | None = None,
) -> DataFrame:
    """One row per feature: (feature, psi, reference_rows, current_rows, bins).

    `bins` is the number of value bins used (at most the asked-for `bins`,
    fewer when quantiles coincide); the null bin comes on top. psi is null
    when either side has no rows. The result is small and built on the driver.
    `edges` (from `bin_edges`) skips the quantile pass: compute them once when
    one reference is compared with many days.
    """
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    for side, df in (("reference", reference), ("current", current)):
        missing = sorted(set(features) - set(df.columns))
        if missing:
            raise ValueError(f"{side} lacks features {missing}; known: {df.columns}")
    if edges is None:
        edges = bin_edges(reference, features, bins, relative_error)
    else:
        lacking = sorted(set(features) - set(edges))
        if lacking:
            raise ValueError(f"no edges for features {lacking}")
        edges = {f: sorted(set(map(float, edges[f]))) for f in features}
    spark = reference.sparkSession
    if not features:
        return spark.createDataFrame([], PSI_SCHEMA)

    def binned(df: DataFrame, side: str) -> DataFrame:
        cells = [
            F.struct(F.lit(f).alias("feature"), bin_index(F.col(f"`{f}`"), edges[f]).alias("bin"))
            for f in features
        ]
        return df.select(F.lit(side).alias("side"), F.explode(F.array(*cells)).alias("cell"))

    counts = (
        binned(reference, "reference")
        .unionByName(binned(current, "current"))
        .groupBy("side", "cell.feature", "cell.bin")
        .count()
        .collect()
    )
    tallies: dict[tuple[str, str], dict[int, int]] = {}
    for row in counts:
        tallies.setdefault((row["side"], row["feature"]), {})[row["bin"]] = row["count"]

    out = []
    for f in features:
        ref, cur = tallies.get(("reference", f), {}), tallies.get(("current", f), {})
        ref_rows, cur_rows = sum(ref.values()), sum(cur.values())
        value_bins = len(edges[f]) + 1
        every_bin = [NULL_BIN, *range(value_bins)]  # empty bins count (floored) on both sides
        value = None
        if ref_rows and cur_rows:
            value = psi_of_shares(
                {b: ref.get(b, 0) / ref_rows for b in every_bin},
                {b: cur.get(b, 0) / cur_rows for b in every_bin},
                epsilon,
            )
        out.append((f, value, ref_rows, cur_rows, value_bins))
    return spark.createDataFrame(out, PSI_SCHEMA)
