"""Stateless rule alerts for Spark's real-time mode: one event in, zero or more alerts out.

Shared by the real-time alert jobs (seller events against the seller's daily baseline,
ledger events against the current book). Real-time mode runs only map-like operators
and broadcast stream-static joins, so an alert is decided by the event and the context
row it joins, never by other events. Rules are SQL boolean expressions from a job's
YAML. An alert's id is the sha256 of the event id and the rule, so a consumer can drop
a duplicate (the Kafka sink is at-least-once).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def rule_alerts(
    events: DataFrame,
    rules: Mapping[str, str],
    severities: Mapping[str, str],
    quoted: Sequence[str | Column],
    key: str,
) -> DataFrame:
    """One Kafka row (`key`, JSON `value`) per (event, rule that fires).

    The value: `alert_id`, `rule`, `severity`, the `quoted` columns (the event, its
    source position, the evidence it was judged against) and nothing else.
    """
    fired = F.filter(
        F.array(
            *[_rule(name, sql, severities.get(name, "warning")) for name, sql in rules.items()]
        ),
        lambda r: r.isNotNull(),
    )
    alerts = events.withColumn("_rule", F.explode(fired))
    alert = F.struct(
        F.sha2(F.concat_ws(":", "event_id", "_rule.rule"), 256).alias("alert_id"),
        F.col("_rule.rule").alias("rule"),
        F.col("_rule.severity").alias("severity"),
        *quoted,
    )
    return alerts.select(F.col(key).cast("binary").alias("key"), F.to_json(alert).alias("value"))


def source_position() -> Column:
    """Where the event came from: topic, partition, offset and when the broker got it."""
    return F.struct("topic", "partition", "offset", "received_at").alias("source")


def _rule(name: str, sql: str, severity: str) -> Column:
    return F.when(
        F.expr(sql), F.struct(F.lit(name).alias("rule"), F.lit(severity).alias("severity"))
    )
