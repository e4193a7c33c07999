"""Real-time seller alerts: each event against its seller's latest daily baseline, by rules.

Stateless (transforms.common.rule_alerts): rules are SQL boolean expressions over the
event's fields and the baseline's (`baseline_*`), from the job's YAML.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.common.rule_alerts import rule_alerts, source_position
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
    evidence = F.struct(*[F.col(f"baseline_{c}").alias(c) for c in BASELINE_COLUMNS])
    quoted = ("event_id", "seller_id", "event_type", "event_ts", "amount", source_position(),
              evidence.alias("baseline"))  # fmt: skip
    return rule_alerts(joined, rules, severities, quoted, key="seller_id")
