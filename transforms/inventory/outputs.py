"""The reconciliation's tables, from the replayed counts (`inventory_replay.reconcile`).

`cutoff` is the run's ingestion cut-off (midnight after its logical date) and
`run_date` its logical date: both are columns the job passes, never the clock.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from catalog.tables import RECON_PREFIX
from transforms.inventory.ledger import EVENT_COLUMNS, PAIR
from transforms.inventory.tolerance import status, tolerance_units

ALERT_TYPES = ("NEGATIVE_ON_HAND", "NEGATIVE_AVAILABLE")

SNAPSHOT_SCHEMA = T.StructType(
    [
        T.StructField("location_id", T.StringType(), False),
        T.StructField("sku", T.StringType(), False),
        T.StructField("count_id", T.StringType(), False),
        T.StructField("as_of_ts", T.TimestampType(), False),
        T.StructField("book_on_hand", T.LongType()),
        T.StructField("adjustment_units", T.LongType()),
        T.StructField("on_hand", T.LongType()),
        T.StructField("reserved", T.LongType()),
        T.StructField("available", T.LongType()),
        T.StructField("reconciled_through", T.TimestampType()),
        T.StructField("reconciled_date", T.DateType()),
        T.StructField("is_current", T.BooleanType()),
    ]
)
SNAPSHOT_COLUMNS = tuple(SNAPSHOT_SCHEMA.names)
DISCREPANCY_COLUMNS = (
    "location_id",
    "sku",
    "count_id",
    "book_qty",
    "counted_qty",
    "variance_units",
    "variance_value",
    "status",
    "count_ts",
    "count_date",
    "method",
    "abc_class",
    "unit_cost",
    "tolerance_units",
    "book_reserved",
    "book_available",
    "adjustment_units",
    "n_events",
    "reconciled_through",
    "reconciled_date",
)
ADJUSTMENT_COLUMNS = (*EVENT_COLUMNS, "count_id", "count_date", "status", "variance_value")


def build_discrepancies(reconciled: DataFrame, cutoff: Column, run_date: Column) -> DataFrame:
    """gold.inventory_discrepancies rows: one per count (re)reconciled by this run."""
    variance = F.col("variance_units")
    return reconciled.select(
        *PAIR,
        "count_id",
        "book_qty",
        "counted_qty",
        variance.alias("variance_units"),
        F.round(variance * F.col("unit_cost"), 2).alias("variance_value"),
        status(variance, "book_qty", "tol_bp", "tol_min").alias("status"),
        "count_ts",
        F.to_date("count_ts").alias("count_date"),
        "method",
        "abc_class",
        "unit_cost",
        tolerance_units("book_qty", "tol_bp", "tol_min").alias("tolerance_units"),
        "book_reserved",
        (F.col("book_qty") - F.col("book_reserved")).alias("book_available"),
        "adjustment_units",
        "n_events",
        cutoff.alias("reconciled_through"),
        run_date.alias("reconciled_date"),
    )


def build_snapshot_rows(reconciled: DataFrame, cutoff: Column, run_date: Column) -> DataFrame:
    """gold.inventory_book_snapshot rows of the recomputed counts (`is_current` unset)."""
    return reconciled.select(
        *PAIR,
        "count_id",
        F.col("count_ts").alias("as_of_ts"),
        F.col("book_qty").alias("book_on_hand"),
        "adjustment_units",
        F.col("on_hand_after").alias("on_hand"),
        F.col("book_reserved").alias("reserved"),
        (F.col("on_hand_after") - F.col("book_reserved")).alias("available"),
        cutoff.alias("reconciled_through"),
        run_date.alias("reconciled_date"),
        F.lit(None).cast("boolean").alias("is_current"),
    )


def with_current_flag(snapshot: DataFrame) -> DataFrame:
    """`is_current`: the pair's latest reconciled count (by time, then count id)."""
    pair = Window.partitionBy(*PAIR).rowsBetween(
        Window.unboundedPreceding, Window.unboundedFollowing
    )
    latest = F.max(F.struct("as_of_ts", "count_id")).over(pair)
    is_current = (F.col("as_of_ts") == latest["as_of_ts"]) & (
        F.col("count_id") == latest["count_id"]
    )
    return snapshot.withColumn("is_current", is_current).select(*SNAPSHOT_COLUMNS)


def build_adjustments(discrepancies: DataFrame) -> DataFrame:
    """One ADJUSTMENT ledger event per count outside tolerance, keyed on the count id."""
    # The source set has no "count" value: an RFID count posts as RFID, a cycle count
    # as WAREHOUSE (back-office stock control).
    source = F.when(F.col("method") == "RFID", F.lit("RFID")).otherwise(F.lit("WAREHOUSE"))
    return discrepancies.where(F.col("status") != "MATCH").select(
        F.concat(F.lit(RECON_PREFIX), F.col("count_id")).alias("event_id"),
        *PAIR,
        F.lit("ADJUSTMENT").alias("event_type"),
        F.col("adjustment_units").alias("quantity"),
        source.alias("source"),
        F.col("count_ts").alias("event_ts"),
        F.col("reconciled_through").alias("ingested_at"),
        "count_id",
        "count_date",
        "status",
        "variance_value",
    )


def adjustments_as_events(adjustments: DataFrame) -> DataFrame:
    """The adjustments with exactly the ledger's columns, for the MERGE into it."""
    return adjustments.select(*EVENT_COLUMNS)


def build_alerts(discrepancies: DataFrame) -> DataFrame:
    """gold.inventory_alerts: counts whose book on-hand or available stock was negative."""
    kinds = F.array_compact(
        F.array(
            F.when(F.col("book_qty") < 0, F.lit(ALERT_TYPES[0])),
            F.when(F.col("book_available") < 0, F.lit(ALERT_TYPES[1])),
        )
    )
    return discrepancies.select(
        F.col("count_date").alias("alert_date"),
        F.explode(kinds).alias("alert_type"),
        *PAIR,
        "count_id",
        "count_ts",
        "book_qty",
        "book_reserved",
        "book_available",
        "counted_qty",
        (F.col("book_qty") * F.col("unit_cost")).alias("book_value"),
    )
