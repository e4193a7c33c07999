"""Seller-risk benchmark: generate N orders, run the pipeline, time the job and its rollup.

    python benchmarks/bench_seller_risk.py --orders 10000000 --workdir /tmp/bench-sr

Steps (each a real `python -m jobs` run, timed): generate_demo_data, ingest demo,
conform, seller_risk_features for the last day. Then the core daily per-seller
rollup (orders, items, GMV, freight, cancellations per seller and day) runs as
the same SQL text on Spark and on DuckDB over the same Parquet files (the
current files of the silver Delta tables), best of --repeat runs each, and the
two results are compared. Results: benchmarks/results/seller_risk_<orders>.json.
DuckDB is a benchmark-only dependency (`pip install -e ".[bench]"`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

ROLLUP_SQL = """
SELECT i.seller_id,
       CAST(o.purchased_at AS DATE)                            AS day,
       COUNT(DISTINCT i.order_id)                              AS orders,
       COUNT(*)                                                AS items,
       SUM(i.price)                                            AS gmv,
       SUM(i.freight_value)                                    AS freight,
       SUM(CASE WHEN o.status = 'canceled' THEN 1 ELSE 0 END)  AS canceled_items
FROM order_items i
JOIN orders o ON i.order_id = o.order_id
GROUP BY i.seller_id, CAST(o.purchased_at AS DATE)
"""


def run_job(workdir: Path, *args: str, master: str, driver_memory: str) -> float:
    sets = [
        f"--set=spark.driver_memory={driver_memory}",
        f"--set=env.lakehouse.root={workdir / 'lake'}",
        f"--set=env.lakehouse.landing={workdir / 'landing'}",
        f"--set=env.spark.master={master}",
    ]
    cmd = [sys.executable, "-m", "jobs", "run", *args, *sets]
    print("$", " ".join(cmd), flush=True)
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, check=True)
    return round(time.monotonic() - t0, 1)


def rollup_times(workdir: Path, repeat: int, master: str, driver_memory: str) -> dict[str, object]:
    import duckdb

    from lakecore.config import JobConfig, load_run_config
    from lakecore.io import Lakehouse
    from lakecore.session import get_spark

    cfg = load_run_config(
        "query",
        JobConfig,
        overrides=[
            f"env.lakehouse.root={workdir / 'lake'}",
            f"env.spark.master={master}",
            f"spark.driver_memory={driver_memory}",
            "spark.shuffle_partitions=8",
        ],
    )
    spark = get_spark(cfg, "bench_rollup")
    lake = Lakehouse(spark, cfg.lake_root)
    files = {t: lake.read(f"silver.{t}").inputFiles() for t in ("order_items", "orders")}
    for table, paths in files.items():
        spark.read.parquet(*paths).createOrReplaceTempView(table)

    def spark_once() -> tuple[float, tuple]:
        t0 = time.monotonic()
        row = spark.sql(f"SELECT COUNT(*), SUM(gmv), SUM(items) FROM ({ROLLUP_SQL})").first()
        return time.monotonic() - t0, (int(row[0]), round(float(row[1]), 2), int(row[2]))

    con = duckdb.connect()
    con.execute(f"SET threads TO {os.cpu_count()}")
    for table, paths in files.items():
        local = [p.removeprefix("file:") for p in paths]
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({local!r})")

    def duck_once() -> tuple[float, tuple]:
        t0 = time.monotonic()
        row = con.execute(f"SELECT COUNT(*), SUM(gmv), SUM(items) FROM ({ROLLUP_SQL})").fetchone()
        return time.monotonic() - t0, (int(row[0]), round(float(row[1]), 2), int(row[2]))

    spark_runs = [spark_once() for _ in range(repeat)]
    duck_runs = [duck_once() for _ in range(repeat)]
    spark_best, duck_best = min(t for t, _ in spark_runs), min(t for t, _ in duck_runs)
    return {
        "sql": " ".join(ROLLUP_SQL.split()),
        "spark_seconds": [round(t, 2) for t, _ in spark_runs],
        "duckdb_seconds": [round(t, 2) for t, _ in duck_runs],
        "spark_best": round(spark_best, 2),
        "duckdb_best": round(duck_best, 2),
        "spark_over_duckdb": round(spark_best / duck_best, 2),
        "spark_result": spark_runs[0][1],
        "duckdb_result": duck_runs[0][1],
        "results_equal": spark_runs[0][1] == duck_runs[0][1],
        "input_files": {t: len(p) for t, p in files.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--sellers", type=int, default=None, help="default: orders / 1000, >= 200")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench-seller-risk"))
    ap.add_argument("--master", default="local[*]")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-pipeline", action="store_true", help="reuse the lake in --workdir")
    ap.add_argument("--driver-memory", default="8g", help="local mode: the driver is the executor")
    ap.add_argument(
        "--gen-set",
        action="append",
        default=[],
        help="extra generate_demo_data key=value (e.g. views_per_purchase=1)",
    )
    args = ap.parse_args()
    sellers = args.sellers or max(200, args.orders // 1000)
    files = max(2, args.orders // 1_000_000)
    result: dict[str, object] = {
        "benchmark": "seller_risk",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "orders": args.orders,
        "sellers": sellers,
        "master": args.master,
    }
    if not args.skip_pipeline:
        scale = [
            f"--set=generate_demo_data.orders={args.orders}",
            f"--set=generate_demo_data.sellers={sellers}",
            f"--set=generate_demo_data.customers={max(5000, args.orders // 4)}",
            f"--set=generate_demo_data.products={max(2000, args.orders // 10)}",
            f"--set=generate_demo_data.files_per_table={files}",
            *[f"--set=generate_demo_data.{kv}" for kv in args.gen_set],
        ]
        steps = {
            "generate_demo_data": ("generate_demo_data", *scale),
            "ingest": ("ingest", "--source", "demo"),
            "conform": ("conform",),
            "seller_risk_features": ("seller_risk_features",),
        }
        result["job_seconds"] = {
            name: run_job(args.workdir, *argv, master=args.master, driver_memory=args.driver_memory)
            for name, argv in steps.items()
        }
    result["driver_memory"] = args.driver_memory
    result["generator_overrides"] = args.gen_set
    result["rollup"] = rollup_times(args.workdir, args.repeat, args.master, args.driver_memory)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"seller_risk_{args.orders}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
