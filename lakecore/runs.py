"""`ops.job_runs`: one row per run, successful or not, with row accounting."""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakecore.io import Lakehouse

log = logging.getLogger(__name__)

JOB_RUNS = "ops.job_runs"

JOB_RUNS_SCHEMA = T.StructType(
    [
        T.StructField("job", T.StringType(), False),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("env", T.StringType(), True),
        T.StructField("logical_start", T.DateType(), True),
        T.StructField("logical_end", T.DateType(), True),
        T.StructField("config_hash", T.StringType(), True),
        T.StructField("started_at", T.TimestampType(), False),
        T.StructField("ended_at", T.TimestampType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("rows_read", T.LongType(), False),
        T.StructField("rows_written", T.LongType(), False),
        T.StructField("rows_quarantined", T.LongType(), False),
        T.StructField("table_counts", T.StringType(), True),
        T.StructField("error_message", T.StringType(), True),
    ]
)


class RowCountMismatchError(Exception):
    """rows read != rows written + rows quarantined: something would be lost."""


@dataclass
class TableCounts:
    read: int = 0
    written: int = 0
    quarantined: int = 0


@dataclass
class JobRun:
    """Accumulates what a run read and wrote; `record` appends it to ops.job_runs."""

    job: str
    env: str
    config_hash: str
    logical_start: date | None = None
    logical_end: date | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    counts: dict[str, TableCounts] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)
    # Set by a job that found nothing new and wrote nothing: recorded as NO_OP.
    noop: bool = False
    _t0: float = field(default_factory=time.monotonic)

    def add(self, table: str, read: int = 0, written: int = 0, quarantined: int = 0) -> None:
        c = self.counts.setdefault(table, TableCounts())
        c.read += read
        c.written += written
        c.quarantined += quarantined

    def check_balanced(self, table: str) -> None:
        """Raise unless every row read was written or quarantined."""
        c = self.counts[table]
        if c.read != c.written + c.quarantined:
            raise RowCountMismatchError(
                f"{table}: read {c.read} rows but wrote {c.written} and quarantined "
                f"{c.quarantined} ({c.read - c.written - c.quarantined} unaccounted)"
            )
        log.info(
            "%s: read %d = written %d + quarantined %d", table, c.read, c.written, c.quarantined
        )

    @property
    def totals(self) -> TableCounts:
        t = TableCounts()
        for c in self.counts.values():
            t.read += c.read
            t.written += c.written
            t.quarantined += c.quarantined
        return t

    def record(self, spark: SparkSession, lake: Lakehouse, status: str, error: str | None = None):
        ended = datetime.now(UTC)
        t = self.totals
        detail = {k: vars(v) for k, v in self.counts.items()}
        if self.extra:
            detail["_extra"] = self.extra
        row = (
            self.job,
            self.run_id,
            self.env,
            self.logical_start,
            self.logical_end,
            self.config_hash,
            self.started_at,
            ended,
            status,
            t.read,
            t.written,
            t.quarantined,
            json.dumps(detail, sort_keys=True, default=str),
            (error or "")[:4000] or None,
        )
        df = spark.createDataFrame([row], JOB_RUNS_SCHEMA)
        df.write.format("delta").mode("append").save(lake.path(JOB_RUNS))
        log.info(
            "run %s of %s %s in %.1fs: read %d, written %d, quarantined %d",
            self.run_id,
            self.job,
            status,
            time.monotonic() - self._t0,
            t.read,
            t.written,
            t.quarantined,
        )


def last_run_extra(lake: Lakehouse, job: str) -> dict | None:
    """The `_extra` record of the job's latest SUCCEEDED run (a no-op run changes nothing
    a job keeps there); None when there is none."""
    if not lake.exists(JOB_RUNS):
        return None
    last = (
        lake.read(JOB_RUNS)
        .where((F.col("job") == job) & (F.col("status") == "SUCCEEDED"))
        .orderBy(F.col("ended_at").desc())
        .first()
    )
    return None if last is None else json.loads(last["table_counts"] or "{}").get("_extra", {})


def last_run_inputs(
    lake: Lakehouse,
    job: str,
    *,
    config_hash: str | None = None,
    dates: tuple[date | None, date | None] | None = None,
) -> dict[str, int] | None:
    """The input table versions (`_extra.inputs`) of the job's latest successful run (or
    no-op); None when there is none. With `config_hash`/`dates`: only when the job's very
    latest run, of any status, is a successful one with that config and those dates (any
    other run since may have rewritten the same outputs)."""
    if not lake.exists(JOB_RUNS):
        return None
    runs = lake.read(JOB_RUNS).where(F.col("job") == job)
    if config_hash is None and dates is None:
        runs = runs.where(F.col("status").isin("SUCCEEDED", "NO_OP"))
    last = runs.orderBy(F.col("ended_at").desc()).first()
    if last is None or last["status"] not in ("SUCCEEDED", "NO_OP"):
        return None
    if config_hash is not None and last["config_hash"] != config_hash:
        return None
    if dates is not None and (last["logical_start"], last["logical_end"]) != tuple(dates):
        return None
    return json.loads(last["table_counts"] or "{}").get("_extra", {}).get("inputs")
