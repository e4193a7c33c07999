"""seller_risk_stream from a real Kafka broker, SIGKILLed mid-batch twice: nothing lost or doubled.

Events go to a 3-partition topic with duplicates, malformed messages and late
events mixed in. The job runs in a child process (its own JVM) with a
processing-time trigger; it is killed (the whole process group, SIGKILL) right
after its first batch created gold but before it wrote bronze, then right after a batch
wrote bronze (its last write before the progress row), then drained with
AvailableNow. The gold table must equal the windows counted in plain Python over
the valid events, with the spike flag against a real baseline table (the hot
seller's daily snapshot, point in time), bronze must hold each valid event once,
and quarantine exactly the malformed and late messages.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs.seller_risk_stream import SellerStreamParams
from lakecore.io import Lakehouse
from tests.conftest import run_cli
from tests.stream_helpers import child_command, kafka_sets, produce, run_until_killed

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


# The hot seller's orders in the 30 days before: 1,267 a day, 4.4 per 5 minutes; 3x that
# is about its rate in this test, so some of its windows spike and others do not.
HOT_ORDERS_30D = 38_000
COUNTED = ("order_placed", "order_cancelled", "refund", "chargeback", "review_posted",
           "listing_created")  # fmt: skip


def expected_windows(
    events: list[dict], minutes: list[int], factor: float, min_orders: int, orders_30d: dict
) -> dict:
    """(seller, window minutes, window start) -> counts per type, GMV cents, events, spike
    and the baseline, computed without Spark (windows align to the epoch)."""
    out: dict = {}
    for e in events:
        ts = dt.datetime.fromisoformat(e["event_ts"].replace("Z", "+00:00"))
        for m in minutes:
            start = int(ts.timestamp()) // (m * 60) * (m * 60)
            key = (e["seller_id"], m, dt.datetime.fromtimestamp(start, dt.UTC))
            row = out.setdefault(key, [0] * 8)
            row[COUNTED.index(e["event_type"])] += 1
            if e["event_type"] == "order_placed":
                row[6] += round(e["amount"] * 100)
            row[7] += 1
    result = {}
    for (seller, m, start), row in out.items():
        base = orders_30d.get(seller)
        expected = None if base is None else base / 30 * m / 1440
        spike = row[0] >= min_orders and (expected is None or row[0] > factor * expected)
        result[(seller, m, start)] = (*row, spike, None if base is None else round(expected, 6))
    return result


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
    # The spike flag's baseline: the hot seller's daily snapshots. Only the one dated
    # before the events' day may count; the same day's (1 order in 30 days, which
    # would flag every window) must stay invisible.
    baseline = [("hot", dt.date(2025, 6, 29), HOT_ORDERS_30D), ("hot", START.date(), 1)]
    Lakehouse(spark, str(lake_root)).overwrite(
        spark.createDataFrame(baseline, "seller_id string, as_of_date date, orders_30d long"),
        "gold.seller_risk_features",
    )

    # Kill 1: the first batch has created gold (the replay must not add its windows
    # again); bronze is written at the same time, so it may or may not be there yet.
    # Kill 2: a batch wrote bronze (and gold, or not yet).
    run_until_killed(job_command(lake_root, servers, "--set=seller_risk_stream.trigger=processing_time"),
                     tmp_path / "run1.log", "wrote gold.seller_risk_realtime", 1, checkpoint)  # fmt: skip
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

    # Gold against plain Python: every window of every valid event, counted here.
    params = SellerStreamParams()
    want = expected_windows(valid, params.window_minutes, params.spike_factor,
                            params.spike_min_orders, {"hot": HOT_ORDERS_30D})  # fmt: skip
    gold = {
        (r.seller_id, r.window_minutes, r.window_start.replace(tzinfo=dt.UTC)): (
            r.orders, r.cancellations, r.refunds, r.chargebacks, r.reviews, r.listings,
            int(r.gmv * 100), r.events, r.spike,
            None if r.baseline_orders is None else round(r.baseline_orders, 6),
        )
        for r in lake.read("gold.seller_risk_realtime").collect()
    }  # fmt: skip
    assert gold == want
    spikes = [v[8] for k, v in want.items() if k[0] == "hot"]
    assert any(spikes) and not all(spikes)  # the baseline decides, both ways

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
