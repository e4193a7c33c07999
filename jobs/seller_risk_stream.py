"""seller_risk_stream: seller events (Kafka, or a Delta table) -> real-time velocity features.

In the streaming query, before the batch function (`parse_and_mark`): every
message is parsed with an explicit schema (malformed JSON, missing keys, unknown
event types and fields of the wrong type get a reason), and Spark's state store
(`io.lakehouse.stream.FirstSeen`, RocksDB) marks each valid message `first_seen` or
not by event id, remembering an id until the watermark passes its event time.

Each micro-batch, in one named foreachBatch function (`process_seller_events`):

1. valid events older than the watermark (the latest event time seen by the
   previous batches minus `allowed_lateness_minutes`) get reason `late`;
2. valid on-time events seen first, minus ids another stream (another source or
   checkpoint) wrote to bronze at or after the watermark, are the batch's new events
   (bronze is looked up only while its log says it can hold such ids: `OtherWriters`);
3. their windows (the shared transform `window_features`) are added to
   `gold.seller_risk_realtime` by a MERGE that commits once per (stream, batch id)
   (Delta's idempotent DML): counts and GMV add up, and the spike flag is decided
   on the sums against the seller's daily baseline from `gold.seller_risk_features`;
4. the new events are appended to `bronze.seller_events` once per (stream, batch
   id) (the first batch of a run, the only possible replay, looks for its rows
   first); rejected ones are inserted into
   `quarantine.seller_events` by MERGE on (topic, partition, offset);
5. the new watermark, the batch's counts and offsets are stored per batch id in
   `ops.stream_progress` (the consumer lag is added at most once a minute).

Every write is idempotent per (stream, batch id), step 1 reads the watermark the
*previous* batch stored, and Spark replays a batch with the state it had, so a
batch replayed after a crash computes the same rows and writes nothing twice:
killed at any moment and restarted, the stream loses and duplicates nothing. A
batch costs its own events, not the history: no window is recomputed from bronze.
Two streams must not write the same bronze table at the same time: each checks
the other's ids before appending, but not atomically with its append.
The checkpoint lives under the lake's checkpoint root per
job and source.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakecore.config import JobConfig, StrictModel
from lakecore.job import JobContext, JobSpec
from lakecore.streaming import (
    BatchResult,
    OtherWriters,
    PhaseTimer,
    StreamAlarms,
    StreamOptions,
    StreamRunner,
    StreamSource,
    checkpoint_root,
    concurrently,
    held,
    mark_first_seen,
    quarantine_batch,
    release,
    require_source,
    run_stream_job,
)
from transforms.seller_risk.events import (
    WINDOW_KEY,
    first_seen_events,
    parse_events,
    quarantine_rows,
    window_features,
    window_increments,
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


def parse_and_mark(messages: DataFrame, lateness_minutes: int) -> DataFrame:
    """The streaming part of the query: every message parsed (`parse_events`) and marked
    `first_seen` by event id in Spark's state store (valid messages only; an id is
    remembered until the watermark passes its event time, when a repeat is late anyway)."""
    events = parse_events(messages)
    valid = F.col("reason").isNull()
    keyed = events.withColumns(
        {"dedup_id": F.when(valid, F.col("event_id")), "dedup_ts": F.when(valid, F.col("event_ts"))}
    ).withWatermark("dedup_ts", f"{lateness_minutes} minutes")
    return mark_first_seen(keyed, "dedup_id", "dedup_ts").drop("dedup_id", "dedup_ts")


def process_seller_events(
    ctx: JobContext,
    batch: DataFrame,
    batch_id: int,
    watermark,
    stream_id: str,
    may_replay: bool = True,
    others: OtherWriters | None = None,
    watermark_at: datetime | None = None,
) -> BatchResult:
    """One micro-batch of parsed, marked messages (`parse_and_mark`), idempotent per
    (stream, batch id); returns the batch's counts.

    read = written + duplicates + quarantined. A duplicate is a valid event this query
    saw before (Spark's state: this batch or an earlier one) or whose id bronze holds
    from another stream (another source or checkpoint). Spark replays a batch with the
    state it had, so a replay marks and counts the same rows. `may_replay`: the batch
    can be a replay (the first of a query run), so bronze is searched for its rows.
    `others`: tells when bronze can hold other streams' ids at or after `watermark_at`
    (the watermark's value); without it they are looked up every batch.
    """
    p = ctx.job.seller_risk_stream
    lake = ctx.lake
    clock = PhaseTimer()
    tag = {"ingest_source": F.lit(stream_id), "ingest_batch": F.lit(batch_id)}
    events = with_late_reason(batch, watermark).persist()
    valid = None
    try:
        with clock("parse"):
            counts = events.agg(
                F.count(F.lit(1)).alias("read"),
                F.count_if(F.col("reason").isNull()).alias("valid"),
                F.count_if(F.col("reason") == "late").alias("late"),
                F.count_if(F.col("reason").isNotNull()).alias("quarantined"),
                F.max(F.when(F.col("reason").isNull(), F.col("event_ts"))).alias("max_event_ts"),
                F.max("received_at").alias("max_source_ts"),
            ).first()
        if not counts["read"]:
            return BatchResult(phases=clock)
        valid = first_seen_events(events).withColumns(tag)
        # Ids other streams wrote (another source, an earlier checkpoint), at or after the
        # watermark: a valid event is not older, and a redelivery keeps its time. Looked
        # up only while the log says bronze can hold some (`OtherWriters`); both bounds
        # are literals, so Delta skips this stream's own files and old ones.
        with clock("others"):
            lookup = (
                others.lookup_needed(stream_id, watermark_at) if others else lake.exists(BRONZE)
            )
        if lookup:
            foreign = F.col("ingest_source").isNull() | (F.col("ingest_source") != stream_id)
            if watermark is not None:
                foreign = foreign & (F.col("event_ts") >= watermark)
            known = lake.read(BRONZE).where(foreign).select("event_id")
            # Materialized without its lineage: bronze is written below while gold reads
            # these rows, and a cached plan that reads bronze would be dropped by that
            # write (and recomputed, stateful operator included).
            with clock("dedup"):
                valid = held(valid.join(known, on="event_id", how="left_anti"))
        # Otherwise gold and bronze read the batch's cached messages, which no write drops
        # (caching the new events once more cost 0.2 s a batch and saved nothing:
        # benchmarks/README.md, Streaming, 2026-12-07 night).
        with clock("dedup"):
            written = valid.count()
        output_at = None
        if written:

            def gold() -> datetime:
                # The batch's new events per window, added to the stored windows once per
                # (stream, batch): no window is recomputed from bronze.
                with clock("gold"):
                    baseline = lake.read(BASELINE) if lake.exists(BASELINE) else None
                    increments = with_spike_flag(
                        window_features(valid, p.window_minutes),
                        baseline,
                        p.spike_factor,
                        p.spike_min_orders,
                    )
                    lake.accumulate(
                        increments,
                        OUTPUT,
                        list(WINDOW_KEY),
                        window_increments(p.spike_factor, p.spike_min_orders),
                        condition=None,
                        count_rows=False,
                        txn=(f"{OUTPUT}:{stream_id}", batch_id),
                    )
                return datetime.now(UTC)

            def bronze() -> None:
                # Appended once per (stream, batch): a replay finds the same rows, adds none.
                with clock("bronze"):
                    key = {"ingest_source": stream_id, "ingest_batch": batch_id}
                    lake.append_batch(valid, BRONZE, key, may_replay=may_replay)

            # Both idempotent per (stream, batch), so neither waits for the other: a crash
            # after one commit leaves the other to the replay.
            output_at, _ = concurrently(gold, bronze)
        if counts["quarantined"]:
            with clock("quarantine"):
                quarantine_batch(lake, quarantine_rows(events).withColumns(tag), QUARANTINE)
        return BatchResult(
            read=counts["read"],
            written=written,
            duplicates=counts["valid"] - written,
            late=counts["late"],
            quarantined=counts["quarantined"],
            max_event_ts=counts["max_event_ts"],
            max_source_ts=counts["max_source_ts"],
            phases=clock,
            output_at=output_at or datetime.now(UTC),
        )
    finally:
        if valid is not None:
            release(valid)
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
            # Event ids are deduplicated in the query's state, in shards since 2026-12-07:
            # an earlier checkpoint is refused; move it away and the query restarts from
            # the source's starting offsets (bronze's ids keep the events counted once).
            "dedup": "state:first_seen:shards",
        },
        lateness=timedelta(minutes=p.allowed_lateness_minutes),
    )

    others = OtherWriters(ctx.lake, BRONZE, "ingest_source", "event_ts")

    def process(batch: DataFrame, batch_id: int, watermark) -> BatchResult:
        return process_seller_events(
            ctx,
            batch,
            batch_id,
            watermark,
            runner.stream_id,
            runner.may_replay(batch_id),
            others,
            runner.watermark,
        )

    process.__name__ = "process_seller_events"
    totals = run_stream_job(
        ctx,
        runner,
        process,
        p,
        (BRONZE, QUARANTINE, OUTPUT),
        prepare=lambda messages: parse_and_mark(messages, p.allowed_lateness_minutes),
    )
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
