"""Benchmark harness: `make bench` (suite `skew`) or `python benchmarks/run.py --suite NAME`.

Suites:
- skew: generate demo data at --orders, then run each skew-sensitive batch job
  twice on it, with Spark's defaults and with the job's tuned conf/jobs/<job>.yaml,
  each in its own process with the UI on; stage metrics come from Spark's REST
  API (benchmarks/job_metrics.py). Writes results/skew_<orders>.json and
  results/skew_<orders>.png.
- scaling: seller_risk_features (tuned) at each --scales order count, one lake per
  scale under <workdir>/<orders> (--reuse-lake keeps a lake already there, e.g.
  the skew suite's with --workdir <workdir>/<orders>); wall time ratio.
- any script suite (SCRIPT_SUITES): a per-topic benchmark script run with its
  own arguments after `--`, e.g. `run.py --suite inventory -- --stores 50 --dcs 3`.
  A helper adding a benchmark registers it there with one line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml
from bench_inventory import ledger_version, undo_reconciliation

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
RESULTS = BENCH / "results"

# One line per per-topic benchmark script: suite name -> script under benchmarks/.
SCRIPT_SUITES = {
    "seller_risk_duckdb": "bench_seller_risk.py",  # seller-risk rollup, Spark vs DuckDB
    "inventory": "bench_inventory.py",  # inventory_reconciliation at ~10M ledger events
    "seller_risk_olist_auc": "seller_risk_olist_auc.py",  # score AUC on an Olist lake
    "seller_risk_model": "seller_risk_model.py",  # learned model vs the hand score (demo, Olist)
    "als": "bench_als.py",  # ALS per-iteration time next to the implicit library
    "als_search": "als_movielens_search.py",  # the validation search for ALS defaults
    "stream": "bench_stream.py",  # Kafka -> gold throughput and p50/p95 latency
    "stream_floor": "bench_stream_floor.py",  # one stream batch's Delta work, timed alone
    "delta_small": "bench_delta_small.py",  # small Delta operations, deletion vectors or not
    "als_ceiling": "als_ceiling.py",  # how far implicit ALS goes on the MovieLens protocol
    "incremental": "bench_incremental.py",  # first run, re-run with nothing new, one new day
    "s3": "bench_s3.py",  # the small pipeline on local disk vs an S3 API, one commit each
}

# The batch jobs a hot key can slow down, and the arguments they run with.
SKEW_JOBS = {
    "seller_risk_features": [],  # hottest seller >= 20% of orders
    "inventory_reconciliation": [],  # a DC carries every SKU: 1/assortment x a store's pairs
}

# What seller_risk_features reads (silver): the scaling suite ingests only these, since
# interactions (~3.5 rows per order even thinned) would dominate set-up at 10M orders.
SCALING_TABLES = "sellers,customers,products,categories,orders,order_items,reviews,after_sales"

# Spark 4's own defaults for every key the job YAMLs tune (the "before" config).
SPARK_DEFAULTS = {
    "shuffle_partitions": 200,
    "broadcast_threshold": "10m",
    "aqe": {
        "enabled": True,
        "coalesce_partitions": True,
        "parallelism_first": True,
        "advisory_partition_size": "64m",
        "skew_join": True,
        "skew_join_factor": 5.0,
        "skew_join_threshold": "256m",
    },
}


def machine() -> dict[str, object]:
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_1_5_15": [round(x, 2) for x in load],
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_conf(work: Path, memory: str, variant: str, ui_port: int | None = None) -> Path:
    """A copy of conf/ for one run: UI on (REST metrics), driver memory, and for
    variant "defaults" every job's tuning replaced by Spark's defaults, salting off."""
    conf = work / f"conf-{variant}"
    shutil.rmtree(conf, ignore_errors=True)
    shutil.copytree(ROOT / "conf", conf)
    platform_file = conf / "platform.yaml"
    data = yaml.safe_load(platform_file.read_text())
    spark_conf = data["environments"]["local"]["spark"]["conf"]
    spark_conf.update(
        {
            "spark.driver.memory": memory,
            "spark.ui.enabled": "true",
            "spark.ui.port": str(ui_port or free_port()),
            "spark.ui.retainedStages": "20000",
            "spark.ui.retainedJobs": "20000",
        }
    )
    platform_file.write_text(yaml.safe_dump(data, sort_keys=False))
    if variant == "defaults":
        for job in SKEW_JOBS:
            job_file = conf / "jobs" / f"{job}.yaml"
            job_data = yaml.safe_load(job_file.read_text())
            job_data["spark"] = dict(SPARK_DEFAULTS)
            job_data["skew"] = {**job_data.get("skew", {}), "enabled": False}
            job_file.write_text(yaml.safe_dump(job_data, sort_keys=False))
    return conf


def lake_sets(work: Path) -> list[str]:
    return [
        f"--set=env.lakehouse.root={work / 'lake'}",
        f"--set=env.lakehouse.landing={work / 'landing'}",
    ]


def run_jobs(work: Path, conf: Path, *args: str) -> float:
    cmd = [sys.executable, "-m", "jobs", *args, "--conf-dir", str(conf), *lake_sets(work)]
    print("+", " ".join(args), flush=True)
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, check=True)
    return round(time.monotonic() - t0, 1)


def generate(
    work: Path,
    conf: Path,
    orders: int,
    gen_sets: list[str],
    reuse_landing: bool = False,
    tables: str | None = None,
) -> dict[str, float]:
    """Demo data at `orders` (sellers, customers, products scale with it), ingested and
    conformed; `tables`: ingest only these (comma-separated)."""
    shutil.rmtree(work / "lake", ignore_errors=True)
    ingest = ["run", "ingest", "--source", "demo", *(["--tables", tables] if tables else [])]
    if reuse_landing:
        return {
            "ingest_s": run_jobs(work, conf, *ingest),
            "conform_s": run_jobs(work, conf, "run", "conform"),
        }
    shutil.rmtree(work / "landing", ignore_errors=True)
    scale = {
        "orders": orders,
        "sellers": max(200, orders // 1000),
        "customers": max(5000, orders // 4),
        "products": max(2000, orders // 10),
        "files_per_table": max(2, orders // 1_000_000),
    }
    sets = [f"--set=generate_demo_data.{k}={v}" for k, v in scale.items()]
    sets += [f"--set=generate_demo_data.{kv}" for kv in gen_sets]
    return {
        "generate_s": run_jobs(work, conf, "run", "generate_demo_data", *sets),
        "ingest_s": run_jobs(work, conf, *ingest),
        "conform_s": run_jobs(work, conf, "run", "conform"),
    }


def measure(work: Path, conf: Path, job: str, args: list[str], label: str) -> dict[str, object]:
    out = work / "metrics" / f"{job}-{label}.json"
    cmd = [sys.executable, str(BENCH / "job_metrics.py"), "--out", str(out), "--profile", "3", "--",
           "run", job, *args, "--conf-dir", str(conf), *lake_sets(work)]  # fmt: skip
    print(f"+ {job} ({label})", flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    return json.loads(out.read_text())


def config_of(conf: Path, job: str) -> dict[str, object]:
    data = yaml.safe_load((conf / "jobs" / f"{job}.yaml").read_text())
    return {"spark": data.get("spark", {}), "skew": data.get("skew", {})}


def skew_suite(a: argparse.Namespace) -> dict[str, object]:
    work = a.workdir
    tuned, defaults = (
        bench_conf(work, a.driver_memory, "tuned"),
        bench_conf(work, a.driver_memory, "defaults"),
    )
    result: dict[str, object] = {
        "benchmark": "skew",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine_at_start": machine(),
        "orders": a.orders,
        "generator_overrides": a.gen_set,
        "driver_memory": a.driver_memory,
        "goal": "hottest key >= 20% of rows: tuned >= 2x faster than defaults; "
        "heaviest stage max/median task time <= 3",
    }
    if not a.reuse_lake:
        result["setup_s"] = generate(work, tuned, a.orders, a.gen_set, a.reuse_landing)
    result["hottest_seller_share"] = hottest_share(work, tuned)
    # inventory_reconciliation is incremental: a second run on the same input finds
    # nothing to do, so every run starts from the ledger version the first one saw.
    ledger_v = ledger_version(work / "lake", tuned)
    jobs: dict[str, object] = {}
    for job, args in SKEW_JOBS.items():
        if a.only and job not in a.only:
            continue
        runs = {}
        # Alternating order so that a warm page cache does not favour one config.
        for label, conf in (("defaults", defaults), ("tuned", tuned), *(
            [("defaults_2", defaults), ("tuned_2", tuned)] if a.repeat > 1 else []
        )):  # fmt: skip
            if job == "inventory_reconciliation":
                undo_reconciliation(work / "lake", conf, ledger_v)
            runs[label] = measure(work, conf, job, args, label)
        d = min(r["job_s"] for k, r in runs.items() if k.startswith("defaults"))
        t = min(r["job_s"] for k, r in runs.items() if k.startswith("tuned"))
        jobs[job] = {
            "configs": {"defaults": config_of(defaults, job), "tuned": config_of(tuned, job)},
            "runs": runs,
            "best_job_s": {"defaults": d, "tuned": t},
            "speedup": round(d / t, 2),
            "tuned_heaviest_max_over_median": runs["tuned"]["heaviest_stage"]["max_over_median"],
        }
    result["jobs"] = jobs
    result["machine_at_end"] = machine()
    return result


def hottest_share(work: Path, conf: Path) -> float:
    sql = ("SELECT max(n) / sum(n) AS share FROM (SELECT seller_id, count(*) AS n "
           "FROM silver.order_items GROUP BY seller_id)")  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "jobs", "query", sql, "--format", "json", "--conf-dir", str(conf),
         *lake_sets(work)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return round(float(json.loads(out.strip().splitlines()[-1])["share"]), 4)


def scaling_suite(a: argparse.Namespace) -> dict[str, object]:
    points = []
    for orders in a.scales:
        # One lake per scale (<workdir>/<orders>), so the skew suite's lake at the same
        # scale and bench_seller_risk.py --skip-pipeline can share it.
        work = a.workdir / str(orders)
        tuned = bench_conf(work, a.driver_memory, "tuned")
        reuse = a.reuse_lake and (work / "lake" / "silver" / "order_items").is_dir()
        setup = {} if reuse else generate(work, tuned, orders, a.gen_set, tables=SCALING_TABLES)
        m = measure(work, tuned, "seller_risk_features", [], f"scaling-{orders}")
        points.append({"orders": orders, "setup_s": setup, "reused_lake": reuse, "metrics": m})
    first, last = points[0], points[-1]
    return {
        "benchmark": "scaling",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine_at_start": machine(),
        "goal": "1M -> 10M orders: seller_risk_features wall time grows <= 7x",
        "points": points,
        "growth": round(last["metrics"]["job_s"] / first["metrics"]["job_s"], 2),
    }


def chart(result: dict[str, object], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    jobs = result["jobs"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    names = list(jobs)
    x = range(len(names))
    for offset, label in ((-0.2, "defaults"), (0.2, "tuned")):
        axes[0].bar([i + offset for i in x], [jobs[n]["best_job_s"][label] for n in names],
                    width=0.4, label=label)  # fmt: skip
        axes[1].bar(
            [i + offset for i in x],
            [jobs[n]["runs"][label]["heaviest_stage"]["max_over_median"] or 0 for n in names],
            width=0.4,
            label=label,
        )
    axes[0].set_title("job time (s)")
    axes[1].set_title("heaviest stage: max / median task time")
    axes[1].axhline(3, color="grey", linestyle="--", linewidth=1)
    for ax in axes:
        ax.set_xticks(list(x), names, fontsize=8)
        ax.legend()
    fig.suptitle(f"Spark defaults vs tuned config, {result['orders']:,} orders")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def script_suite(name: str, extra: list[str]) -> int:
    script = BENCH / SCRIPT_SUITES[name]
    if not script.is_file():
        print(f"suite {name}: {script} is not there yet", file=sys.stderr)
        return 2
    return subprocess.run([sys.executable, str(script), *extra], cwd=ROOT).returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--suite", default="skew", choices=["skew", "scaling", *SCRIPT_SUITES])
    ap.add_argument("--orders", type=int, default=1_000_000, help="skew suite scale")
    ap.add_argument("--scales", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/lakehouse-bench"))
    ap.add_argument("--driver-memory", default="8g", help="local mode: the driver is the executor")
    ap.add_argument("--repeat", type=int, default=1, choices=(1, 2), help="runs per config")
    ap.add_argument("--reuse-landing", action="store_true", help="reuse the generated files")
    ap.add_argument("--reuse-lake", action="store_true", help="reuse the lake in --workdir")
    ap.add_argument(
        "--only",
        action="append",
        choices=list(SKEW_JOBS),
        help="skew suite: measure only this job (repeatable); other jobs' figures already "
        "in results/skew_<orders>.json are kept",
    )
    ap.add_argument(
        "--gen-set",
        action="append",
        default=[],
        help="generate_demo_data key=value (e.g. views_per_purchase=1)",
    )
    ap.add_argument("extra", nargs=argparse.REMAINDER, help="after --: a script suite's arguments")
    a = ap.parse_args()
    extra = a.extra[1:] if a.extra[:1] == ["--"] else a.extra
    if a.suite in SCRIPT_SUITES:
        return script_suite(a.suite, extra)
    a.workdir = a.workdir.resolve()
    a.workdir.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if a.suite == "skew":
        result = skew_suite(a)
        out = RESULTS / f"skew_{a.orders}.json"
        if a.only and out.is_file():
            kept = json.loads(out.read_text())["jobs"]
            result["jobs"] = {**kept, **result["jobs"]}
        chart(result, out.with_suffix(".png"))
    else:
        result = scaling_suite(a)
        out = RESULTS / f"scaling_{'_'.join(map(str, a.scales))}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "jobs"}, indent=2))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
