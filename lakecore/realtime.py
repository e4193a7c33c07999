"""Running a rule-alert query in Spark's real-time mode: Kafka in, Kafka out.

Real-time mode (`trigger(realTime=...)`, Spark 4.1+) processes records as they arrive
instead of in micro-batches; its "batch duration" is how often progress is
checkpointed and the static side of the query (a daily baseline, the current book)
re-read: at least 5 s, 5 minutes by default, since each boundary pauses the records
while the next batch is planned. In Spark 4.2 it serves only stateless queries from
Kafka to Kafka (or foreach), so the source must be Kafka: the Delta stand-in of a
topic is refused. Each Kafka partition holds one task slot for the whole run: the
topic's partitions must fit the executor cores. Delivery is at-least-once (a restart
replays from the last checkpoint); an alert's id identifies a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pydantic import Field, field_validator
from pyspark.sql import DataFrame

from lakecore.config import ConfigError, StrictModel
from lakecore.job import JobContext, RunOptions
from lakecore.streaming import KAFKA_SCHEMA, StreamSource, checkpoint_root, progress_dict

# (raw Kafka messages, the static context, rules, severities) -> Kafka rows (key, value)
Evaluate = Callable[[DataFrame, DataFrame, Mapping[str, str], Mapping[str, str]], DataFrame]


class AlertParams(StrictModel):
    """What every real-time alert job configures; each job sets its own defaults."""

    source: StreamSource
    alerts_topic: str
    # Real-time mode's checkpoint interval (Spark's minimum: 5 seconds; its default and
    # ours: 5 minutes): each boundary pauses the records (conf/jobs YAML).
    batch_duration: str = "5 minutes"
    # rule name -> SQL condition over the event and its context (see the job's YAML)
    rules: dict[str, str] = Field(min_length=1)
    severities: dict[str, str] = Field(default_factory=dict)  # rule -> severity (warning)

    @field_validator("source")
    @classmethod
    def _kafka_only(cls, source: StreamSource) -> StreamSource:
        if source.kind != "kafka":
            raise ValueError(
                "real-time mode reads Kafka only (Spark 4.2: the Delta source does not "
                "support it): set source.kind=kafka and source.bootstrap_servers"
            )
        return source


class AlertOptions(RunOptions):
    timeout: float | None = Field(
        None, description="stop after this many seconds (default: run until stopped)"
    )


def run_alert_query(
    ctx: JobContext,
    section: str,
    p: AlertParams,
    context_schema: str,
    load_context: Callable[[], DataFrame],
    evaluate: Evaluate,
) -> None:
    """Check the config (exit 2 before anything is read: the rules are compiled against an
    empty context of `context_schema`), load the context, then run the query until it is
    stopped or `--timeout` passes; record the messages read and the rules."""
    where = ctx.cfg.job_file
    if not p.source.bootstrap_servers:
        raise ConfigError(f"{where}: {section}.source.bootstrap_servers is empty")
    unknown = sorted(set(p.severities) - set(p.rules))
    if unknown:
        raise ConfigError(f"{where}: {section}.severities names unknown rules {unknown}")
    spark = ctx.spark
    empty = spark.createDataFrame([], context_schema)
    for name, sql in p.rules.items():  # a wrong rule stops the job before the query starts
        try:
            _ = evaluate(spark.createDataFrame([], KAFKA_SCHEMA), empty, {name: sql}, {}).schema
        except Exception as exc:
            first = str(exc).strip().splitlines()[0]
            raise ConfigError(f"{where}: {section}.rules.{name}: {sql!r}: {first}") from None
    context = load_context()
    raw = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", p.source.bootstrap_servers)
        .option("subscribe", p.source.topic)
        .option("startingOffsets", p.source.starting_offsets)
        .load()
    )
    root = checkpoint_root(ctx.lake, ctx.cfg.env.lakehouse.checkpoints)
    checkpoint = f"{root}/{ctx.spec.name}/{p.source.source_id}"
    query = (
        evaluate(raw, context, p.rules, p.severities)
        .writeStream.format("kafka")
        .queryName(ctx.spec.name)
        .option("kafka.bootstrap.servers", p.source.bootstrap_servers)
        .option("topic", p.alerts_topic)
        .option("checkpointLocation", checkpoint)
        .outputMode("update")
        .trigger(realTime=p.batch_duration)
        .start()
    )
    ctx.log.info("%s: real-time mode, %s -> %s (checkpoint %s)", ctx.spec.name, p.source.topic,
                 p.alerts_topic, checkpoint)  # fmt: skip
    timeout = getattr(ctx.options, "timeout", None)
    try:
        query.awaitTermination(timeout) if timeout else query.awaitTermination()
    finally:
        if query.isActive:
            query.stop()
    # Messages read, over the batches Spark reported (the last one if it completed).
    rows = sum(int(progress_dict(pr).get("numInputRows") or 0) for pr in query.recentProgress)
    ctx.run.extra["rules"] = sorted(p.rules)
    ctx.run.extra["input_rows"] = rows
