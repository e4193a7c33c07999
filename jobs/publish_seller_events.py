"""publish_seller_events: the seller events the silver tables imply -> a topic (or its Delta stand-in).

Feeds `seller_risk_stream` in the demo and in tests. With `target.kind: delta`
(the embedded default) the messages go, with Kafka's columns, to a Delta table
by an insert-only MERGE on (topic, partition, offset): re-publishing adds
nothing, and the table stays append-only so a stream reading it never sees a
rewrite. With `target.kind: kafka` they are produced to the topic (which must exist).
"""

from __future__ import annotations

from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from catalog.tables import TABLES
from lakecore.config import JobConfig, StrictModel
from lakecore.job import JobContext, JobSpec
from lakecore.streaming import StreamSource, publish
from transforms.seller_risk.events import events_from_silver, to_seller_messages
from transforms.seller_risk.facts import build_seller_orders


class PublishParams(StrictModel):
    target: StreamSource = StreamSource(delta_table="stream.seller_events", topic="seller_events")
    partitions: int = Field(default=4, ge=1)
    # Only the last `days` days of events (counted back from the latest one); 0 = all.
    days: int = Field(default=7, ge=0)


class PublishConfig(JobConfig):
    publish_seller_events: PublishParams


def read_or_empty(ctx: JobContext, table: str) -> DataFrame:
    """silver.<table>, or an empty one with its schema (Olist has no after_sales)."""
    name = f"silver.{table}"
    if ctx.lake.exists(name):
        return ctx.lake.read(name)
    ctx.log.warning("publish_seller_events: %s does not exist: no events from it", name)
    return ctx.spark.createDataFrame([], TABLES[table].struct)


def run(ctx: JobContext) -> None:
    p = ctx.job.publish_seller_events
    lake = ctx.lake
    seller_orders = build_seller_orders(
        lake.read("silver.order_items"), lake.read("silver.orders"), lake.read("silver.customers")
    )
    optional = {t: read_or_empty(ctx, t) for t in ("after_sales", "reviews", "products")}
    events = events_from_silver(seller_orders, **optional).persist()
    try:
        if p.days:
            latest = events.agg(F.max("event_ts")).first()[0]
            events = events.where(
                F.col("event_ts") > F.lit(latest) - F.expr(f"INTERVAL {p.days} DAYS")
            )
        messages = to_seller_messages(events, p.target.topic, p.partitions)
        with ctx.step(f"publish to {p.target.source_id}"):
            rows = publish(lake, messages, p.target)
    finally:
        events.unpersist()
    ctx.run.add(p.target.source_id, read=rows, written=rows)


SPEC = JobSpec(
    name="publish_seller_events",
    description="seller events implied by the silver tables -> Kafka topic or its Delta stand-in",
    config_model=PublishConfig,
    run=run,
    reads=(
        "silver.order_items",
        "silver.orders",
        "silver.customers",
        "silver.after_sales",
        "silver.reviews",
        "silver.products",
    ),
    writes=("stream.seller_events | kafka:seller_events",),
)
