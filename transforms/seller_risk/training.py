"""Point-in-time training sets: each label gets the latest feature snapshot it could have seen.

The snapshot of day d holds events up to the end of d, so it is usable for a
label at time t with lag L only if d < date(t - L): strictly before the day
of the cut-off. An as-of join (like Feast's) done as a window over a union,
never a range join that pairs every label with every earlier snapshot.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

KEY = "seller_id"


def build_training_set(
    labels: DataFrame,
    features: DataFrame,
    lag_days: int,
    key: str = KEY,
    max_age_days: int | None = None,
) -> DataFrame:
    """labels (key, label_ts, label, ...) + `label_date` + `feature_as_of_date` + the
    snapshot's feature columns.

    `label_date` is the last day whose snapshot the label may use (the day before
    the day of label_ts - lag): the day a model would have been asked on, so the
    split by time is on it, never on the snapshot's day. A snapshot older than
    `max_age_days` before `label_date` describes another time (a seller back after
    months): it is not used. Every label row is kept; no usable snapshot gives
    null features.
    """
    if lag_days < 0:
        raise ValueError(f"lag_days must be >= 0, got {lag_days}")
    if max_age_days is not None and max_age_days < 0:
        raise ValueError(f"max_age_days must be >= 0, got {max_age_days}")
    cutoff_day = F.to_date(F.col("label_ts") - F.make_interval(days=F.lit(lag_days)))
    label_rows = labels.withColumns(
        {"_t": cutoff_day, "_is_snapshot": F.lit(False), "_snapshot": F.lit(None).cast("date")}
    )
    snapshot_rows = features.select(
        key,
        F.col("as_of_date").alias("_t"),
        F.lit(True).alias("_is_snapshot"),
        F.col("as_of_date").alias("_snapshot"),
    )
    # On the cut-off day a label sorts before the snapshot (False < True): that day's
    # snapshot stays invisible to it.
    before = (
        Window.partitionBy(key)
        .orderBy(F.col("_t").asc_nulls_first(), "_is_snapshot")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    latest = F.last("_snapshot", ignorenulls=True).over(before)
    matched = (
        label_rows.unionByName(snapshot_rows, allowMissingColumns=True)
        .withColumns({"feature_as_of_date": latest, "label_date": F.date_sub("_t", 1)})
        .where(~F.col("_is_snapshot"))
        .drop("_t", "_is_snapshot", "_snapshot")
    )
    if max_age_days is not None:
        fresh = F.datediff("label_date", "feature_as_of_date") <= max_age_days
        matched = matched.withColumn(
            "feature_as_of_date", F.when(fresh, F.col("feature_as_of_date"))
        )
    snapshot = features.withColumnRenamed("as_of_date", "feature_as_of_date")
    return matched.join(snapshot, on=[key, "feature_as_of_date"], how="left")
