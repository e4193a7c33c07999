"""Run one job in this process and read its stage metrics from Spark's REST API.

    python benchmarks/job_metrics.py --out m.json -- run seller_risk_features --conf-dir X ...

The arguments after `--` are those of `python -m jobs`. The conf dir must
enable the UI (benchmarks/run.py writes one with `spark.ui.enabled=true` on a
free port of 127.0.0.1); the metrics are read from
`/api/v1/applications/<app>/stages` before the session stops: wall time of
the job, shuffle read/write and spill summed over its stages, and the heaviest
stage (largest summed executor run time) with its max and median task time
(`taskSummary` quantiles).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SUM_FIELDS = (
    "shuffleReadBytes",
    "shuffleWriteBytes",
    "memoryBytesSpilled",
    "diskBytesSpilled",
    "inputBytes",
    "outputBytes",
    "executorRunTime",
)


def rest(base: str, path: str) -> object:
    with urllib.request.urlopen(f"{base}/api/v1/{path}", timeout=60) as resp:
        return json.load(resp)


def stage_metrics(base: str, app_id: str) -> dict[str, object]:
    stages = rest(base, f"applications/{app_id}/stages?status=complete")
    totals = {f: sum(int(s.get(f, 0)) for s in stages) for f in SUM_FIELDS}
    heaviest = max(stages, key=lambda s: s["executorRunTime"])
    summary = rest(
        base,
        f"applications/{app_id}/stages/{heaviest['stageId']}/{heaviest['attemptId']}"
        "/taskSummary?quantiles=0.5,1.0",
    )
    median_ms, max_ms = summary["duration"]
    return {
        "stages": len(stages),
        "tasks": sum(s["numTasks"] for s in stages),
        **{_snake(f): v for f, v in totals.items()},
        "heaviest_stage": {
            "stage_id": heaviest["stageId"],
            "name": heaviest["name"],
            "tasks": heaviest["numTasks"],
            "executor_run_time_ms": heaviest["executorRunTime"],
            "shuffle_read_bytes": heaviest["shuffleReadBytes"],
            "shuffle_write_bytes": heaviest["shuffleWriteBytes"],
            "spill_bytes": heaviest["memoryBytesSpilled"] + heaviest["diskBytesSpilled"],
            "max_task_ms": round(max_ms),
            "median_task_ms": round(median_ms),
            "max_over_median": round(max_ms / median_ms, 2) if median_ms else None,
        },
    }


def stage_profile(base: str, app_id: str, top: int) -> list[dict[str, object]]:
    """The `top` heaviest stages, each with its slowest tasks (partition, time, shuffle
    read): to see which computation holds a skewed task (`--profile N`)."""
    stages = rest(base, f"applications/{app_id}/stages?status=complete")
    out = []
    for s in sorted(stages, key=lambda s: -s["executorRunTime"])[:top]:
        path = f"applications/{app_id}/stages/{s['stageId']}/{s['attemptId']}"
        median_ms, max_ms = rest(base, f"{path}/taskSummary?quantiles=0.5,1.0")["duration"]
        tasks = rest(base, f"{path}/taskList?length=5&sortBy=-runtime")
        out.append(
            {
                "stage_id": s["stageId"],
                "name": s["name"],
                "tasks": s["numTasks"],
                "executor_run_time_ms": s["executorRunTime"],
                "max_over_median": round(max_ms / median_ms, 2) if median_ms else None,
                "slowest_tasks": [
                    {
                        "partition": t.get("partitionId", t["index"]),
                        "ms": t.get("duration"),
                        "shuffle_read_records": t.get("taskMetrics", {})
                        .get("shuffleReadMetrics", {})
                        .get("recordsRead"),
                    }
                    for t in tasks
                ],
                "details": s.get("details", "")[:2000],
            }
        )
    return out


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--profile", type=int, default=0, help="also record the N heaviest stages' slowest tasks"
    )
    ap.add_argument("jobs_args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    argv = a.jobs_args[1:] if a.jobs_args[:1] == ["--"] else a.jobs_args

    from pyspark.sql import SparkSession

    from jobs.cli import main as jobs_main

    t0, t0_epoch = time.monotonic(), time.time()
    code = jobs_main(argv)
    wall = time.monotonic() - t0
    spark = SparkSession.getActiveSession()
    if code != 0 or spark is None:
        print(f"job failed with exit code {code}", file=sys.stderr)
        return code or 1
    sc = spark.sparkContext
    base = sc.uiWebUrl
    if not base:
        print("the Spark UI is off: the conf dir must set spark.ui.enabled=true", file=sys.stderr)
        return 2
    result = {
        "argv": argv,
        "app_id": sc.applicationId,
        "wall_s": round(wall, 2),
        # Without the JVM and session start-up, which both configs pay alike.
        "job_s": round(wall - (sc.startTime / 1000 - t0_epoch), 2),
        "sql_conf": {
            k: spark.conf.get(k)
            for k in (
                "spark.sql.shuffle.partitions",
                "spark.sql.autoBroadcastJoinThreshold",
                "spark.sql.adaptive.enabled",
                "spark.sql.adaptive.coalescePartitions.enabled",
                "spark.sql.adaptive.coalescePartitions.parallelismFirst",
                "spark.sql.adaptive.advisoryPartitionSizeInBytes",
                "spark.sql.adaptive.skewJoin.enabled",
                "spark.sql.adaptive.skewJoin.skewedPartitionFactor",
                "spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes",
            )
        },
        **stage_metrics(base, sc.applicationId),
    }
    if a.profile:
        result["profile"] = stage_profile(base, sc.applicationId, a.profile)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
