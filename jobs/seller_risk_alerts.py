"""seller_risk_alerts: seller events -> alerts on a Kafka topic, in Spark's real-time mode.

The sub-second path beside `seller_risk_stream` (which keeps the exact, exactly-once
windows in Delta): each event is joined with its seller's latest published baseline
(`gold.seller_risk_features`: 30-day orders, average order value, risk score; broadcast)
and checked against the rules in the job's YAML; each rule that fires produces one JSON
alert on the alerts topic, keyed by seller, with the rule, the event, where it came from
and the baseline it was judged against. How real-time mode runs it: lakecore.realtime.
"""

from __future__ import annotations

from pydantic import Field
from pyspark.sql import DataFrame

from lakecore.config import JobConfig
from lakecore.job import JobContext, JobSpec
from lakecore.realtime import AlertOptions, AlertParams, run_alert_query
from lakecore.streaming import StreamSource
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


class SellerAlertParams(AlertParams):
    source: StreamSource = StreamSource(kind="kafka", topic="seller_events")
    alerts_topic: str = "seller_risk_alerts"
    # rule name -> SQL condition over the event (event_type, amount, seller_id...) and the
    # baseline (baseline_as_of_date, baseline_orders_30d, baseline_aov_30d, baseline_risk_score)
    rules: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_RULES), min_length=1)


class SellerAlertConfig(JobConfig):
    seller_risk_alerts: SellerAlertParams = SellerAlertParams()


def run(ctx: JobContext) -> None:
    def baseline() -> DataFrame:
        if ctx.lake.exists(BASELINE):
            return latest_baseline(ctx.lake.read(BASELINE))
        ctx.log.warning("%s does not exist: every seller is judged without a baseline", BASELINE)
        return ctx.spark.createDataFrame([], EMPTY_BASELINE)

    p = ctx.job.seller_risk_alerts
    run_alert_query(ctx, "seller_risk_alerts", p, EMPTY_BASELINE, baseline, evaluate_rules)


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
