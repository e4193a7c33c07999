"""An always-on stream under `lakehouse stream`, stopped with SIGTERM; `lakehouse health`
raises its alarms while messages wait and clears them once the stream caught up.

The source is the Delta stand-in of the topic (Kafka's columns), so no broker is needed:
the Kafka path of `health` is exercised by the seller stream's kill test. Sized for the
suite: 250 messages, one supervised child JVM (~40 s), the rest in this session.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakecore.io import Lakehouse
from lakecore.streaming import KAFKA_SCHEMA, StreamSource, publish
from tests.conftest import TEST_ENV_OVERRIDES, TEST_JOB_OVERRIDES, run_cli

pytestmark = pytest.mark.integration

JOB = "seller_risk_stream"
T0 = dt.datetime(2025, 6, 30, 10, 0)
SOURCE = StreamSource(kind="delta", delta_table="stream.seller_events")


def publish_events(lake: Lakehouse, first: int, n: int) -> None:
    """Messages first..first+n-1: valid order events, one second apart (message time too)."""
    rows = []
    for i in range(first, first + n):
        ts = T0 + dt.timedelta(seconds=i)
        event = {
            "event_id": f"e{i:05d}",
            "event_type": "order_placed",
            "seller_id": f"s{i % 7}",
            "event_ts": ts.isoformat() + "Z",
            "amount": 10.0,
        }
        rows.append((f"s{i % 7}".encode(), json.dumps(event).encode(), "seller_events", 0, i, ts))
    publish(lake, lake.spark.createDataFrame(rows, KAFKA_SCHEMA), SOURCE)


def health(lake_root: Path, *extra: str) -> int:
    return run_cli(lake_root, "health", "--job", JOB, *extra)


def health_alerts(lake: Lakehouse) -> list[tuple[str, str]]:
    rows = lake.read("ops.alerts").where("source = 'health'").orderBy("raised_at").collect()
    return [(r.severity, r.attributes["state"]) for r in rows]


def wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    tail = path.read_text(errors="replace")[-3000:] if path.exists() else ""
    raise AssertionError(f"{text!r} not logged (exit {proc.poll()}):\n{tail}")


def test_supervised_stream_stops_cleanly_and_health_alarms_raise_and_clear(spark, tmp_path):
    lake_root = tmp_path / "lake"
    lake = Lakehouse(spark, str(lake_root))
    publish_events(lake, 0, 200)

    # Nothing processed yet while 200 messages wait: unhealthy, and said so in ops.alerts.
    assert health(lake_root) == 4
    assert health_alerts(lake) == [("error", "breach")]
    (alert,) = lake.read("ops.alerts").collect()
    assert alert.attributes["lag_events"] == "200" and "no batch ever" in alert.subject

    # Always on, under the supervisor; SIGTERM once a batch committed.
    lean = [f"--set={o}" for o in (*TEST_ENV_OVERRIDES, *TEST_JOB_OVERRIDES)]
    command = [sys.executable, "-m", "jobs", "stream", JOB, "--backoff", "1",
               f"--set=env.lakehouse.root={lake_root}", *lean,
               f"--set={JOB}.processing_time=1 second"]  # fmt: skip
    log = tmp_path / "stream.log"
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=os.getcwd())
    try:
        wait_for(log, f"{JOB} batch 0:", proc, timeout=240)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert "stopping (SIGTERM) after the batch in flight" in text
    run = lake.read("ops.job_runs").where(F.col("job") == JOB).orderBy("ended_at").collect()[-1]
    assert run.status == "SUCCEEDED"
    assert json.loads(run.table_counts)["_extra"]["stopped_by"] == "SIGTERM"
    assert lake.read("bronze.seller_events").count() == 200

    # Caught up: healthy again, and the recovery is recorded once.
    assert health(lake_root) == 0
    assert health_alerts(lake) == [("error", "breach"), ("info", "clear")]
    assert health(lake_root) == 0
    assert len(health_alerts(lake)) == 2

    # Stopped while load arrives: 50 messages wait (over a threshold of 10), 50 s behind.
    publish_events(lake, 200, 50)
    assert health(lake_root, f"--set={JOB}.alarms.max_lag_events=10") == 4
    last = lake.read("ops.alerts").orderBy(F.col("raised_at").desc()).first()
    assert "lag 50 messages > 10" in last.subject
    assert float(last.attributes["lag_seconds"]) == 50.0
    # Restarted (a drain here), it catches up and the alarm clears.
    assert run_cli(lake_root, "run", JOB) == 0
    assert health(lake_root, f"--set={JOB}.alarms.max_lag_events=10") == 0
    assert health_alerts(lake)[-1] == ("info", "clear")
