"""Does the learned seller-risk model beat the hand-weighted score? (issue 28's benchmark)

Runs the real jobs (`python -m jobs run ...`, each timed) and reads the verdict
from gold.model_registry, where the model and the hand score are judged on the
same test days:

    # The camouflaged demo: fraudsters mimic legit volume, patterns mixed and weak.
    python benchmarks/seller_risk_model.py demo --workdir /tmp/bench-srm \\
        --orders 100000 --sellers 1000 --camouflage 0.8
    # Olist with labels derived from the lake (next 30 days' late deliveries, 1-stars).
    python benchmarks/seller_risk_model.py olist --workdir /tmp/bench-olist \\
        --shared-data ../shared/data

`demo` generates, ingests, conforms and backfills the features; `olist` ingests
Olist read in place. `--skip-build` reuses the workdir's lake. Results:
benchmarks/results/seller_risk_model_<name>.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def run_job(work: Path, *args: str, sets: list[str] = ()) -> float:
    common = [
        f"--set=env.lakehouse.root={work / 'lake'}",
        f"--set=env.lakehouse.landing={work / 'landing'}",
        "--set=env.lineage.enabled=false",
    ]
    cmd = [sys.executable, "-m", "jobs", *args, *common, *(f"--set={s}" for s in sets)]
    print("$", " ".join(cmd), flush=True)
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, check=True)
    return round(time.monotonic() - t0, 1)


def registry(work: Path) -> list[dict]:
    from lakecore.config import JobConfig, load_run_config
    from lakecore.io import Lakehouse
    from lakecore.session import get_spark

    overrides = [f"env.lakehouse.root={work / 'lake'}", "env.lineage.enabled=false"]
    cfg = load_run_config("query", JobConfig, overrides=overrides)
    lake = Lakehouse(get_spark(cfg, "seller_risk_model_bench"), cfg.lake_root)
    out = []
    for r in sorted(lake.read("gold.model_registry").collect(), key=lambda r: r.trained_at):
        d = {k: (str(v) if isinstance(v, date | datetime) else v) for k, v in r.asDict().items()}
        out.append(d | {"metrics": dict(r.metrics)})
    return out


def build_demo(a: argparse.Namespace, times: dict[str, float]) -> tuple[str, str]:
    knobs = [
        f"generate_demo_data.orders={a.orders}",
        f"generate_demo_data.sellers={a.sellers}",
        f"generate_demo_data.customers={a.orders // 4}",
        f"generate_demo_data.products={a.sellers * 10}",
        f"generate_demo_data.days={a.days}",
        f"generate_demo_data.camouflage={a.camouflage}",
        f"generate_demo_data.label_noise={a.label_noise}",
        f"generate_demo_data.files_per_table={max(2, a.orders // 1_000_000 + 1)}",
        # Interactions feed ALS only: one view and one cart per purchase keep ingest short.
        "generate_demo_data.views_per_purchase=1",
        "generate_demo_data.carts_per_purchase=1",
    ]
    end = date(2025, 6, 30)
    # Skip the warm-up: the 30-day windows and the 28-day burst baseline need history.
    start = end - timedelta(days=a.days - 1 - a.warmup_days)
    times["generate_demo_data"] = run_job(a.workdir, "run", "generate_demo_data", sets=knobs)
    times["ingest"] = run_job(a.workdir, "run", "ingest", "--source", "demo")
    times["conform"] = run_job(a.workdir, "run", "conform")
    times["seller_risk_features"] = run_job(
        a.workdir, "run", "seller_risk_features", f"--start={start}", f"--end={end}"
    )
    return str(start), str(end)


def build_olist(a: argparse.Namespace, times: dict[str, float]) -> tuple[str, str]:
    path = ["--path", str(a.shared_data / "olist")] if a.shared_data else []
    times["ingest"] = run_job(a.workdir, "run", "ingest", "--source", "olist", *path)
    times["conform"] = run_job(a.workdir, "run", "conform")
    start, end = "2017-01-01", "2018-08-31"
    times["seller_risk_features"] = run_job(
        a.workdir, "run", "seller_risk_features", f"--start={start}", f"--end={end}"
    )
    return start, end


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", choices=("demo", "olist"))
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--build-only", action="store_true", help="stop after the features")
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--sellers", type=int, default=1_000)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--warmup-days", type=int, default=60)
    ap.add_argument("--camouflage", type=float, default=0.8)
    ap.add_argument("--label-noise", type=float, default=0.0)
    ap.add_argument("--shared-data", type=Path, default=None)
    ap.add_argument("--name", default=None, help="results file suffix")
    a = ap.parse_args()

    times: dict[str, float] = {}
    if not a.skip_build:
        build = build_demo if a.dataset == "demo" else build_olist
        build(a, times)
        (a.workdir / "build_seconds.json").write_text(json.dumps(times, indent=2))
        if a.build_only:
            return
    elif (a.workdir / "build_seconds.json").is_file():
        times.update(json.loads((a.workdir / "build_seconds.json").read_text()))
    if a.dataset == "demo":
        # The truth is per seller: every active seller on every 7th day is a label.
        label_sets = {"truth": ["seller_risk_training_set.source=truth"]}
        model_sets = ["seller_risk_model.embargo_days=0"]
    else:
        # One label per outcome, as in seller_risk_olist_auc.json (share >= 0.2, 3+ orders).
        label_sets = {
            "late_delivery": ["seller_risk_training_set.lake.thresholds={late_delivery: 0.2}"],
            "one_star": ["seller_risk_training_set.lake.thresholds={one_star: 0.2}"],
        }
        model_sets = []
    models = {}
    for name, sets in label_sets.items():
        times[f"training_set:{name}"] = run_job(
            a.workdir,
            "run",
            "seller_risk_training_set",
            sets=[*sets, f"seller_risk_training_set.name={name}"],
        )
        times[f"model:{name}"] = run_job(
            a.workdir,
            "run",
            "seller_risk_model",
            sets=[*model_sets, f"seller_risk_model.training_set={name}",
                  f"seller_risk_model.model_name=seller_risk_{name}"],
        )  # fmt: skip
    for row in registry(a.workdir):  # every model trained on this lake, oldest first
        models[f"{row['model_name']}/{row['model_version']}"] = {
            k: row[k]
            for k in (
                "training_set", "algorithm", "params", "train_start", "train_end",
                "validation_start", "validation_end", "test_start", "test_end", "train_rows",
                "test_rows", "test_positives", "published", "gate_notes", "metrics",
            )
        } | {"features": len(row["features"])}  # fmt: skip

    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.system()}, {platform.python_version()}",
        "dataset": a.dataset,
        "args": params,
        "seconds": times,
        "models": models,
    }
    name = a.name or (f"demo_c{a.camouflage}_{a.orders}" if a.dataset == "demo" else "olist")
    path = RESULTS / f"seller_risk_model_{name}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
