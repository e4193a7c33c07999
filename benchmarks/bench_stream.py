"""Streaming benchmark: Kafka -> gold throughput and end-to-end latency, for either stream job.

    python benchmarks/bench_stream.py --events 2000000 --rate 5000 --duration 120
    python benchmarks/bench_stream.py --job seller_risk_stream --events 1000000

Starts a real single-node Kafka broker (KRaft, 127.0.0.1) and runs the stream
job in a child process, exactly as `python -m jobs run` would, on a topic of
`--partitions` partitions: for `inventory_stream` (the default) ledger events
over 5,150 locations x `--skus` SKUs into gold.inventory_book_current; for
`seller_risk_stream` seller events (orders, cancellations, refunds,
chargebacks, reviews, listings) over `--sellers` sellers into
gold.seller_risk_realtime.

1. Throughput: `--events` events are produced up front (the backlog); the job
   drains them with AvailableNow and `--max-offsets` per micro-batch. Sustained
   throughput = events / (time from the first batch's start to the last batch's
   commit), from the job's own `ops.stream_progress` rows, so JVM start-up is
   not counted.
2. Latency: a producer sends `--rate` events/s for `--duration` s while the job
   runs with a processing-time trigger. An event's end-to-end latency = the
   time its batch committed the gold table (`output_at`; `processed_at`, the end
   of the batch's bookkeeping, on lakes written before it was recorded) - the
   time it was produced (its Kafka timestamp). p50/p95/max over all events, and
   the largest consumer lag recorded (the jobs note it at most once a minute). `settled`: the same figures for
   events produced after the first `--settle` seconds, once the restarted job's
   first batches (state-store load, JIT warm-up) are behind it.

Each phase's median and max seconds per batch (the jobs' PhaseTimer, kept in the
progress rows' `phases`) go with each phase of the run.

Results: benchmarks/results/<job>.json unless --out (and printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
WARMUP = 45.0
MOVES = ["SALE"] * 6 + ["RETURN", "RESTOCK", "RESERVE", "RELEASE", "TRANSFER_IN", "TRANSFER_OUT"]
# A marketplace's mix: mostly orders, some reviews and listings, few after-sale cases.
SELLER_EVENTS = (
    ["order_placed"] * 12
    + ["review_posted"] * 3
    + ["listing_created"] * 2
    + ["order_cancelled", "refund", "chargeback"]
)


def locations() -> list[str]:
    return [f"ST{i:04d}" for i in range(5000)] + [f"DC{i:03d}" for i in range(150)]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def inventory_event(rng: random.Random, i: int, locs: list[str], args, prefix: str) -> tuple:
    loc = rng.choice(locs)
    etype = rng.choice(MOVES)
    value = json.dumps(
        {
            "event_id": f"{prefix}{i}",
            "location_id": loc,
            "sku": f"SKU{rng.randrange(args.skus):05d}",
            "event_type": etype,
            "quantity": rng.randint(1, 5),
            "source": "POS",
            "event_ts": now_iso(),
        }
    )
    return loc, value


def seller_event(rng: random.Random, i: int, sellers: list[str], args, prefix: str) -> tuple:
    seller = rng.choice(sellers)
    etype = rng.choice(SELLER_EVENTS)
    event = {
        "event_id": f"{prefix}{i}",
        "event_type": etype,
        "seller_id": seller,
        "event_ts": now_iso(),
        "order_id": f"o{rng.randrange(10**9)}",
        "buyer_id": f"b{rng.randrange(10**6)}",
    }
    if etype in ("order_placed", "refund", "chargeback"):
        event["amount"] = round(rng.uniform(5, 300), 2)
    if etype == "review_posted":
        event["score"] = rng.randint(1, 5)
    return seller, json.dumps(event)


# What differs between the two stream jobs: keys, events, the bronze table with received_at.
JOBS = {
    "inventory_stream": {
        "topics": ("inventory_backlog", "inventory_steady"),
        "bronze": "bronze.inventory_stream_events",
        "keys": lambda args: locations(),
        "event": inventory_event,
    },
    "seller_risk_stream": {
        "topics": ("seller_backlog", "seller_steady"),
        "bronze": "bronze.seller_events",
        "keys": lambda args: [f"S{i:05d}" for i in range(args.sellers)],
        "event": seller_event,
    },
}


def create_topic(servers: str, topic: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": servers})
    for future in admin.create_topics([NewTopic(topic, num_partitions=partitions)]).values():
        future.result(timeout=30)


def producer(servers: str):
    from confluent_kafka import Producer

    return Producer(
        {
            "bootstrap.servers": servers,
            "linger.ms": 20,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 1000000,
            "compression.type": "lz4",
        }
    )


def produce_backlog(servers: str, topic: str, n: int, args) -> float:
    """Produce n events as fast as the client can; returns events/s."""
    job = JOBS[args.job]
    rng, keys, p = random.Random(1), job["keys"](args), producer(servers)
    t0 = time.monotonic()
    for i in range(n):
        key, value = job["event"](rng, i, keys, args, "b")
        while True:
            try:
                p.produce(topic, key=key, value=value)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
    assert p.flush(120) == 0
    return n / (time.monotonic() - t0)


def produce_steady(servers: str, topic: str, args, stop: threading.Event):
    """`args.rate` events/s in 100 ms ticks for `args.duration` s; returns the number produced."""
    job = JOBS[args.job]
    rng, keys, p = random.Random(2), job["keys"](args), producer(servers)
    sent, t0, tick = 0, time.monotonic(), 0.1
    while not stop.is_set() and time.monotonic() - t0 < args.duration:
        due = int((time.monotonic() - t0) * args.rate)
        for i in range(sent, due):
            key, value = job["event"](rng, i, keys, args, "s")
            p.produce(topic, key=key, value=value)
        sent = max(sent, due)
        p.poll(0)
        time.sleep(tick)
    p.flush(60)
    return sent


def job_command(lake: Path, servers: str, topic: str, args, *extra: str) -> list[str]:
    name = args.job
    sets = {
        "env.lakehouse.root": str(lake),
        "env.spark.master": args.master,
        "spark.driver_memory": args.driver_memory,
        f"{name}.source.kind": "kafka",
        f"{name}.source.bootstrap_servers": servers,
        f"{name}.source.topic": topic,
        f"{name}.source.max_offsets_per_trigger": str(args.max_offsets),
        f"{name}.processing_time": args.trigger,
    }
    return [
        sys.executable,
        "-m",
        "jobs",
        "run",
        name,
        *[f"--set={k}={v}" for k, v in sets.items()],
        *[f"--set={kv}" for kv in args.job_set],
        *extra,
    ]


def topics(args) -> tuple[str, str]:
    """(backlog topic, steady topic): one topic unless --separate-topics."""
    backlog, steady = JOBS[args.job]["topics"]
    return (backlog, steady) if args.separate_topics else (f"{args.job}_events",) * 2


def stats(lake: Path, args, split_at: float | None = None) -> tuple[dict, dict]:
    """(throughput figures, latency figures) from the lake's progress and bronze tables."""
    from pyspark.sql import functions as F

    from lakecore.config import JobConfig, load_run_config
    from lakecore.io import Lakehouse
    from lakecore.session import get_spark

    cfg = load_run_config("query", JobConfig, overrides=[f"env.lakehouse.root={lake}"])
    spark = get_spark(cfg, "bench_stream_stats")
    lakehouse = Lakehouse(spark, cfg.lake_root)
    progress = lakehouse.read("ops.stream_progress").where(F.col("rows_read") > 0)
    backlog_topic, steady_topic = topics(args)
    out = {}
    # Both phases on one topic (one checkpoint): the backlog's batches are those that
    # committed before the backlog run ended.
    parts = {
        name: progress.where(F.col("source_id") == f"kafka-{topic}").orderBy("batch_id").collect()
        for name, topic in zip(JOBS[args.job]["topics"], (backlog_topic, steady_topic), strict=True)
    }
    backlog_name, steady_name = JOBS[args.job]["topics"]
    if backlog_topic == steady_topic and split_at is not None:
        every = parts[backlog_name]
        parts[backlog_name] = [r for r in every if r.processed_at.timestamp() <= split_at]
        parts[steady_name] = [r for r in every if r.processed_at.timestamp() > split_at]
    for name, rows in parts.items():
        if not rows:
            continue
        first_start = rows[0].processed_at.timestamp() - rows[0].batch_seconds
        span = rows[-1].processed_at.timestamp() - first_start
        batch_s = sorted(r.batch_seconds for r in rows)
        phases: dict[str, list[float]] = {}
        for r in rows:
            for phase, sec in json.loads(getattr(r, "phases", None) or "{}").items():
                phases.setdefault(phase, []).append(sec)
        out[name] = {
            "topic": backlog_topic if name == backlog_name else steady_topic,
            "batches": len(rows),
            "events": sum(r.rows_read for r in rows),
            "seconds": round(span, 1),
            "events_per_second": round(sum(r.rows_read for r in rows) / span),
            "batch_seconds_median": batch_s[len(batch_s) // 2],
            "batch_seconds_max": batch_s[-1],
            "max_consumer_lag": max((r.consumer_lag or 0) for r in rows),
            "phase_seconds_median_max": {
                phase: [sorted(v)[len(v) // 2], max(v)] for phase, v in phases.items()
            },
        }
    latency = {}
    if steady_name in out:
        # Steady events only (ids "s<n>"; the backlog's are "b<n>").
        bronze = lakehouse.read(JOBS[args.job]["bronze"]).where(
            (F.col("topic") == steady_topic) & F.col("event_id").startswith("s")
        )
        committed = (
            F.coalesce("output_at", "processed_at")
            if "output_at" in progress.columns
            else F.col("processed_at")
        )
        batches = progress.where(F.col("source_id") == f"kafka-{steady_topic}").select(
            F.col("batch_id").alias("ingest_batch"), committed.alias("committed_at")
        )
        seconds = F.unix_micros("committed_at") / 1e6 - F.unix_micros("received_at") / 1e6
        timed = bronze.join(batches, "ingest_batch").select(
            seconds.alias("s"), F.unix_micros("received_at").alias("at")
        )
        first_us = timed.agg(F.min("at")).first()[0]

        def figures(rows):
            q = rows.agg(
                F.percentile_approx("s", [0.5, 0.95], 10000).alias("p"),
                F.max("s").alias("max"),
                F.count("*").alias("n"),
            ).first()
            return {
                "events": q["n"],
                "p50_seconds": round(q["p"][0], 2),
                "p95_seconds": round(q["p"][1], 2),
                "max_seconds": round(q["max"], 2),
            }

        latency = figures(timed)
        if args.settle:
            # Events produced after the first --settle seconds: the stream's steady state,
            # without the restart's first batches (state store load, JIT warm-up).
            settled = timed.where(F.col("at") >= first_us + int(args.settle * 1e6))
            latency["settled"] = {"after_seconds": args.settle, **figures(settled)}
    spark.stop()
    return out, latency


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--job", choices=sorted(JOBS), default="inventory_stream")
    ap.add_argument("--events", type=int, default=2_000_000, help="backlog size (0: skip)")
    ap.add_argument("--rate", type=int, default=5000, help="steady events/s (0: skip)")
    ap.add_argument("--duration", type=float, default=120.0, help="steady phase seconds")
    ap.add_argument(
        "--drain", type=float, default=120.0, help="seconds the job runs on after the producer"
    )
    ap.add_argument(
        "--settle",
        type=float,
        default=30.0,
        help="also report latency of events produced after this many steady seconds (0: no)",
    )
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--skus", type=int, default=200, help="SKUs per location drawn from")
    ap.add_argument("--sellers", type=int, default=5000, help="seller_risk_stream: sellers")
    ap.add_argument("--max-offsets", type=int, default=1_000_000, help="per micro-batch")
    ap.add_argument("--trigger", default="0 seconds", help="steady phase processing time")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument(
        "--separate-topics",
        action="store_true",
        help="steady phase on its own topic and checkpoint (default: it continues the "
        "backlog's stream, as a live stream does after catching up)",
    )
    ap.add_argument(
        "--set",
        dest="job_set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for both job runs, e.g. spark.shuffle_partitions=2 (repeatable)",
    )
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help="default: results/<job>.json")
    args = ap.parse_args()
    args.out = args.out or RESULTS / f"{args.job}.json"
    backlog_topic, steady_topic = topics(args)

    from devtools.kafka_broker import KafkaBroker

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-stream-"))
    lake = workdir / "lake"
    broker = KafkaBroker(workdir / "kafka")
    servers = broker.start(owner_pid=os.getpid())
    result: dict = {
        "benchmark": args.job,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_average_at_start": os.getloadavg(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    try:
        if args.events:
            create_topic(servers, backlog_topic, args.partitions)
            result["producer_events_per_second"] = round(
                produce_backlog(servers, backlog_topic, args.events, args)
            )
            print(f"produced {args.events} events", flush=True)
            t0 = time.monotonic()
            subprocess.run(job_command(lake, servers, backlog_topic, args), cwd=ROOT, check=True)
            result["backlog_job_wall_seconds"] = round(time.monotonic() - t0, 1)
        split_at = time.time()
        if args.rate:
            if steady_topic != backlog_topic or not args.events:
                create_topic(servers, steady_topic, args.partitions)
            cmd = job_command(
                lake,
                servers,
                steady_topic,
                args,
                f"--set={args.job}.trigger=processing_time",
                f"--timeout={WARMUP + args.duration + args.drain}",
            )
            job = subprocess.Popen(cmd, cwd=ROOT)
            time.sleep(WARMUP)  # JVM start and the first (empty) batch
            stop = threading.Event()
            result["steady_produced"] = produce_steady(servers, steady_topic, args, stop)
            job.wait()
        throughput, latency = stats(lake, args, split_at)
        result["throughput"] = throughput
        result["latency"] = latency
        result["load_average_at_end"] = os.getloadavg()
    finally:
        broker.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
