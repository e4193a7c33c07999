"""The small pipeline on local disk and on an S3 API, same machine: what object storage costs.

    python benchmarks/run.py --suite s3 -- --orders 12000

Starts moto's S3 server on 127.0.0.1 (devtools/s3_server.py; a real S3 API over
HTTP, not AWS: network latency to a region is not in these figures), then runs
`python -m jobs demo` twice in its own process, with the landing files and the lake
on local disk and on the server (`--env s3`, credentials from the environment).
Per job: the wall time the run recorded (`run ... of JOB ... in N s`). Per storage:
one Delta commit (a one-row append to a small table), median of --commits; on S3 with
the platform's log store (put-if-absent commits, the `s3` environment's default) and
with Delta's S3SingleDriverLogStore.

Writes results/s3_<orders>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

from devtools.s3_server import moto_server  # noqa: E402

RUN_LINE = re.compile(r"run \w+ of (\w+) (SUCCEEDED|NO_OP) in ([\d.]+)s")
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_REGION": "us-east-1",
}

# Run in a child process (--commit-probe): a session on the storage, N one-row appends.
PROBE = """
import json, statistics, sys, time
from lakecore.config import JobConfig, load_run_config
from lakecore.session import get_spark
cfg = load_run_config("query", JobConfig, sys.argv[1], json.loads(sys.argv[2]))
spark = get_spark(cfg, "commit-probe")
path = f"{cfg.lake_root}/bench/commit_probe"
times = []
for i in range(int(sys.argv[3]) + 1):
    df = spark.createDataFrame([(i,)], "n long")
    t0 = time.monotonic()
    df.write.format("delta").mode("append").save(path)
    times.append(time.monotonic() - t0)
print("PROBE " + json.dumps(times[1:]))  # the first commit creates the table
"""


def demo(sets: list[str], env: dict[str, str], log: Path) -> tuple[float, dict[str, float]]:
    t0 = time.monotonic()
    with log.open("w") as out:
        subprocess.run(
            [sys.executable, "-m", "jobs", "demo", "--no-summary", *sets],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=True,
        )  # fmt: skip
    wall = round(time.monotonic() - t0, 1)
    jobs = {m[1]: float(m[3]) for m in RUN_LINE.finditer(log.read_text())}
    return wall, jobs


def commit_probe(env_name: str, overrides: list[str], env: dict[str, str], n: int) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, env_name, json.dumps(overrides), str(n)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    (line,) = [x for x in out.splitlines() if x.startswith("PROBE ")]
    return json.loads(line.removeprefix("PROBE "))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--orders", type=int, default=12_000)
    ap.add_argument("--customers", type=int, default=3_000)
    ap.add_argument("--products", type=int, default=1_200)
    ap.add_argument("--commits", type=int, default=10)
    ap.add_argument(
        "--commits-only",
        action="store_true",
        help="only the commit probes (no demo runs): results/s3_commits.json",
    )
    a = ap.parse_args()
    scale = [
        f"--set=generate_demo_data.orders={a.orders}",
        f"--set=generate_demo_data.customers={a.customers}",
        f"--set=generate_demo_data.products={a.products}",
    ]
    work = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    env = {**os.environ, **CREDENTIALS}
    result: dict[str, object] = {"orders": a.orders, "server": "moto_server on 127.0.0.1"}
    try:
        with moto_server() as url:
            import boto3

            boto3.client(
                "s3",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            ).create_bucket(Bucket="bench")
            storages = {
                "local": [
                    f"env.lakehouse.root={work / 'lake'}",
                    f"env.lakehouse.landing={work / 'landing'}",
                    f"env.lakehouse.quality_docs={work / 'docs'}",
                ],
                "s3": [
                    "env.lakehouse.root=s3a://bench/lake",
                    "env.lakehouse.landing=s3a://bench/landing",
                    f"env.lakehouse.quality_docs={work / 'docs-s3'}",
                    f"env.s3.endpoint={url}",
                    "env.s3.path_style_access=true",
                ],
            }
            for name, overrides in storages.items():
                env_name = "s3" if name == "s3" else "local"
                sets = ["--env", env_name, *scale, *[f"--set={o}" for o in overrides]]
                wall, jobs = (None, {}) if a.commits_only else demo(sets, env, work / f"{name}.log")
                commits = commit_probe(env_name, overrides, env, a.commits)
                result[name] = {
                    "demo_wall_s": wall,
                    "job_s": jobs,
                    "commit_s": {
                        "median": round(statistics.median(commits), 3),
                        "max": round(max(commits), 3),
                        "n": len(commits),
                    },
                }
                if name == "s3":
                    store = "io.delta.storage.S3SingleDriverLogStore"
                    single = [*overrides, f"env.spark.conf.spark.delta.logStore.s3a.impl={store}"]
                    commits = commit_probe(env_name, single, env, a.commits)
                    result[name]["commit_s_single_driver_log_store"] = {
                        "median": round(statistics.median(commits), 3),
                        "max": round(max(commits), 3),
                        "n": len(commits),
                    }
                print(name, json.dumps(result[name]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if a.commits_only:
        del result["orders"]
        (RESULTS / "s3_commits.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return 0
    local, s3 = result["local"], result["s3"]
    result["ratio_s3_over_local"] = {
        job: round(s3["job_s"][job] / t, 2)
        for job, t in local["job_s"].items()
        if t and job in s3["job_s"]
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"s3_{a.orders}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
