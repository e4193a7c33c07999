"""seller_risk_alerts in Spark's real-time mode, from a real broker to a real broker.

Seven messages against a baseline of two sellers; the job runs in this session for a
few seconds (real-time mode holds one task slot per partition: a 1-partition topic).
Exactly the three events that break a rule raise an alert, with the rule, the evidence
and an id derived from the event and the rule.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from lakecore.io import Lakehouse
from tests.conftest import run_cli
from tests.stream_helpers import consume_json, produce

pytestmark = pytest.mark.integration

TOPIC, ALERTS = "rt_seller_events", "rt_seller_alerts"


def event(event_id: str, seller: str, event_type: str, amount: float) -> str:
    ts = dt.datetime(2025, 6, 30, 12, 0, tzinfo=dt.UTC).isoformat()
    return json.dumps({"event_id": event_id, "event_type": event_type, "seller_id": seller,
                       "event_ts": ts, "amount": amount})  # fmt: skip


def sets(servers: str) -> list[str]:
    return [
        f"--set=seller_risk_alerts.source.bootstrap_servers={servers}",
        f"--set=seller_risk_alerts.source.topic={TOPIC}",
        "--set=seller_risk_alerts.source.starting_offsets=earliest",
        f"--set=seller_risk_alerts.alerts_topic={ALERTS}",
        "--set=seller_risk_alerts.batch_duration=5 seconds",  # a quick stop at --timeout
    ]


def test_each_rule_fires_on_its_event_only_with_the_evidence(spark, kafka, tmp_path):
    servers = kafka.bootstrap_servers
    kafka.create_topic(ALERTS, partitions=1)
    produce(servers, TOPIC, 1, [
        ("a", event("e1", "a", "order_placed", 1000.0), "5x"),      # 1000 > 5 x 50
        ("a", event("e2", "a", "order_placed", 20.0), "-"),
        ("b", event("e3", "b", "refund", 15.0), "risky"),            # risk 80 >= 60
        ("a", event("e4", "a", "refund", 15.0), "-"),                # risk 10
        ("c", event("e5", "c", "order_placed", 600.0), "new"),       # no baseline, > 500
        ("c", event("e6", "c", "order_placed", 100.0), "-"),
        ("c", "garbage", "-"),
    ])  # fmt: skip
    lake_root = tmp_path / "lake"
    lake = Lakehouse(spark, str(lake_root))
    baseline = spark.createDataFrame(
        [("a", dt.date(2025, 6, 28), 10, 80.0, 90.0), ("a", dt.date(2025, 6, 29), 300, 50.0, 10.0),
         ("b", dt.date(2025, 6, 29), 40, 50.0, 80.0)],
        "seller_id string, as_of_date date, orders_30d long, aov_30d double, risk_score double",
    )  # fmt: skip
    lake.overwrite(baseline, "gold.seller_risk_features")

    assert run_cli(lake_root, "run", "seller_risk_alerts", *sets(servers), "--timeout=15") == 0

    got = consume_json(servers, ALERTS, want=3)
    fired = {(a["event_id"], a["rule"], a["severity"], key) for key, a in got}
    assert fired == {
        ("e1", "order_over_5x_aov", "warning", "a"),
        ("e3", "refund_at_risky_seller", "error", "b"),
        ("e5", "large_order_new_seller", "warning", "c"),
    }
    by_event = {a["event_id"]: a for _, a in got}
    for event_id, alert in by_event.items():
        digest = hashlib.sha256(f"{event_id}:{alert['rule']}".encode()).hexdigest()
        assert alert["alert_id"] == digest
    # The newest snapshot is the evidence (a's 2025-06-29 row, not the older one).
    assert by_event["e1"]["baseline"] == {"as_of_date": "2025-06-29", "orders_30d": 300,
                                          "aov_30d": 50.0, "risk_score": 10.0}  # fmt: skip
    assert by_event["e5"]["baseline"] == {}
    assert by_event["e1"]["source"]["topic"] == TOPIC
    # The run records what it read: all seven messages, the malformed one included.
    run = Lakehouse(spark, str(lake_root)).read("ops.job_runs").first()
    assert (run.job, run.status) == ("seller_risk_alerts", "SUCCEEDED")
    assert json.loads(run.table_counts)["_extra"]["input_rows"] == 7


def test_a_wrong_rule_or_a_delta_source_stops_before_the_query(tmp_path, kafka):
    lake_root = tmp_path / "lake"
    bad_rule = "--set=seller_risk_alerts.rules.broken=amount >>> 5"
    assert (
        run_cli(lake_root, "run", "seller_risk_alerts", *sets(kafka.bootstrap_servers), bad_rule)
        == 2
    )
    delta = "--set=seller_risk_alerts.source.kind=delta"
    assert run_cli(lake_root, "run", "seller_risk_alerts", delta) == 2
