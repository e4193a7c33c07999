"""Real-time alerts benchmark: event-to-alert latency of a real-time alert job.

    python benchmarks/bench_rt_alerts.py --rate 5000 --duration 60 [--job inventory]

Starts a real single-node Kafka broker (127.0.0.1), writes the job's context in a
temporary lake and runs the job in a child process, as `lakehouse run` would, from
`--partitions` partitions of its topic to its alerts topic. A producer sends `--rate`
events/s for `--duration` s; `--hit-share` of them break one rule, the rest none.
- `--job seller` (`seller_risk_alerts`): a baseline `gold.seller_risk_features` for
  `--keys` sellers (average order value 50); hits are orders of 1,000 (over 5x the
  average: `order_over_5x_aov`), the rest orders of 20.
- `--job inventory` (`inventory_book_alerts`): a book `gold.inventory_book_current`
  of `--keys` pairs with 100 units available; hits are sales of 500 (`oversell`), the
  rest sales of 1.
An alert's latency = its Kafka timestamp (set when Spark's producer sent it) -
the event's Kafka timestamp (set when the benchmark's producer sent it), both on this
machine's clock. Reported: p50/p95/p99/max, alerts received against hits sent, and
duplicates (the same alert_id twice). `--warmup W` sends W seconds at the rate
first and reports their latencies apart (`latency_ms_with_warmup` includes them): a
stream that runs for days pays its start-up once; make `--duration` a multiple of the
job's batch duration so the measured part holds its share of batch boundaries.

Results: benchmarks/results/<job>_rt.json unless --out (and printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_stream import create_topic  # noqa: E402
from devtools.kafka_broker import KafkaBroker  # noqa: E402

OPEN_LAKE = """
from lakecore.job import RunOptions
from lakecore.runner import open_lake
lake = open_lake(RunOptions(overrides=("env.lakehouse.root={lake_root}", "env.lineage.enabled=false")))
"""
PROFILES = {
    "seller": {
        "job": "seller_risk_alerts",
        "topic": "seller_events",
        "alerts": "seller_risk_alerts",
        "rule": "order_over_5x_aov",
        "context": OPEN_LAKE
        + """
rows = [(f"s{{i}}", "2025-06-29", 300, 50.0, 80.0 if i % 10 == 0 else 10.0) for i in range({keys})]
df = lake.spark.createDataFrame(rows, "seller_id string, as_of_date string, orders_30d long, aov_30d double, risk_score double")
lake.overwrite(df.selectExpr("seller_id", "cast(as_of_date as date) as_of_date", "orders_30d", "aov_30d", "risk_score"), "gold.seller_risk_features")
""",
    },
    "inventory": {
        "job": "inventory_book_alerts",
        "topic": "inventory_events",
        "alerts": "inventory_book_alerts",
        "rule": "oversell",
        "context": OPEN_LAKE
        + """
rows = [(f"L{{i % 50}}", f"K{{i}}", 100, 0, 100, 1) for i in range({keys})]
df = lake.spark.createDataFrame(rows, "location_id string, sku string, on_hand long, reserved long, available long, events long")
lake.overwrite(df.selectExpr("*", "current_timestamp() AS last_event_ts"), "gold.inventory_book_current")
""",
    },
}


def write_context(lake_root: Path, profile: dict, keys: int) -> None:
    """The table the job joins (baseline or book), in a child JVM."""
    code = profile["context"].format(lake_root=lake_root, keys=keys)
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)


def make_event(job: str, n: int, keys: int, hit: bool, event_id: str | None = None) -> tuple:
    """(key, JSON value) of event `n`: one that breaks the profile's rule when `hit`."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    if job == "seller":
        seller = f"s{n % keys}"
        return seller, json.dumps({
            "event_id": event_id or f"e{n}", "event_type": "order_placed", "seller_id": seller,
            "event_ts": now, "amount": 1000.0 if hit else 20.0,
        })  # fmt: skip
    location = f"L{n % keys % 50}"
    return location, json.dumps({
        "event_id": event_id or f"e{n}", "location_id": location, "sku": f"K{n % keys}",
        "event_type": "SALE", "quantity": 500 if hit else 1, "source": "POS", "event_ts": now,
    })  # fmt: skip


