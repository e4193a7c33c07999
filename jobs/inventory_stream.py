"""inventory_stream: ledger events (Kafka, or a Delta table) -> the current book per (location, sku).

Each micro-batch, in one named foreachBatch function (`process_inventory_events`):

1. parse every message with an explicit schema and the ledger's own checks;
   malformed JSON, missing keys, unknown event types or sources, wrong types and
   impossible quantities get a reason;
2. valid events whose id bronze does not hold yet (a duplicate id counts once) are
   kept for steps 3-4 and then appended to `bronze.inventory_stream_events` once per
   (stream, batch id) (the first batch of a run, the only possible replay, looks for
   its rows first), rejected ones inserted into
   `quarantine.inventory_stream_events` by MERGE on (topic, partition, offset);
3. those new events are summed per (location, sku) with the ledger's signs and added to
   `gold.inventory_book_current` by a MERGE guarded by (`last_source`,
   `last_batch_id`): a pair already moved by this batch is not moved again;
4. pairs the batch left with negative on-hand or available stock get a row in
   `gold.inventory_stock_alerts` (pair, stream, batch and kind), appended once per
   batch (the same way);
5. the batch's counts and offsets go to `ops.stream_progress` (the consumer lag,
   latest offsets against processed ones, is added at most once a minute).

A batch replayed after a crash sees the same messages (Spark's checkpoint), does not
count its own bronze rows (tagged with stream and batch id) as earlier deliveries, so it
finds the same new events, and skips the pairs it already moved, so killed at
any moment and restarted the stream loses and duplicates nothing. Event time does
not matter for a running total, so there is no watermark: a late event still
moves the book (the reconciliation job is the place that dates it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakecore.config import JobConfig, StrictModel
from lakecore.job import JobContext, JobSpec
from lakecore.streaming import (
    BatchResult,
    PhaseTimer,
    StreamAlarms,
    StreamOptions,
    StreamRunner,
    StreamSource,
    checkpoint_root,
    quarantine_batch,
    require_source,
    run_stream_job,
)
from transforms.inventory.ledger import PAIR
from transforms.inventory.stream import (
    book_changes,
    first_deliveries,
    negative_stock_alerts,
    parse_inventory_messages,
    stream_quarantine_rows,
)

BRONZE = "bronze.inventory_stream_events"
QUARANTINE = "quarantine.inventory_stream_events"
OUTPUT = "gold.inventory_book_current"
ALERTS = "gold.inventory_stock_alerts"
# The book's MERGE: a batch's changes add to a pair's totals...
BOOK_SET = {
    "on_hand": "t.on_hand + s.on_hand",
    "reserved": "t.reserved + s.reserved",
    "available": "t.available + s.available",
    "events": "t.events + s.events",
    "last_event_ts": "greatest(t.last_event_ts, s.last_event_ts)",
    "last_source": "s.last_source",
    "last_batch_id": "s.last_batch_id",
}
# ...unless this stream already moved the pair with this batch (a replay) or a later one.
BOOK_GUARD = "NOT (t.last_source <=> s.last_source AND t.last_batch_id >= s.last_batch_id)"


class InventoryStreamParams(StrictModel):
    source: StreamSource = StreamSource(
        delta_table="stream.inventory_events", topic="inventory_events"
    )
    trigger: Literal["available_now", "processing_time"] = "available_now"
    processing_time: str = "10 seconds"
    alarms: StreamAlarms = StreamAlarms()


class InventoryStreamConfig(JobConfig):
    inventory_stream: InventoryStreamParams


def process_inventory_events(
    ctx: JobContext, batch: DataFrame, batch_id: int, source_id: str, may_replay: bool = True
) -> BatchResult:
    """One micro-batch, idempotent per (stream, batch id); returns its counts
    (read = written + duplicates + quarantined).

    `source_id` is the runner's stream id (source and checkpoint). Batch ids restart
    at 0 for every checkpoint, so rows and guards carry the stream id too: switching
    the source (Delta stand-in to Kafka, another topic) or starting a new checkpoint
    never mistakes another query's batch for this one. `may_replay`: the batch can be
    a replay (the first of a query run), so its appends look for its rows first.
    """
    lake = ctx.lake
    clock = PhaseTimer()
    tag = {"ingest_source": F.lit(source_id), "ingest_batch": F.lit(batch_id)}
    events = parse_inventory_messages(batch).persist()
    firsts = None
    try:
        with clock("parse"):
            counts = events.agg(
                F.count(F.lit(1)).alias("read"),
                F.count_if(F.col("reason").isNull()).alias("valid"),
                F.count_if(F.col("reason").isNotNull()).alias("quarantined"),
                F.max("received_at").alias("max_source_ts"),
            ).first()
        if not counts["read"]:
            return BatchResult(phases=clock)
        firsts = first_deliveries(events).withColumns(tag)
        if lake.exists(BRONZE):
            # Ids bronze holds from elsewhere; rows this batch (or a later one of this
            # stream) wrote are not "elsewhere", so a replay finds the same new events.
            mine = (F.col("ingest_source") == source_id) & (F.col("ingest_batch") >= batch_id)
            known = lake.read(BRONZE).where(~F.coalesce(mine, F.lit(False))).select("event_id")
            firsts = firsts.join(known, on="event_id", how="left_anti")
        firsts = firsts.persist()
        with clock("dedup"):
            written = firsts.count()
        if counts["quarantined"]:
            with clock("quarantine"):
                quarantine_batch(lake, stream_quarantine_rows(events).withColumns(tag), QUARANTINE)
        if written:
            changes = book_changes(firsts).withColumns(
                {"last_source": F.lit(source_id), "last_batch_id": F.lit(batch_id).cast("long")}
            )
            with clock("book"):
                lake.accumulate(changes, OUTPUT, PAIR, BOOK_SET, BOOK_GUARD, count_rows=False)
            output_at = datetime.now(UTC)
            with clock("alerts"):
                moved = lake.read(OUTPUT).where(
                    (F.col("last_source") == source_id) & (F.col("last_batch_id") == batch_id)
                )
                alerts = negative_stock_alerts(moved).withColumnsRenamed(
                    {"last_source": "source_id", "last_batch_id": "batch_id"}
                )
                # Rows of this (stream, batch) only: appended once, a replay adds nothing.
                key = {"source_id": source_id, "batch_id": batch_id}
                lake.append_batch(alerts, ALERTS, key, may_replay=may_replay)
            with clock("bronze"):
                # Last: `firsts` reads bronze, so Spark drops its cache when bronze changes.
                # Appended once per (stream, batch): a replay adds nothing.
                key = {"ingest_source": source_id, "ingest_batch": batch_id}
                lake.append_batch(firsts, BRONZE, key, may_replay=may_replay)
        else:
            output_at = datetime.now(UTC)
    finally:
        if firsts is not None:
            firsts.unpersist()
        events.unpersist()
    return BatchResult(
        read=counts["read"],
        written=written,
        duplicates=counts["valid"] - written,
        quarantined=counts["quarantined"],
        max_source_ts=counts["max_source_ts"],
        phases=clock,
        output_at=output_at,
    )


def run(ctx: JobContext) -> None:
    p = ctx.job.inventory_stream
    require_source(ctx.lake, p.source, "inventory_stream", "publish_inventory_events")
    runner = StreamRunner(
        ctx.spark,
        ctx.lake,
        ctx.spec.name,
        p.source,
        checkpoint_root(ctx.lake, ctx.cfg.env.lakehouse.checkpoints),
        fingerprint={"source": p.source.source_id, "output": OUTPUT},
        lateness=None,
    )

    def process(batch: DataFrame, batch_id: int, _watermark) -> BatchResult:
        return process_inventory_events(
            ctx, batch, batch_id, runner.stream_id, runner.may_replay(batch_id)
        )

    process.__name__ = "process_inventory_events"
    run_stream_job(ctx, runner, process, p, (BRONZE, QUARANTINE, OUTPUT))


SPEC = JobSpec(
    name="inventory_stream",
    description="inventory ledger events (Kafka or a Delta table) -> current book and stock alerts",
    config_model=InventoryStreamConfig,
    run=run,
    reads=("kafka:inventory_events | stream.inventory_events",),
    writes=(BRONZE, QUARANTINE, OUTPUT, ALERTS, "ops.stream_progress"),
    options_model=StreamOptions,
)
