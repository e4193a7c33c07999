"""Benchmark: inventory_reconciliation on a demo ledger of ~10M events (5,000 stores, 150 DCs).

    .venv/bin/python benchmarks/bench_inventory.py                      # full scale (~10M events)
    .venv/bin/python benchmarks/bench_inventory.py --stores 50 --dcs 3 --skus 300 \
        --assortment 0.1                                                # small proof run

Steps (each a separate `python -m jobs` process, as in production): generate the
demo store network with the existing generator (inventory_days=7, the generator's
minimum window, reconciled in one run, so the run replays the whole ~10M-event
ledger), ingest the four inventory tables, conform, then time
`inventory_reconciliation`. Spark's event log of that run gives the heaviest
stage (largest summed task time) and its max / median task time. The result is
written to benchmarks/results/inventory_<stores>x<dcs>_<skus>.json.

Sizing: a store carries ~assortment x skus SKUs and a DC all of them, so with
0.02 a DC holds 50x a store's SKUs; events ~= skus x (103,000 x assortment + 1,950)
at 5,000 stores / 150 DCs over 7 days: skus=2500 gives ~10M.
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
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
INVENTORY_TABLES = "locations,items,inventory_events,inventory_counts"


def bench_conf(work: Path, memory: str) -> Path:
    """A copy of conf/ whose local env also writes Spark event logs (for task times)."""
    conf = work / "conf"
    shutil.rmtree(conf, ignore_errors=True)
    shutil.copytree(ROOT / "conf", conf)
    platform_file = conf / "platform.yaml"
    data = yaml.safe_load(platform_file.read_text())
    spark_conf = data["environments"]["local"]["spark"]["conf"]
    (work / "events").mkdir(parents=True, exist_ok=True)
    spark_conf.update(
        {
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": f"file://{work / 'events'}",
            # One plain JSON-lines file per application (Spark 4 defaults to zstd).
            "spark.eventLog.compress": "false",
            "spark.eventLog.rolling.enabled": "false",
            "spark.driver.memory": memory,
        }
    )
    platform_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return conf


def jobs(work: Path, conf: Path, *args: str) -> float:
    cmd = [sys.executable, "-m", "jobs", *args, "--conf-dir", str(conf),
           "--set", f"env.lakehouse.root={work / 'lake'}",
           "--set", f"env.lakehouse.landing={work / 'landing'}"]  # fmt: skip
    print("+", " ".join(cmd[2:4]), " ".join(args[2:]), flush=True)
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, check=True)
    return time.monotonic() - t0


def newest_event_log(work: Path) -> Path:
    """The event log of the application that started last (names are local-<start millis>;
    a log is renamed from .inprogress when its application stops, so compare names)."""
    logs = [p for p in (work / "events").iterdir() if p.name.startswith(("local-", "app-"))]
    newest = max(logs, key=lambda p: int(p.name.split("-")[1].split(".")[0]))
    finished = newest.with_name(newest.name.removesuffix(".inprogress"))
    for _ in range(60):  # the JVM may still be renaming it as the job's process exits
        if finished.exists():
            return finished
        time.sleep(1)
    return newest


def heaviest_stages(event_log: Path) -> list[dict]:
    """The 3 stages with the largest summed task time, from a Spark event log."""
    tasks: dict[int, list[float]] = {}
    names: dict[int, str] = {}
    files = sorted(event_log.glob("events_*")) if event_log.is_dir() else [event_log]
    for line in (line for path in files for line in path.open()):
        e = json.loads(line)
        if e["Event"] == "SparkListenerTaskEnd":
            info = e["Task Info"]
            duration = (info["Finish Time"] - info["Launch Time"]) / 1000
            tasks.setdefault(e["Stage ID"], []).append(duration)
        elif e["Event"] == "SparkListenerStageCompleted":
            names[e["Stage Info"]["Stage ID"]] = e["Stage Info"]["Stage Name"]
    ranked = sorted(tasks.items(), key=lambda kv: -sum(kv[1]))
    return [
        {
            "stage_id": stage,
            "name": names.get(stage, ""),
            "tasks": len(durations),
            "total_task_s": round(sum(durations), 2),
            "max_task_s": round(max(durations), 2),
            "median_task_s": round(statistics.median(durations), 2),
        }
        for stage, durations in ranked[:3]
    ]


def job_run_seconds(work: Path, conf: Path) -> tuple[float, str]:
    sql = ("SELECT (unix_millis(ended_at) - unix_millis(started_at)) / 1000.0 AS s, table_counts "
           "FROM ops.job_runs WHERE job = 'inventory_reconciliation' ORDER BY ended_at DESC LIMIT 1")  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "jobs", "query", sql, "--format", "json", "--conf-dir", str(conf),
         "--set", f"env.lakehouse.root={work / 'lake'}"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    row = json.loads(out.strip().splitlines()[-1])
    return float(row["s"]), row["table_counts"]


def table_rows(work: Path, conf: Path, table: str) -> int:
    out = subprocess.run(
        [sys.executable, "-m", "jobs", "query", f"SELECT count(*) AS n FROM {table}",
         "--format", "json", "--conf-dir", str(conf), "--set", f"env.lakehouse.root={work / 'lake'}"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return int(json.loads(out.strip().splitlines()[-1])["n"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--stores", type=int, default=5000)
    p.add_argument("--dcs", type=int, default=150)
    p.add_argument("--skus", type=int, default=2500)
    p.add_argument("--assortment", type=float, default=0.02, help="store_assortment_share")
    p.add_argument(
        "--work", default=str(ROOT / "bench-lake"), help="scratch folder (deleted first)"
    )
    p.add_argument("--memory", default="12g", help="driver memory (local mode: all of Spark)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder afterwards")
    p.add_argument(
        "--rerun",
        action="store_true",
        help="reuse a kept --work folder: undo the last reconciliation (ledger restored to "
        "its conformed version, the job's gold tables removed) and time it again",
    )
    a = p.parse_args()

    work = Path(a.work).resolve()
    gen = {
        "stores": a.stores, "dcs": a.dcs, "skus": a.skus, "inventory_days": 7,
        "store_assortment_share": a.assortment,
        # The marketplace half of the demo is not under test: keep it small.
        "orders": 1000, "customers": 500, "sellers": 50, "products": 200,
        "files_per_table": 8,
    }  # fmt: skip
    if a.rerun:
        conf = bench_conf(work, a.memory)
        undo_reconciliation(work / "lake", conf)
        return measure(a, work, conf, {"rerun_on_kept_lake": True}, gen)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    conf = bench_conf(work, a.memory)
    sets = [f"--set=generate_demo_data.{k}={v}" for k, v in gen.items()]
    timings = {"generate_s": jobs(work, conf, "run", "generate_demo_data", *sets)}
    timings["ingest_s"] = jobs(
        work, conf, "run", "ingest", "--source", "demo", "--tables", INVENTORY_TABLES
    )
    timings["conform_s"] = jobs(work, conf, "run", "conform")
    return measure(a, work, conf, timings, gen)


def ledger_version(lake: Path, conf: Path) -> int:
    """The latest version of silver.inventory_events, from its Delta log's file names."""
    log = lake / "silver" / "inventory_events" / "_delta_log"
    return max(int(p.name.split(".")[0]) for p in log.glob("*.json"))


