"""publish_inventory_events: the ledger (`silver.inventory_events`) -> a topic (or its Delta stand-in).

Feeds `inventory_stream` in the demo, tests and benchmarks. Messages are keyed
by location (a location's events stay in order in one partition), offsets in
event-time order. With `target.kind: delta` (the embedded default) re-publishing
adds nothing; with `target.kind: kafka` they are produced to the topic.
"""

from __future__ import annotations

from pydantic import Field
from pyspark.sql import functions as F

from lakecore.config import JobConfig, StrictModel
from lakecore.job import JobContext, JobSpec
from lakecore.streaming import StreamSource, publish
from transforms.inventory.stream import to_inventory_messages

LEDGER = "silver.inventory_events"


class PublishInventoryParams(StrictModel):
    target: StreamSource = StreamSource(
        delta_table="stream.inventory_events", topic="inventory_events"
    )
    partitions: int = Field(default=4, ge=1)
    # Only the last `days` days of events (counted back from the latest one); 0 = all.
    days: int = Field(default=0, ge=0)


class PublishInventoryConfig(JobConfig):
    publish_inventory_events: PublishInventoryParams


def run(ctx: JobContext) -> None:
    p = ctx.job.publish_inventory_events
    events = ctx.lake.read(LEDGER)
    if p.days:
        latest = events.agg(F.max("event_ts")).first()[0]
        events = events.where(F.col("event_ts") > F.lit(latest) - F.expr(f"INTERVAL {p.days} DAYS"))
    messages = to_inventory_messages(events, p.target.topic, p.partitions)
    with ctx.step(f"publish to {p.target.source_id}"):
        rows = publish(ctx.lake, messages, p.target)
    ctx.run.add(p.target.source_id, read=rows, written=rows)


SPEC = JobSpec(
    name="publish_inventory_events",
    description="inventory ledger events (silver) -> Kafka topic or its Delta stand-in",
    config_model=PublishInventoryConfig,
    run=run,
    reads=(LEDGER,),
    writes=("stream.inventory_events | kafka:inventory_events",),
)
