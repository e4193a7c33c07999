"""seller_risk_stream: seller events (Kafka, or a Delta table) -> real-time velocity features.

Each micro-batch, in one named foreachBatch function (`process_seller_events`):

1. parse every message with an explicit schema; malformed JSON, missing keys,
   unknown event types and fields of the wrong type get a reason;
2. valid events older than the watermark (the latest event time seen by the
   previous batches minus `allowed_lateness_minutes`) get reason `late`;
3. valid on-time events are inserted into `bronze.seller_events` by MERGE on
   event_id (a duplicate id counts once), rejected ones into
   `quarantine.seller_events` by MERGE on (topic, partition, offset);
4. every (seller, window) the batch touched is recomputed from
   `bronze.seller_events` (the shared transform `window_features`) and upserted
   into `gold.seller_risk_realtime` by MERGE, with a spike flag against the
   seller's daily baseline from `gold.seller_risk_features`;
5. the new watermark and the batch's counts are stored per batch id.

Every write is keyed, and step 2 reads the watermark the *previous* batch
stored, so a batch replayed after a crash computes and writes exactly the same
rows: killed at any moment and restarted, the stream loses and duplicates
nothing. The checkpoint lives under the lake's checkpoint root per job and source.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakecore.config import JobConfig, StrictModel
from lakecore.job import JobContext, JobSpec
from lakecore.streaming import (
    BatchResult,
    StreamAlarms,
    StreamOptions,
    StreamRunner,
    StreamSource,
    checkpoint_root,
    require_source,
    run_stream_job,
)
from transforms.seller_risk.events import (
    WINDOW_KEY,
    aggregate_windows,
    first_of_each_event,
    in_windows,
    near_events,
    parse_events,
    quarantine_rows,
    with_late_reason,
    with_spike_flag,
)

BRONZE = "bronze.seller_events"
QUARANTINE = "quarantine.seller_events"
OUTPUT = "gold.seller_risk_realtime"
BASELINE = "gold.seller_risk_features"


class SellerStreamParams(StrictModel):
    source: StreamSource = StreamSource(delta_table="stream.seller_events", topic="seller_events")
    trigger: Literal["available_now", "processing_time"] = "available_now"
    processing_time: str = "10 seconds"
    alarms: StreamAlarms = StreamAlarms()
    window_minutes: list[int] = Field(default_factory=lambda: [5, 60], min_length=1)
    allowed_lateness_minutes: int = Field(default=60, ge=0)
    spike_factor: float = Field(default=3.0, gt=0)
    spike_min_orders: int = Field(default=5, ge=1)


class SellerStreamConfig(JobConfig):
    seller_risk_stream: SellerStreamParams


def process_seller_events(
    ctx: JobContext, batch: DataFrame, batch_id: int, watermark, stream_id: str
) -> BatchResult:
    """One micro-batch, idempotent per (stream, batch id); returns the batch's counts.

    read = written + duplicates + quarantined. A duplicate is a valid event whose id
    is already in bronze from another batch (of this stream or any other source or
    checkpoint), or repeats within the batch; bronze rows carry the stream and batch
    that wrote them, so a replay counts the same way.
    """
    p = ctx.job.seller_risk_stream
    lake = ctx.lake
    tag = {"ingest_source": F.lit(stream_id), "ingest_batch": F.lit(batch_id)}
    events = with_late_reason(parse_events(batch), watermark).persist()
    try:
        valid = first_of_each_event(events).withColumns(tag)
        if lake.exists(BRONZE):
            # Rows this batch (or a later one of this stream) wrote are not "earlier".
            mine = (F.col("ingest_source") == stream_id) & (F.col("ingest_batch") >= batch_id)
            earlier = lake.read(BRONZE).where(~F.coalesce(mine, F.lit(False))).select("event_id")
            valid = valid.join(earlier, on="event_id", how="left_anti")
        valid = valid.persist()
        counts = events.agg(
            F.count(F.lit(1)).alias("read"),
            F.count_if(F.col("reason").isNull()).alias("valid"),
            F.count_if(F.col("reason") == "late").alias("late"),
            F.count_if(F.col("reason").isNotNull()).alias("quarantined"),
            F.max(F.when(F.col("reason").isNull(), F.col("event_ts"))).alias("max_event_ts"),
            F.max("received_at").alias("max_source_ts"),
            # In microseconds: a Python datetime would pass through the local time zone.
            F.unix_micros(F.min(F.when(F.col("reason").isNull(), F.col("event_ts")))).alias(
                "min_us"
            ),
            F.unix_micros(F.max(F.when(F.col("reason").isNull(), F.col("event_ts")))).alias(
                "max_us"
            ),
        ).first()
        written = valid.count()
        lake.merge(valid, BRONZE, keys=["event_id"], update=False, count_rows=False)
        if counts["quarantined"]:
            lake.merge(
                quarantine_rows(events).withColumns(tag),
                QUARANTINE,
                keys=["topic", "partition", "offset"],
                update=False,
                count_rows=False,
            )
        if written:
            touched = in_windows(valid, p.window_minutes).select(*WINDOW_KEY).distinct()
            # Only bronze rows near the batch's event times (not all of bronze each batch).
            near = near_events(
                lake.read(BRONZE), counts["min_us"], counts["max_us"], p.window_minutes
            )
            affected = in_windows(near, p.window_minutes).join(
                F.broadcast(touched), on=list(WINDOW_KEY), how="left_semi"
            )
            baseline = lake.read(BASELINE) if lake.exists(BASELINE) else None
            features = with_spike_flag(
                aggregate_windows(affected), baseline, p.spike_factor, p.spike_min_orders
            )
            lake.merge(features, OUTPUT, keys=list(WINDOW_KEY), count_rows=False)
        valid.unpersist()
        return BatchResult(
            read=counts["read"],
            written=written,
            duplicates=counts["valid"] - written,
            late=counts["late"],
            quarantined=counts["quarantined"],
            max_event_ts=counts["max_event_ts"],
            max_source_ts=counts["max_source_ts"],
        )
    finally:
        events.unpersist()


def run(ctx: JobContext) -> None:
    p = ctx.job.seller_risk_stream
    require_source(ctx.lake, p.source, "seller_risk_stream", "publish_seller_events")
    # Rows written before stream ids existed carry only their batch id.
    for table in (BRONZE, QUARANTINE):
        ctx.lake.ensure_columns(table, {"ingest_source": "string"})
    runner = StreamRunner(
        ctx.spark,
        ctx.lake,
        ctx.spec.name,
        p.source,
        checkpoint_root(ctx.lake, ctx.cfg.env.lakehouse.checkpoints),
        fingerprint={
            "source": p.source.source_id,
            "window_minutes": sorted(p.window_minutes),
            "allowed_lateness_minutes": p.allowed_lateness_minutes,
        },
        lateness=timedelta(minutes=p.allowed_lateness_minutes),
    )

    def process(batch: DataFrame, batch_id: int, watermark) -> BatchResult:
        return process_seller_events(ctx, batch, batch_id, watermark, runner.stream_id)

    process.__name__ = "process_seller_events"
    totals = run_stream_job(ctx, runner, process, p, (BRONZE, QUARANTINE, OUTPUT))
    ctx.run.extra["late"] = totals.late


SPEC = JobSpec(
    name="seller_risk_stream",
    description="seller events (Kafka or a Delta table) -> real-time velocity features and spikes",
    config_model=SellerStreamConfig,
    run=run,
    reads=("kafka:seller_events | stream.seller_events", BASELINE),
    writes=(BRONZE, QUARANTINE, OUTPUT, "ops.stream_progress"),
    options_model=StreamOptions,
)
