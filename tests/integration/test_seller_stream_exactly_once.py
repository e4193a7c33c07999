"""seller_risk_stream from a real Kafka broker, SIGKILLed mid-batch twice: nothing lost or doubled.

Events go to a 3-partition topic with duplicates, malformed messages and late
events mixed in. The job runs in a child process (its own JVM) with a
processing-time trigger; it is killed (the whole process group, SIGKILL) right
after a batch wrote bronze but before it wrote gold, twice, then drained with
AvailableNow. The gold table must equal the batch computation over the valid
events, bronze must hold each valid event once, and quarantine exactly the
malformed and late messages.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs.seller_risk_stream import SellerStreamParams
from lakecore.io import Lakehouse
from tests.conftest import run_cli
from tests.stream_helpers import child_command, kafka_sets, produce, run_until_killed
from transforms.seller_risk.events import EVENT_SCHEMA, window_features, with_spike_flag

pytestmark = pytest.mark.integration

TOPIC = "seller_events"
START = dt.datetime(2025, 6, 30, 10, 0, tzinfo=dt.UTC)
N_EVENTS = 1500


def plan_messages(seed: int = 7) -> list[tuple[str, str | None, str]]:
    """(key, value, kind) in production order; kind: valid, duplicate, malformed or late."""
    rng = random.Random(seed)
    types = ["order_placed"] * 6 + ["order_cancelled", "refund", "review_posted", "listing_created"]
    sellers = ["hot"] * 5 + [f"s{i}" for i in range(12)]
    out: list[tuple[str, str | None, str]] = []
    for i in range(N_EVENTS):
        seller = rng.choice(sellers)
        # Event time grows with production order: 1,500 events over 100 minutes.
        ts = START + dt.timedelta(seconds=4 * i + rng.randint(0, 3))
        event = {
            "event_id": f"e{i:05d}",
            "event_type": rng.choice(types),
            "seller_id": seller,
            "event_ts": ts.isoformat().replace("+00:00", "Z"),
            "amount": round(rng.uniform(1, 200), 2),
        }
        out.append((seller, json.dumps(event), "valid"))
        if rng.random() < 0.05:  # the producer retried: the same event again
            out.append((seller, json.dumps(event), "duplicate"))
        if rng.random() < 0.02:
            out.append((seller, rng.choice(['{"event_id": "x"', "garbage", "[]"]), "malformed"))
        if i > N_EVENTS // 2 and rng.random() < 0.01:  # a day old: behind any watermark
            late = {
                **event,
                "event_id": f"late{i:05d}",
                "event_ts": (ts - dt.timedelta(days=1)).isoformat(),
            }
            out.append((seller, json.dumps(late), "late"))
    return out


def job_sets(servers: str) -> list[str]:
    return kafka_sets("seller_risk_stream", servers, 400)


def job_command(lake_root: Path, servers: str, *extra: str) -> list[str]:
    return child_command("seller_risk_stream", lake_root, *job_sets(servers), *extra)


def test_killed_twice_mid_batch_then_resumed_loses_and_duplicates_nothing(spark, kafka, tmp_path):
    servers = kafka.bootstrap_servers
    messages = plan_messages()
    positions = produce(servers, TOPIC, 3, messages)
    lake_root = tmp_path / "lake"
    checkpoint = lake_root / "_checkpoints" / "seller_risk_stream"

    # Kill 1: a batch has written bronze but not gold. Kill 2: the same, a later batch.
    run_until_killed(job_command(lake_root, servers, "--set=seller_risk_stream.trigger=processing_time"),
                     tmp_path / "run1.log", "wrote bronze.seller_events", 2, checkpoint)  # fmt: skip
    run_until_killed(job_command(lake_root, servers, "--set=seller_risk_stream.trigger=processing_time"),
                     tmp_path / "run2.log", "wrote bronze.seller_events", 1, checkpoint)  # fmt: skip
    # Killed with messages waiting: `health` reads the broker from the recorded offsets.
    zero = "--set=seller_risk_stream.alarms.max_lag_events=0"  # any waiting message alarms
    check = ("health", "--job", "seller_risk_stream", "--json", zero, *job_sets(servers))
    assert run_cli(lake_root, *check) == 4
    # Drained with AvailableNow from the checkpoint, in this test's session (no new JVM).
    assert run_cli(lake_root, "run", "seller_risk_stream", *job_sets(servers)) == 0
    assert run_cli(lake_root, *check) == 0

    lake = Lakehouse(spark, str(lake_root))
    valid = [json.loads(v) for _, v, kind in messages if kind == "valid"]
    expected_events = spark.createDataFrame(
        [{**e, "event_ts": dt.datetime.fromisoformat(e["event_ts"])} for e in valid],
        EVENT_SCHEMA,
    )
    bronze = lake.read("bronze.seller_events")
    assert bronze.count() == len(valid) == bronze.select("event_id").distinct().count()
    assert {r.event_id for r in bronze.select("event_id").collect()} == {
        e["event_id"] for e in valid
    }

    rejected = {(p, o) for (p, o), kind in positions.items() if kind in ("malformed", "late")}
    quarantine = lake.read("quarantine.seller_events")
    assert {(r.partition, r.offset) for r in quarantine.collect()} == rejected
    assert quarantine.count() == len(rejected)
    late = {(p, o) for (p, o), kind in positions.items() if kind == "late"}
    assert {(r.partition, r.offset) for r in quarantine.where("reason = 'late'").collect()} == late

    params = SellerStreamParams()
    expected = with_spike_flag(
        window_features(expected_events, params.window_minutes),
        None,
        params.spike_factor,
        params.spike_min_orders,
    )
    gold = lake.read("gold.seller_risk_realtime")
    assert_df_equality(
        gold.select(*expected.columns), expected, ignore_row_order=True, ignore_nullable=True
    )

    progress = lake.read("ops.stream_progress")
    totals = progress.agg(*[F.sum(c).alias(c) for c in ("rows_read", "rows_written", "rows_duplicate", "rows_quarantined")]).first()  # fmt: skip
    assert totals.rows_read == len(messages)
    assert totals.rows_read == totals.rows_written + totals.rows_duplicate + totals.rows_quarantined
    assert progress.where("consumer_lag IS NOT NULL").count() > 0
    # The alarm raised after the kills (messages waited at the broker), then cleared.
    alerts = lake.read("ops.alerts").where("source = 'health'").orderBy("raised_at").collect()
    assert [(a.severity, a.attributes["state"]) for a in alerts] == [
        ("error", "breach"),
        ("info", "clear"),
    ]
    assert int(alerts[0].attributes["lag_events"]) > 0
    assert alerts[1].attributes["lag_events"] == "0"
