"""The floor of a stream micro-batch: one batch's Delta work on a 1M-pair book, timed alone.

    python benchmarks/bench_stream_floor.py --out benchmarks/results/stream_batch_floor.json

Builds `gold.inventory_book_current`'s shape with 5,150 locations x 200 SKUs
(1,030,000 pairs) and a bronze table of 1,030,000 event ids, then runs
`--batches` batches of `--changes` changed pairs (the first is a warm-up and is
dropped), each step on its own with nothing beside it:

- `book_merge`: inventory_stream's guarded MERGE of the batch's changes into the book;
- `alert_read`: the read of the pairs that MERGE moved and left negative;
- `dedup_lookup`: the batch's event ids looked up in bronze (a broadcast semi join,
  then an anti join), the cheapest form of the bronze dedup.

Each setting (deletion vectors on or off, shuffle partitions) runs in a child
process of its own. The JSON holds the median, minimum and maximum seconds per step
and the MERGE's own operation metrics (scan and rewrite time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VECTORS = "spark.databricks.delta.properties.defaults.enableDeletionVectors"
PAIRS = 5150 * 200


def measure(root: str, vectors: bool, partitions: int, batches: int, changes: int) -> dict:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from jobs.inventory_stream import BOOK_GUARD, BOOK_SET, OUTPUT
    from lakecore.config import JobConfig, load_run_config
    from lakecore.io import Lakehouse
    from lakecore.session import get_spark

    overrides = ["env.spark.master=local[2]", f"env.lakehouse.root={root}"]
    spark = get_spark(load_run_config("query", JobConfig, overrides=overrides), "stream_floor")
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    spark.conf.set(VECTORS, str(vectors).lower())
    lake = Lakehouse(spark, root)
    loc = F.format_string("ST%04d", F.col("id") % 5150)
    sku = F.format_string("SKU%05d", (F.col("id") / 5150).cast("int"))
    book = spark.range(PAIRS).select(
        loc.alias("location_id"),
        sku.alias("sku"),
        *[F.lit(v).cast("long").alias(c) for c, v in (("on_hand", 10), ("reserved", 0))],
        *[F.lit(v).cast("long").alias(c) for c, v in (("available", 10), ("events", 1))],
        F.current_timestamp().alias("last_event_ts"),
        F.lit("bench").alias("last_source"),
        F.lit(0).cast("long").alias("last_batch_id"),
    )
    lake.overwrite(book.repartition(4), OUTPUT)
    bronze = spark.range(PAIRS).select(
        F.concat(F.lit("e"), F.col("id").cast("string")).alias("event_id"),
        F.lit("bench").alias("ingest_source"),
        F.lit(0).cast("long").alias("ingest_batch"),
    )
    lake.overwrite(bronze.repartition(4), "bronze.events")

    from transforms.inventory.ledger import PAIR
    from transforms.inventory.stream import negative_stock_alerts

    seconds: dict[str, list[float]] = {"book_merge": [], "alert_read": [], "dedup_lookup": []}
    for b in range(1, batches + 1):
        batch = (
            spark.range(changes)
            .select(
                F.format_string("ST%04d", (F.rand(b) * 5150).cast("int")).alias("location_id"),
                F.format_string("SKU%05d", (F.rand(b + 100) * 200).cast("int")).alias("sku"),
                F.lit(-11).cast("long").alias("on_hand"),
                F.lit(0).cast("long").alias("reserved"),
                F.lit(-11).cast("long").alias("available"),
                F.lit(1).cast("long").alias("events"),
                F.current_timestamp().alias("last_event_ts"),
                F.lit("bench").alias("last_source"),
                F.lit(b).cast("long").alias("last_batch_id"),
            )
            .dropDuplicates(PAIR)
            .persist()
        )
        batch.count()
        ids = (
            spark.range(changes)
            .select(F.concat(F.lit("e"), (F.rand(b) * 2 * PAIRS).cast("long").cast("string")))
            .toDF("event_id")
            .persist()
        )
        ids.count()
        t0 = time.monotonic()
        lake.accumulate(batch, OUTPUT, PAIR, BOOK_SET, BOOK_GUARD, count_rows=False)
        t1 = time.monotonic()
        moved = lake.read(OUTPUT).where(F.col("last_batch_id") == b)
        negative_stock_alerts(moved).count()
        t2 = time.monotonic()
        seen = (
            lake.read("bronze.events")
            .select("event_id")
            .join(F.broadcast(ids), "event_id", "left_semi")
        )
        ids.join(F.broadcast(seen), "event_id", "left_anti").count()
        t3 = time.monotonic()
        for name, value in zip(seconds, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            seconds[name].append(value)
        print(f"batch {b}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in seconds.items()))
        batch.unpersist()
        ids.unpersist()
    metrics = DeltaTable.forPath(spark, lake.path(OUTPUT)).history(1).first()["operationMetrics"]
    spark.stop()
    out = {
        name: {
            "median_s": round(statistics.median(v[1:]), 2),
            "min_s": round(min(v[1:]), 2),
            "max_s": round(max(v[1:]), 2),
        }
        for name, v in seconds.items()
    }
    out["last_merge_metrics_ms"] = {k: int(v) for k, v in metrics.items() if k.endswith("Ms")}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--batches", type=int, default=6, help="batches per setting (first dropped)")
    p.add_argument("--changes", type=int, default=25_000, help="changes per batch")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/stream_batch_floor.json")
    p.add_argument("--child", nargs=2, metavar=("VECTORS", "PARTITIONS"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        root = tempfile.mkdtemp(prefix="stream-floor-")
        try:
            vectors, partitions = args.child[0] == "true", int(args.child[1])
            result = measure(root, vectors, partitions, args.batches, args.changes)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print("RESULT " + json.dumps(result))
        return 0
    settings = {
        "deletion vectors, 4 shuffle partitions (inventory_stream)": ("true", "4"),
        "no deletion vectors, 4 shuffle partitions": ("false", "4"),
        "deletion vectors, 2 shuffle partitions": ("true", "2"),
    }
    results = {}
    for name, (vectors, partitions) in settings.items():
        cmd = [sys.executable, __file__, "--batches", str(args.batches), "--changes"]
        cmd += [str(args.changes), "--child", vectors, partitions]
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
        line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT "))
        results[name] = json.loads(line.removeprefix("RESULT "))
        print(name, results[name], flush=True)
    doc = {
        "benchmark": "stream_batch_floor",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "pairs": PAIRS,
        "changes_per_batch": args.changes,
        "batches_kept": args.batches - 1,
        "results": results,
    }
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
