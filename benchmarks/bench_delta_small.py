"""Fixed cost of small Delta operations on the local session, with and without deletion vectors.

    python benchmarks/bench_delta_small.py --out benchmarks/results/delta_small_ops.json

Each operation runs `--repeat` times on a 2,000-row table (the first run is a
warm-up and is dropped); the JSON holds the median and minimum seconds per
operation, once with Spark's defaults for new tables and once with
`delta.enableDeletionVectors` on new tables (what `inventory_stream` sets).
Each setting runs in a child process of its own, so neither warms the other's JVM.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

VECTORS = "spark.databricks.delta.properties.defaults.enableDeletionVectors"


def measure(root: str, vectors: bool, repeat: int) -> dict:
    from lakecore.config import JobConfig, load_run_config
    from lakecore.io import Lakehouse
    from lakecore.session import get_spark

    overrides = ["env.spark.master=local[2]", f"env.lakehouse.root={root}"]
    spark = get_spark(load_run_config("query", JobConfig, overrides=overrides), "delta_small")
    spark.conf.set("spark.sql.shuffle.partitions", "2")
    spark.conf.set(VECTORS, str(vectors).lower())
    lake = Lakehouse(spark, root)
    df = spark.range(2000).selectExpr("id", "cast(id % 7 as string) AS k", "rand(1) AS v")
    ops = {
        "overwrite": lambda i: lake.overwrite(df, f"bronze.t{i}"),
        "append": lambda i: lake.append(df, "bronze.t0"),
        "merge": lambda i: lake.merge(df.withColumn("v", df.v + i), "bronze.t1", keys=["id"]),
        "count": lambda i: lake.read("bronze.t0").count(),
    }
    out = {}
    for name, op in ops.items():
        seconds = []
        for i in range(repeat + 1):
            t0 = time.monotonic()
            op(i)
            seconds.append(time.monotonic() - t0)
        kept = seconds[1:]
        out[name] = {"median_s": round(statistics.median(kept), 3), "min_s": round(min(kept), 3)}
    spark.stop()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--child", choices=("defaults", "vectors"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        root = tempfile.mkdtemp(prefix="delta-small-")
        try:
            result = measure(root, a.child == "vectors", a.repeat)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        a.out.write_text(json.dumps(result))
        return 0
    results = {}
    for setting in ("defaults", "vectors"):
        part = a.out.with_suffix(f".{setting}.part")
        cmd = [sys.executable, __file__, "--out", str(part), "--repeat", str(a.repeat)]
        subprocess.run([*cmd, "--child", setting], check=True)
        results[setting] = json.loads(part.read_text())
        part.unlink()
    record = {
        "measured_at": time.strftime("%Y-%m-%d %H:%M"),
        "rows": 2000,
        "repeat": a.repeat,
        "master": "local[2]",
        "results": results,
    }
    a.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
