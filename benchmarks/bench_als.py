"""Benchmark: als_embeddings at scale, and Spark ALS per-iteration time next to `implicit`.

    .venv/bin/python benchmarks/bench_als.py                    # ~5M interactions (orders=360000)
    .venv/bin/python benchmarks/bench_als.py --orders 20000     # small proof run

Steps: the demo generator writes synthetic interactions (views, carts,
purchases; about 14 per ordered item) and products; `ingest` + `conform` put
them in silver; `als_embeddings` runs as its own process (wall time). Then, in
one process, the job's own confidence transforms build the (user, item, strength)
pairs once and both libraries fit the same pairs with the same rank:
Spark ALS (2 user / 2 item blocks, local[2]) timed at 2 and 12 iterations (best of
two, after a warm-up fit), the difference / 10 being the per-iteration time without set-up; `implicit`'s CPU
ALS (2 threads) timed the same way. Needs the `bench` extra (implicit).
Writes benchmarks/results/als_scale_<interactions>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def jobs(work: Path, *args: str, memory: str, peak: dict | None = None) -> float:
    """Run `python -m jobs ...` on the work lake; returns its wall seconds.

    With `peak`, the process tree's resident memory (the Python process and its
    Spark driver JVM) is sampled every 0.5 s and the maximum stored as peak["rss_gib"].
    """
    import psutil

    sets = [f"--set=env.lakehouse.root={work / 'lake'}", f"--set=env.lakehouse.landing={work / 'landing'}",
            "--set=env.spark.master=local[2]", f"--set=spark.driver_memory={memory}"]  # fmt: skip
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "jobs", *args, *sets], cwd=ROOT)
    top = psutil.Process(proc.pid)
    most = 0
    while proc.poll() is None:
        try:
            tree = [top, *top.children(recursive=True)]
            most = max(most, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass  # a process ended between listing and reading
        time.sleep(0.5)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args)
    if peak is not None:
        peak["rss_gib"] = round(most / 2**30, 2)
    return time.monotonic() - t0


def prepare(work: Path, orders: int, memory: str) -> dict[str, float]:
    if (work / "lake" / "silver" / "interactions").exists():
        return {}
    gen = [f"--set=generate_demo_data.orders={orders}",
           f"--set=generate_demo_data.customers={max(5000, orders // 4)}",
           f"--set=generate_demo_data.products={max(2000, orders // 20)}"]  # fmt: skip
    return {
        "generate_s": jobs(work, "run", "generate_demo_data", *gen, memory=memory),
        "ingest_s": jobs(
            work,
            "run",
            "ingest",
            "--source",
            "demo",
            "--tables",
            "interactions,products",
            memory=memory,
        ),
        "conform_s": jobs(work, "run", "conform", memory=memory),
    }


def per_iteration(fit, lo: int = 2, hi: int = 12) -> dict[str, float]:
    """(t(hi) - t(lo)) / (hi - lo), each the best of two fits after a warm-up fit (JIT)."""
    fit(1)
    t_lo, t_hi = min(fit(lo), fit(lo)), min(fit(hi), fit(hi))
    return {
        f"fit_{lo}_iter_s": t_lo,
        f"fit_{hi}_iter_s": t_hi,
        "per_iteration_s": (t_hi - t_lo) / (hi - lo),
    }


def compare(work: Path, memory: str) -> dict:
    import numpy as np
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from jobs.als_config import AlsEmbeddingsConfig
    from lakecore.config import load_run_config
    from lakecore.io import Lakehouse
    from lakecore.session import get_spark
    from transforms.recommendations import feedback as fb
    from transforms.recommendations import outputs as out
    from transforms.recommendations.model import fit_als

    cfg = load_run_config(
        "als_embeddings", AlsEmbeddingsConfig,
        overrides=[f"env.lakehouse.root={work / 'lake'}", "env.spark.master=local[2]",
                   f"spark.driver_memory={memory}"],
    )  # fmt: skip
    spark = get_spark(cfg, "bench_als")
    spark.sparkContext.setCheckpointDir(str(work / "ckpt"))
    s = cfg.job.als
    lake = Lakehouse(spark, cfg.lake_root)
    events = lake.read("silver.interactions")
    pairs = fb.aggregate_confidence(fb.with_event_weight(events, s.event_weights, s.rating_weights))
    # The ids the job just assigned (gold.als_*_ids), so both libraries see its matrix.
    users, items = lake.read("gold.als_user_ids"), lake.read("gold.als_item_ids")
    idx = out.with_indexes(pairs, users, items).select("user_idx", "item_idx", "strength").persist()
    n_interactions, n_pairs = events.count(), idx.count()
    pdf = idx.toPandas()
    params = s.params()
    spark_times = per_iteration(lambda n: fit_als(idx, replace(params, max_iter=n))[1])
    # The shipped default fit (max_iter iterations), warm, best of two: the "fit <= 5 s" figure.
    default_fit = [fit_als(idx, params)[1] for _ in range(2)]
    spark_times[f"default_fit_{params.max_iter}_iter_s"] = min(default_fit)
    rows, cols = pdf["user_idx"].to_numpy(), pdf["item_idx"].to_numpy()
    matrix = sp.csr_matrix((pdf["strength"].to_numpy(np.float32), (rows, cols)))

    def implicit_fit(n: int) -> float:
        model = AlternatingLeastSquares(factors=s.rank, regularization=s.reg_param, alpha=s.alpha,
                                        iterations=n, num_threads=2, random_state=42)  # fmt: skip
        t0 = time.monotonic()
        with threadpool_limits(1, "blas"):
            model.fit(matrix, show_progress=False)
        return time.monotonic() - t0

    implicit_times = per_iteration(implicit_fit)
    return {
        "interactions": n_interactions,
        "user_item_pairs": n_pairs,
        "users": int(matrix.shape[0]),
        "items": int(matrix.shape[1]),
        "rank": s.rank,
        "spark_als": spark_times,
        "implicit_als": implicit_times,
        "spark_over_implicit_per_iteration": spark_times["per_iteration_s"]
        / implicit_times["per_iteration_s"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=360_000)
    ap.add_argument("--work", default="/tmp/bench_als")
    ap.add_argument("--memory", default="16g")
    ap.add_argument("--reuse-job", action="store_true", help="skip the job if its id maps exist")
    ap.add_argument("--work-dir", help="an existing work dir whose lake/ has silver.interactions")
    args = ap.parse_args()
    work = Path(args.work_dir or Path(args.work) / f"orders_{args.orders}")
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    setup = prepare(work, args.orders, args.memory)
    reuse = args.reuse_job and (work / "lake" / "gold" / "als_user_ids").exists()
    peak: dict = {}
    job_s = None if reuse else jobs(work, "run", "als_embeddings", memory=args.memory, peak=peak)
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {os.cpu_count()} cpus, {platform.machine()}",
        "load_average_at_start": os.getloadavg(),
        "orders": None if args.work_dir else args.orders,
        **setup,
        "als_embeddings_job_s": job_s,
        "als_embeddings_job_driver_memory": args.memory,
        "als_embeddings_job_peak_rss_gib": peak.get("rss_gib"),
        **compare(work, args.memory),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"als_scale_{result['interactions']}.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
