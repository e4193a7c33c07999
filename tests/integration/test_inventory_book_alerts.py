"""inventory_book_alerts in Spark's real-time mode, from a real broker to a real broker.

Eight messages against a book of two pairs; the job runs in this session for a few
seconds (real-time mode holds one task slot per partition: a 1-partition topic).
Exactly the events that break a rule raise an alert, with the rule, the book it was
judged against and an id derived from the event and the rule.
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

TOPIC, ALERTS = "rt_ledger_events", "rt_stock_alerts"
TS = dt.datetime(2025, 6, 30, 12, 0, tzinfo=dt.UTC)


def event(event_id: str, location: str, sku: str, event_type: str, quantity: int) -> str:
    return json.dumps({"event_id": event_id, "location_id": location, "sku": sku,
                       "event_type": event_type, "quantity": quantity, "source": "POS",
                       "event_ts": TS.isoformat()})  # fmt: skip


def test_each_book_rule_fires_on_its_event_only_with_the_book(spark, kafka, tmp_path):
    servers = kafka.bootstrap_servers
    kafka.create_topic(ALERTS, partitions=1)
    produce(servers, TOPIC, 1, [
        ("S1", event("e1", "S1", "K1", "SALE", 8), "oversell"),          # 8 > 5 available
        ("S1", event("e2", "S1", "K1", "SALE", 2), "-"),
        ("S2", event("e3", "S2", "K1", "RESERVE", 6), "oversell"),       # 6 > 4 available
        ("S1", event("e4", "S1", "K9", "SALE", 1), "unknown"),           # no book for S1/K9
        ("S1", event("e5", "S1", "K1", "ADJUSTMENT", -150), "adjust"),
        ("S1", event("e6", "S1", "K1", "RESTOCK", 500), "-"),
        ("S1", event("e7", "S1", "K1", "SALE", -3), "-"),                # invalid: quarantined
        ("S1", "garbage", "-"),
    ])  # fmt: skip
    lake_root = tmp_path / "lake"
    book = spark.createDataFrame(
        [("S1", "K1", 7, 2, 5, 3, TS.replace(tzinfo=None)),
         ("S2", "K1", 4, 0, 4, 1, TS.replace(tzinfo=None))],
        "location_id string, sku string, on_hand long, reserved long, available long, "
        "events long, last_event_ts timestamp",
    )  # fmt: skip
    Lakehouse(spark, str(lake_root)).overwrite(book, "gold.inventory_book_current")

    sets = [
        f"--set=inventory_book_alerts.source.bootstrap_servers={servers}",
        f"--set=inventory_book_alerts.source.topic={TOPIC}",
        "--set=inventory_book_alerts.source.starting_offsets=earliest",
        f"--set=inventory_book_alerts.alerts_topic={ALERTS}",
        "--set=inventory_book_alerts.batch_duration=5 seconds",  # a quick stop at --timeout
    ]
    assert run_cli(lake_root, "run", "inventory_book_alerts", *sets, "--timeout=15") == 0

    got = consume_json(servers, ALERTS, want=4)
    fired = {(a["event_id"], a["rule"], a["severity"], key) for key, a in got}
    assert fired == {
        ("e1", "oversell", "error", "S1"),
        ("e3", "oversell", "error", "S2"),
        ("e4", "unknown_pair", "warning", "S1"),
        ("e5", "large_adjustment", "warning", "S1"),
    }
    by_event = {a["event_id"]: a for _, a in got}
    for event_id, alert in by_event.items():
        digest = hashlib.sha256(f"{event_id}:{alert['rule']}".encode()).hexdigest()
        assert alert["alert_id"] == digest
    assert by_event["e1"]["book"] == {"on_hand": 7, "reserved": 2, "available": 5, "events": 3,
                                      "last_event_ts": "2025-06-30T12:00:00.000Z"}  # fmt: skip
    assert by_event["e4"]["book"] == {}
    e1 = by_event["e1"]
    assert (e1["quantity"], e1["event_source"], e1["source"]["topic"]) == (8, "POS", TOPIC)
    run = Lakehouse(spark, str(lake_root)).read("ops.job_runs").first()
    assert (run.job, run.status) == ("inventory_book_alerts", "SUCCEEDED")
    assert json.loads(run.table_counts)["_extra"]["input_rows"] == 8


def test_a_wrong_book_rule_a_delta_source_or_no_book_stops_before_the_query(tmp_path, kafka):
    lake_root = tmp_path / "lake"
    servers = f"--set=inventory_book_alerts.source.bootstrap_servers={kafka.bootstrap_servers}"
    bad_rule = "--set=inventory_book_alerts.rules.broken=quantity >>> 5"
    assert run_cli(lake_root, "run", "inventory_book_alerts", servers, bad_rule) == 2
    delta = "--set=inventory_book_alerts.source.kind=delta"
    assert run_cli(lake_root, "run", "inventory_book_alerts", delta) == 2
    # A valid config but no book yet: stops before the query (not judged against nothing).
    assert run_cli(lake_root, "run", "inventory_book_alerts", servers) == 1