def produce_steady(servers: str, args, started: threading.Event) -> dict:
    """`--rate` events/s for `--warmup` + `--duration` s in 10 ms ticks; returns counts
    of the measured part (the warm-up's events have ids `w<n>`, the others `e<n>`)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": servers, "linger.ms": 0})
    topic = PROFILES[args.job]["topic"]
    per_tick, hits, sent = max(1, args.rate // 100), 0, 0
    every = max(1, round(1 / args.hit_share)) if args.hit_share > 0 else 0
    t0 = time.monotonic()
    started.set()
    tick, n, warm = 0, 0, 0
    while time.monotonic() - t0 < args.warmup + args.duration:
        measured = time.monotonic() - t0 >= args.warmup
        for _ in range(per_tick):
            hit = every and n % every == 0
            key, value = make_event(
                args.job, n, args.keys, bool(hit), None if measured else f"w{n}"
            )
            producer.produce(topic, key=key, value=value)
            n += 1
            if measured:
                hits += bool(hit)
                sent += 1
            else:
                warm += 1
        producer.poll(0)
        tick += 1
        sleep = t0 + tick * 0.01 - time.monotonic()
        if sleep > 0:
            time.sleep(sleep)
    producer.flush(30)
    return {
        "sent": sent,
        "hits": hits,
        "warmup_sent": warm,
        "seconds": round(time.monotonic() - t0, 2),
    }


def consume(servers: str, topic: str, stop: threading.Event, out: list) -> None:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {"bootstrap.servers": servers, "group.id": "bench", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    while not stop.is_set():
        msg = consumer.poll(0.2)
        if msg is None or msg.error():
            continue
        alert = json.loads(msg.value())
        if alert["event_id"] == "warm":  # the warm-up's own alerts
            out.append(("warm", "warm", 0.0, True))
            continue
        sent = datetime.fromisoformat(alert["source"]["received_at"].replace("Z", "+00:00"))
        latency_ms = msg.timestamp()[1] - sent.timestamp() * 1000
        warmup = alert["event_id"].startswith("w")  # the --warmup phase's events
        out.append((alert["alert_id"], alert["rule"], latency_ms, warmup))
    consumer.close()


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 1) if s else float("nan")


def latency_figures(latencies: list[float]) -> dict:
    return {
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99),
        "max": round(max(latencies), 1) if latencies else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--job", choices=sorted(PROFILES), default="seller")
    parser.add_argument("--keys", type=int, default=500, help="sellers, or (location, sku) pairs")
    parser.add_argument("--hit-share", type=float, default=0.02)
    parser.add_argument("--cores", type=int, default=2, help="the job's local[N]")
    parser.add_argument("--batch-duration", default=None, help="e.g. '60 seconds' (YAML's default)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="seconds at --rate before the measured --duration (their alerts are reported "
        "apart: a stream that runs for days pays its start-up once)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    profile = PROFILES[args.job]
    job_name, topic, alerts_topic = profile["job"], profile["topic"], profile["alerts"]
    args.out = args.out or ROOT / f"benchmarks/results/{job_name}_rt.json"
    workdir = Path(tempfile.mkdtemp(prefix="bench-rt-"))
    broker = KafkaBroker(workdir / "kafka")
    servers = broker.start(owner_pid=os.getpid())
    result: dict = {
        "benchmark": f"{job_name} (real-time mode)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_average_at_start": os.getloadavg(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    try:
        create_topic(servers, topic, args.partitions)
        create_topic(servers, alerts_topic, 1)
        lake = workdir / "lake"
        write_context(lake, profile, args.keys)
        cmd = [
            sys.executable, "-m", "jobs", "run", job_name,
            f"--set=env.lakehouse.root={lake}", f"--set=env.spark.master=local[{args.cores}]",
            "--set=env.lineage.enabled=false",
            f"--set={job_name}.source.bootstrap_servers={servers}",
            f"--set={job_name}.source.starting_offsets=earliest",
            f"--timeout={args.warmup + args.duration + 60}",
        ]  # fmt: skip
        if args.batch_duration:
            cmd.append(f"--set={job_name}.batch_duration={args.batch_duration}")
        log = (workdir / "job.log").open("w")
        job = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        alerts: list = []
        stop = threading.Event()
        reader = threading.Thread(
            target=consume, args=(servers, alerts_topic, stop, alerts), daemon=True
        )
        reader.start()
        # Warm-up: the query planned and running (one alert through end to end).
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": servers})
        deadline = time.monotonic() + 180
        while not alerts and time.monotonic() < deadline and job.poll() is None:
            key, warm = make_event(args.job, 1, args.keys, hit=True, event_id="warm")
            p.produce(topic, key=key, value=warm)
            p.flush(5)
            time.sleep(2)
        if not alerts:
            raise RuntimeError(f"no alert in 180 s; job log: {workdir / 'job.log'}")
        alerts.clear()
        started = threading.Event()
        result["produced"] = produce_steady(servers, args, started)
        time.sleep(10)  # the last alerts
        stop.set()
        reader.join(10)
        job.terminate()
        job.wait(60)
        hits = [a for a in alerts if a[1] == profile["rule"]]
        measured = [a for a in hits if not a[3]]
        ids = [a[0] for a in measured]
        result["alerts"] = {
            "received": len(ids),
            "distinct": len(set(ids)),
            "duplicates": len(ids) - len(set(ids)),
            "expected": result["produced"]["hits"],
        }
        result["latency_ms"] = latency_figures([a[2] for a in measured])
        if args.warmup:
            result["latency_ms_with_warmup"] = latency_figures([a[2] for a in hits])
        result["load_average_at_end"] = os.getloadavg()
    finally:
        broker.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
