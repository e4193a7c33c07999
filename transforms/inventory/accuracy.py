"""gold.inventory_accuracy: record accuracy, variance and shrink per day at four grains.

- `location` (grain_key = location_id) and `abc_class` (A/B/C): per count day;
- `network` (grain_key = ALL): the whole day;
- `sku`: the day's top drifting SKUs by absolute variance value, with `rank`.

Inventory record accuracy (IRA) = counts within tolerance / counts. Shrink is
what the adjustments write off: the units and value of SHRINK counts (below
tolerance, a negative variance is not adjusted and not called shrink);
shrink_rate = shrink value / book value of the counted stock. Money is summed
as decimal(20,2), so the figures do not depend on the order Spark adds them.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

GRAINS = ("location", "abc_class", "network", "sku")
MONEY = "decimal(20,2)"
ACCURACY_COLUMNS = (
    "metric_date",
    "grain",
    "grain_key",
    "rank",
    "counts",
    "within_tolerance",
    "accuracy",
    "book_units",
    "counted_units",
    "variance_units",
    "abs_variance_units",
    "book_value",
    "variance_value",
    "abs_variance_value",
    "shrink_units",
    "shrink_value",
    "shrink_rate",
)


def _money(c: Column) -> Column:
    return F.sum(c.cast(MONEY))


def _measures() -> list[Column]:
    is_shrink = F.col("status") == "SHRINK"
    variance_value = F.col("variance_value")
    return [
        F.count(F.lit(1)).alias("counts"),
        F.sum(F.when(F.col("status") == "MATCH", 1).otherwise(0))
        .cast("long")
        .alias("within_tolerance"),
        F.sum("book_qty").alias("book_units"),
        F.sum("counted_qty").alias("counted_units"),
        F.sum("variance_units").alias("variance_units"),
        F.sum(F.abs("variance_units")).alias("abs_variance_units"),
        _money(F.round(F.col("book_qty") * F.col("unit_cost"), 2)).alias("book_value"),
        _money(variance_value).alias("variance_value"),
        _money(F.abs(variance_value)).alias("abs_variance_value"),
        F.sum(F.when(is_shrink, -F.col("variance_units")).otherwise(0))
        .cast("long")
        .alias("shrink_units"),
        _money(F.when(is_shrink, -variance_value).otherwise(0)).alias("shrink_value"),
    ]


def _finish(df: DataFrame, grain: str, key: Column, rank: Column | None = None) -> DataFrame:
    book_value = F.col("book_value")
    shrink_rate = F.when(
        book_value > 0, F.col("shrink_value").cast("double") / book_value.cast("double")
    )
    return df.select(
        F.col("count_date").alias("metric_date"),
        F.lit(grain).alias("grain"),
        key.alias("grain_key"),
        (rank if rank is not None else F.lit(None)).cast("int").alias("rank"),
        "counts",
        "within_tolerance",
        (F.col("within_tolerance") / F.col("counts")).alias("accuracy"),
        "book_units",
        "counted_units",
        "variance_units",
        "abs_variance_units",
        *[
            F.col(c).cast("double").alias(c)
            for c in ("book_value", "variance_value", "abs_variance_value")
        ],
        "shrink_units",
        F.col("shrink_value").cast("double").alias("shrink_value"),
        shrink_rate.cast("double").alias("shrink_rate"),
    )


def top_drifting_skus(discrepancies: DataFrame, top_n: int) -> DataFrame:
    """The day's `top_n` SKUs by absolute variance value (over all locations), drift only."""
    per_sku = discrepancies.groupBy("count_date", "sku").agg(*_measures())
    # row_number takes no frame: it is a ranking function.
    by_drift = Window.partitionBy("count_date").orderBy(F.desc("abs_variance_value"), F.asc("sku"))
    ranked = per_sku.where(F.col("abs_variance_value") > 0).withColumn(
        "rank", F.row_number().over(by_drift)
    )
    return _finish(ranked.where(F.col("rank") <= top_n), "sku", F.col("sku"), F.col("rank"))


def build_accuracy(discrepancies: DataFrame, top_n: int) -> DataFrame:
    """Every grain for every count day present in `discrepancies`."""
    by_location = discrepancies.groupBy("count_date", "location_id").agg(*_measures())
    by_class = discrepancies.groupBy("count_date", "abc_class").agg(*_measures())
    network = discrepancies.groupBy("count_date").agg(*_measures())
    return (
        _finish(by_location, "location", F.col("location_id"))
        .unionByName(_finish(by_class, "abc_class", F.col("abc_class")))
        .unionByName(_finish(network, "network", F.lit("ALL")))
        .unionByName(top_drifting_skus(discrepancies, top_n))
    )
