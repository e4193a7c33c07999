"""Rows a job cannot use, in the ingest quarantine layout, so every quarantine table reads alike."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def quarantine_rows(
    rejected: DataFrame, table: str, keys: Sequence[str], job: str, source_file: str | None = None
) -> DataFrame:
    """Rows this job cannot use, in the ingest quarantine layout (one reason each)."""
    columns = [c for c in rejected.columns if c != "reasons"]
    return rejected.select(
        F.lit(table).alias("table"),
        F.lit(job).alias("source"),
        F.lit(source_file or f"silver.{table}").alias("source_file"),
        F.array_join("reasons", ";").alias("reason"),
        F.col("reasons"),
        F.to_json(F.struct(*keys)).alias("record_key"),
        F.to_json(F.struct(*columns)).alias("raw_record"),
    )