def undo_reconciliation(lake: Path, conf: Path, version: int = 0) -> None:
    """Back to the state before a reconciliation: the ledger at `version` (conform's
    write; the job MERGEs its adjustments into it) and none of the job's outputs, so
    the next run reconciles every count again instead of finding nothing new."""
    if ledger_version(lake, conf) != version:
        sql = f"RESTORE TABLE silver.inventory_events TO VERSION AS OF {version}"
        subprocess.run(
            [sys.executable, "-m", "jobs", "query", sql, "--conf-dir", str(conf),
             "--set", f"env.lakehouse.root={lake}"],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
    for table in ("inventory_discrepancies", "inventory_adjustments", "inventory_alerts",
                  "inventory_accuracy", "inventory_book_snapshot"):  # fmt: skip
        shutil.rmtree(lake / "gold" / table, ignore_errors=True)
    shutil.rmtree(lake / "quarantine" / "inventory_reconciliation", ignore_errors=True)


def measure(a: argparse.Namespace, work: Path, conf: Path, timings: dict, gen: dict) -> int:
    wall = jobs(work, conf, "run", "inventory_reconciliation")
    log = newest_event_log(work)
    job_s, table_counts = job_run_seconds(work, conf)
    stages = heaviest_stages(log)
    result = {
        "benchmark": "inventory_reconciliation",
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "params": {**gen, "driver_memory": a.memory},
        "ledger_events": table_rows(work, conf, "silver.inventory_events"),
        "counts": table_rows(work, conf, "silver.inventory_counts"),
        "reconciliation_wall_s": round(wall, 2),
        "reconciliation_job_s": round(job_s, 2),
        "heaviest_stage": stages[0],
        "next_heaviest_stages": stages[1:],
        "setup": {k: round(v, 2) if isinstance(v, float) else v for k, v in timings.items()},
        "job_run_counts": json.loads(table_counts),
        "goal": "10M events in <= 180 s on 2 cores",
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"inventory_{a.stores}x{a.dcs}_{a.skus}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written {out}")
    if not (a.keep or a.rerun):
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
