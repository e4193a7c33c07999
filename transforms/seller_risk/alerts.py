"""Real-time seller alerts: each event against its seller's latest daily baseline, by rules.

Stateless by design (Spark's real-time mode runs only map-like operators and broadcast
stream-static joins): one event in, zero or more alerts out, nothing remembered. Rules
are SQL boolean expressions over the event's fields and the baseline's (`baseline_*`),
from the job's YAML. An alert's id is derived from the event and the rule, so a
consumer can drop a duplicate (the Kafka sink is at-least-once).
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.seller_risk.events import parse_events

# What an alert quotes from the seller's last daily snapshot (gold.seller_risk_features).
BASELINE_COLUMNS = ("as_of_date", "orders_30d", "aov_30d", "risk_score")


def latest_baseline(features: DataFrame) -> DataFrame:
    """Per seller, the newest snapshot's baseline, columns prefixed `baseline_`."""
    newest = features.groupBy("seller_id").agg(F.max("as_of_date").alias("as_of_date"))
    return features.join(newest, ["seller_id", "as_of_date"]).select(
        "seller_id", *[F.col(c).alias(f"baseline_{c}") for c in BASELINE_COLUMNS]
    )


def evaluate_rules(
    raw: DataFrame, baseline: DataFrame, rules: Mapping[str, str], severities: Mapping[str, str]
) -> DataFrame:
    """Kafka messages -> one alert row per (valid event, rule that fires): key and JSON value.

    Invalid messages raise no alert (the seller stream quarantines them). The baseline is
    broadcast, a seller without one gets nulls (a rule can test `baseline_as_of_date IS NULL`).
    """
    events = parse_events(raw).where(F.col("reason").isNull())
    joined = events.join(F.broadcast(baseline), "seller_id", "left")
    fired = F.filter(
        F.array(
            *[_rule(name, sql, severities.get(name, "warning")) for name, sql in rules.items()]
        ),
        lambda r: r.isNotNull(),
    )
    alerts = joined.withColumn("_fired", fired).withColumn("_rule", F.explode("_fired"))
    evidence = F.struct(*[F.col(f"baseline_{c}").alias(c) for c in BASELINE_COLUMNS])
    alert = F.struct(
        F.sha2(F.concat_ws(":", "event_id", "_rule.rule"), 256).alias("alert_id"),
        F.col("_rule.rule").alias("rule"),
        F.col("_rule.severity").alias("severity"),
        "event_id",
        "seller_id",
        "event_type",
        "event_ts",
        "amount",
        F.struct("topic", "partition", "offset", "received_at").alias("source"),
        evidence.alias("baseline"),
    )
    return alerts.select(
        F.col("seller_id").cast("binary").alias("key"), F.to_json(alert).alias("value")
    )


def _rule(name: str, sql: str, severity: str) -> Column:
    return F.when(
        F.expr(sql), F.struct(F.lit(name).alias("rule"), F.lit(severity).alias("severity"))
    )
