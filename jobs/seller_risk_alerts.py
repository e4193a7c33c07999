"""seller_risk_alerts: seller events -> alerts on a Kafka topic, in Spark's real-time mode.

The sub-second path beside `seller_risk_stream` (which keeps the exact, exactly-once
windows in Delta): each event is joined with its seller's latest published baseline
(`gold.seller_risk_features`: 30-day orders, average order value, risk score; broadcast)
and checked against the rules in the job's YAML; each rule that fires produces one JSON
alert on the alerts topic, keyed by seller, with the rule, the event, where it came from
and the baseline it was judged against.

Real-time mode (`trigger(realTime=...)`, Spark 4.1+) processes records as they arrive
instead of in micro-batches; its "batch duration" is how often progress is
checkpointed and the baseline re-read (at least 5 s; 5 minutes here: each boundary
pauses the records while the next batch is planned). In Spark 4.2 it serves only stateless queries from Kafka
to Kafka (or foreach), so this job reads Kafka only: the Delta stand-in of the topic
is refused, and windows or dedup stay in `seller_risk_stream`. Each Kafka partition
holds one task slot for the whole run: the topic's partitions must fit the executor
cores. Delivery is at-least-once (a restart replays from the last checkpoint); `alert_id`
(sha256 of event id and rule) identifies a duplicate.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from lakecore.config import ConfigError, JobConfig, StrictModel
from lakecore.job import JobContext, JobSpec, RunOptions
from lakecore.streaming import KAFKA_SCHEMA, StreamSource, checkpoint_root, progress_dict
from transforms.seller_risk.alerts import evaluate_rules, latest_baseline

BASELINE = "gold.seller_risk_features"
EMPTY_BASELINE = (
    "seller_id string, baseline_as_of_date date, baseline_orders_30d long, "
    "baseline_aov_30d double, baseline_risk_score double"
)

DEFAULT_RULES = {
    # An order far above what the seller usually sells.
    "order_over_5x_aov": "event_type = 'order_placed' AND amount > 5 * baseline_aov_30d",
    # Money going back at a seller the daily score already flags.
    "refund_at_risky_seller": (
        "event_type IN ('refund', 'chargeback') AND baseline_risk_score >= 60"
    ),
    # A large order at a seller with no daily history yet.
    "large_order_new_seller": (
        "event_type = 'order_placed' AND baseline_as_of_date IS NULL AND amount > 500"
    ),
}


class SellerAlertParams(StrictModel):
    source: StreamSource = StreamSource(kind="kafka", topic="seller_events")
    alerts_topic: str = "seller_risk_alerts"
    # Real-time mode's checkpoint interval (Spark's minimum: 5 seconds; its default and
    # ours: 5 minutes): each boundary pauses the records (conf/jobs YAML).
    batch_duration: str = "5 minutes"
    # rule name -> SQL condition over the event (event_type, amount, seller_id...) and the
    # baseline (baseline_as_of_date, baseline_orders_30d, baseline_aov_30d, baseline_risk_score)
    rules: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_RULES), min_length=1)
    severities: dict[str, str] = Field(default_factory=dict)

    @field_validator("source")
    @classmethod
    def _kafka_only(cls, source: StreamSource) -> StreamSource:
        if source.kind != "kafka":
            raise ValueError(
                "real-time mode reads Kafka only (Spark 4.2: the Delta source does not "
                "support it): set source.kind=kafka and source.bootstrap_servers"
            )
        return source


class SellerAlertConfig(JobConfig):
    seller_risk_alerts: SellerAlertParams = SellerAlertParams()


class AlertOptions(RunOptions):
    timeout: float | None = Field(
        None, description="stop after this many seconds (default: run until stopped)"
    )


def run(ctx: JobContext) -> None:
    p = ctx.job.seller_risk_alerts
    source = p.source
    if not source.bootstrap_servers:
        raise ConfigError(
            f"{ctx.cfg.job_file}: seller_risk_alerts.source.bootstrap_servers is empty"
        )
    where = ctx.cfg.job_file
    unknown = sorted(set(p.severities) - set(p.rules))
    if unknown:
        raise ConfigError(f"{where}: seller_risk_alerts.severities names unknown rules {unknown}")
    spark, lake = ctx.spark, ctx.lake
    baseline = latest_baseline(lake.read(BASELINE)) if lake.exists(BASELINE) else None
    if baseline is None:
        ctx.log.warning("%s does not exist: every seller is judged without a baseline", BASELINE)
        baseline = spark.createDataFrame([], EMPTY_BASELINE)
    for name, sql in p.rules.items():  # a wrong rule stops the job before the query starts
        try:
            _ = evaluate_rules(
                spark.createDataFrame([], KAFKA_SCHEMA), baseline, {name: sql}, {}
            ).schema
        except Exception as exc:
            first = str(exc).strip().splitlines()[0]
            raise ConfigError(
                f"{where}: seller_risk_alerts.rules.{name}: {sql!r}: {first}"
            ) from None
    raw = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", source.bootstrap_servers)
        .option("subscribe", source.topic)
        .option("startingOffsets", source.starting_offsets)
        .load()
    )
    alerts = evaluate_rules(raw, baseline, p.rules, p.severities)
    checkpoint = f"{checkpoint_root(lake, ctx.cfg.env.lakehouse.checkpoints)}/seller_risk_alerts/{source.source_id}"
    query = (
        alerts.writeStream.format("kafka")
        .queryName("seller_risk_alerts")
        .option("kafka.bootstrap.servers", source.bootstrap_servers)
        .option("topic", p.alerts_topic)
        .option("checkpointLocation", checkpoint)
        .outputMode("update")
        .trigger(realTime=p.batch_duration)
        .start()
    )
    ctx.log.info("%s: real-time mode, %s -> %s (checkpoint %s)", ctx.spec.name, source.topic,
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


SPEC = JobSpec(
    name="seller_risk_alerts",
    description="seller events (Kafka) -> rule alerts on a Kafka topic, in real-time mode",
    config_model=SellerAlertConfig,
    run=run,
    reads=("kafka:seller_events", BASELINE),
    writes=("kafka:seller_risk_alerts",),
    options_model=AlertOptions,
    in_demo=False,
)
