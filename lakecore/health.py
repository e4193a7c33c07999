"""Stream health: lag in messages and in seconds, time since the last batch, alarms.

`lakehouse health` checks every stream job (or those named) against the thresholds in
its YAML (`<job>.alarms`, lakecore.streaming.StreamAlarms):

- **lag in messages**: what the source offers beyond what the stream processed. Kafka:
  the topic read from the highest end offsets the stream recorded per partition
  (`ops.stream_progress.end_offsets`) to the broker's latest. The Delta stand-in: its
  rows newer than the newest message time processed.
- **lag in seconds**: the newest waiting message's time minus the newest processed
  message's time (`max_source_ts`, the Kafka timestamp); 0 when nothing waits.
- **batch age**: seconds since the last committed batch; an alarm only while messages
  wait (an idle stream runs no batches and is healthy).

Each unhealthy stream gets an `error` row in `ops.alerts` (source `health`); a stream
that was unhealthy at the last check and is healthy now gets an `info` row ("recovered").
The command exits 4 when any stream is unhealthy (a scheduler's failed task, a
Kubernetes probe's failure), 0 otherwise.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import functions as F

from lakecore.alerts import ALERTS, record_alert
from lakecore.io import Lakehouse
from lakecore.streaming import PROGRESS, StreamAlarms, StreamSource

EXIT_UNHEALTHY = 4
SOURCE = "health"


@dataclass
class StreamHealth:
    job: str
    source_id: str
    last_batch_at: str | None
    batch_age_seconds: float | None
    lag_events: int
    lag_seconds: float
    breaches: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.breaches

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy}


def _merged_offsets(rows: list[str | None]) -> dict[str, dict[str, int]]:
    """Per topic and partition, the highest offset among the recorded offset JSONs."""
    out: dict[str, dict[str, int]] = {}
    for text in rows:
        for topic, parts in (json.loads(text) if text else {}).items():
            for part, off in parts.items():
                seen = out.setdefault(topic, {})
                seen[part] = max(int(off), seen.get(part, int(off)))
    return out


def _waiting(
    lake: Lakehouse, source: StreamSource, progress, processed_ts: datetime | None
) -> tuple[int, datetime | None, datetime | None]:
    """(messages waiting, oldest and newest waiting message time) at the source."""
    spark = lake.spark
    if source.kind == "kafka":
        rows = progress.select("end_offsets", "latest_offsets").collect()
        ends = _merged_offsets([r.end_offsets for r in rows])
        known = _merged_offsets([r.latest_offsets for r in rows])
        parts = set(known.get(source.topic, {})) | set(ends.get(source.topic, {}))
        start: str = "earliest"
        if parts:  # partitions never processed are read from their start (-2)
            mine = ends.get(source.topic, {})
            start = json.dumps({source.topic: {p: mine.get(p, -2) for p in sorted(parts)}})
        waiting = (
            spark.read.format("kafka")
            .option("kafka.bootstrap.servers", source.bootstrap_servers)
            .option("subscribe", source.topic)
            .option("startingOffsets", start)
            .option("endingOffsets", "latest")
            .load()
        )
    else:
        if not lake.exists(source.delta_table):
            return 0, None, None
        waiting = lake.read(source.delta_table)
        if processed_ts is not None:
            waiting = waiting.where(F.col("timestamp") > F.lit(processed_ts))
    row = waiting.agg(F.count(F.lit(1)), F.min("timestamp"), F.max("timestamp")).first()
    return row[0], row[1], row[2]


def stream_health(
    lake: Lakehouse,
    job: str,
    source: StreamSource,
    alarms: StreamAlarms,
    now: datetime | None = None,
) -> StreamHealth:
    """One stream's lag and batch age against its alarms (reads only; records nothing)."""
    now = now or datetime.now(UTC).replace(tzinfo=None)  # the session's UTC wall clock
    progress = None
    last_at = processed_ts = None
    if lake.exists(PROGRESS):
        progress = lake.read(PROGRESS).where(
            (F.col("job") == job) & (F.col("source_id") == source.source_id)
        )
        if "max_source_ts" not in progress.columns:
            progress = progress.withColumn("max_source_ts", F.lit(None).cast("timestamp"))
        stats = progress.agg(F.max("processed_at"), F.max("max_source_ts")).first()
        last_at, processed_ts = stats[0], stats[1]
    if progress is None:
        progress = lake.spark.createDataFrame([], "end_offsets string, latest_offsets string")
    waiting, oldest, newest = _waiting(lake, source, progress, processed_ts)
    lag_seconds = 0.0
    if waiting and newest is not None:
        since = processed_ts if processed_ts is not None else oldest
        lag_seconds = max(0.0, (newest - since).total_seconds())
    age = None if last_at is None else max(0.0, (now - last_at).total_seconds())
    breaches = []
    if waiting > alarms.max_lag_events:
        breaches.append(f"lag {waiting} messages > {alarms.max_lag_events}")
    if lag_seconds > alarms.max_lag_seconds:
        breaches.append(f"lag {lag_seconds:.0f}s > {alarms.max_lag_seconds:g}s")
    if waiting and (age is None or age > alarms.max_batch_age_seconds):
        since = "no batch ever" if age is None else f"no batch for {age:.0f}s"
        breaches.append(f"{since} while {waiting} messages wait")
    return StreamHealth(
        job=job,
        source_id=source.source_id,
        last_batch_at=None if last_at is None else last_at.isoformat(sep=" "),
        batch_age_seconds=None if age is None else round(age, 1),
        lag_events=waiting,
        lag_seconds=round(lag_seconds, 1),
        breaches=breaches,
    )


def _last_state(lake: Lakehouse, job: str) -> str | None:
    """'breach' or 'clear': what the last health alert of `job` said (None: none yet)."""
    if not lake.exists(ALERTS):
        return None
    last = (
        lake.read(ALERTS)
        .where((F.col("source") == SOURCE) & (F.col("attributes")["job"] == job))
        .orderBy(F.col("raised_at").desc())
        .select(F.col("attributes")["state"].alias("state"))
        .first()
    )
    return None if last is None else last.state


def record(lake: Lakehouse, health: StreamHealth) -> str | None:
    """An alert for a breach, or for a recovery after one; None when nothing changed."""
    metrics = {
        "job": health.job,
        "source_id": health.source_id,
        "lag_events": str(health.lag_events),
        "lag_seconds": str(health.lag_seconds),
        "batch_age_seconds": str(health.batch_age_seconds),
    }
    if not health.healthy:
        subject = f"{health.job} unhealthy: {'; '.join(health.breaches)}"
        attributes = {**metrics, "state": "breach"}
        return record_alert(lake, SOURCE, "error", subject, json.dumps(metrics), attributes)
    if _last_state(lake, health.job) == "breach":
        attributes = {**metrics, "state": "clear"}
        subject = f"{health.job} recovered"
        return record_alert(lake, SOURCE, "info", subject, json.dumps(metrics), attributes)
    return None


def format_report(report: list[StreamHealth]) -> str:
    lines = [f"{'stream':<22} {'status':<9} {'lag msgs':>9} {'lag s':>7} {'last batch':>11}"]
    for h in report:
        age = "never" if h.batch_age_seconds is None else f"{h.batch_age_seconds:.0f}s ago"
        status = "ok" if h.healthy else "UNHEALTHY"
        lines.append(f"{h.job:<22} {status:<9} {h.lag_events:>9} {h.lag_seconds:>7.0f} {age:>11}")
        lines += [f"  - {b}" for b in h.breaches]
    return "\n".join(lines)
