"""What a routine run costs: the first run, a re-run with nothing new, and one new day.

    python benchmarks/run.py --suite incremental -- --orders 20000 --days 120

Each job runs as `python -m jobs run ...` in its own process, so every figure
includes the JVM start (what a scheduler pays). Steps, on a fresh lake:

1. the generator writes every day's landing files but the last (`--start/--end`,
   one `day=` folder per day), and the pipeline runs for the day before the last:
   ingest, conform, seller_risk_features --date, inventory_reconciliation --date;
2. the same four again with nothing new: wall time and new table versions;
3. the last day's files arrive and the pipeline runs for that day.

Writes results/incremental_<orders>_<days>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
END = date(2025, 6, 30)


def jobs(work: Path, *args: str) -> float:
    sets = [
        f"--set=env.lakehouse.root={work / 'lake'}",
        f"--set=env.lakehouse.landing={work / 'landing'}",
    ]
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "jobs", "run", *args, *sets], cwd=ROOT, check=True)
    return round(time.monotonic() - t0, 1)


def table_versions(work: Path) -> dict[str, int]:
    """Latest version of every table under the lake, from the Delta logs (no Spark)."""
    out = {}
    for log in sorted((work / "lake").glob("*/*/_delta_log")):
        commits = [int(p.stem) for p in log.glob("*.json") if p.stem.isdigit()]
        out[f"{log.parent.parent.name}.{log.parent.name}"] = max(commits)
    return out


STEPS = ("ingest", "conform", "seller_risk_features", "inventory_reconciliation")


def pipeline(work: Path, day: date, only: tuple[str, ...] = STEPS) -> dict[str, float]:
    """The routine pipeline for `day`, in order; `only` keeps a prefix of it (a job
    needs the ones before it, so `--upto ingest` measures ingest alone)."""
    args = {
        "ingest": ("--source", "demo"),
        "conform": (),
        "seller_risk_features": ("--date", str(day)),
        "inventory_reconciliation": ("--date", str(day)),
    }
    return {job: jobs(work, job, *args[job]) for job in STEPS if job in only}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--workdir", type=Path, default=ROOT / "bench-lake" / "incremental")
    ap.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="more generator settings, e.g. sellers=2000 (the same for both scales of a "
        "history-growth pair, so only the history grows)",
    )
    ap.add_argument(
        "--upto",
        choices=STEPS,
        default=STEPS[-1],
        help="run the pipeline up to this job only (e.g. ingest: history growth of ingest "
        "alone, in a fraction of the time)",
    )
    a = ap.parse_args()
    only = STEPS[: STEPS.index(a.upto) + 1]
    work = a.workdir / f"{a.orders}_{a.days}"
    shutil.rmtree(work, ignore_errors=True)
    scale = [
        f"--set=generate_demo_data.orders={a.orders}",
        f"--set=generate_demo_data.days={a.days}",
        f"--set=generate_demo_data.inventory_days={max(7, a.days * 28 // 120)}",
        "--set=generate_demo_data.views_per_purchase=1",
        "--set=generate_demo_data.carts_per_purchase=1",
        *[f"--set=generate_demo_data.{kv}" for kv in a.sets],
    ]
    first = END - timedelta(days=a.days - 1)
    before_last = END - timedelta(days=1)
    result: dict[str, object] = {"orders": a.orders, "days": a.days, "generator_sets": a.sets}
    result["generate_s"] = jobs(
        work, "generate_demo_data", "--start", str(first), "--end", str(before_last), *scale
    )
    result["first_run_s"] = pipeline(work, before_last, only)
    versions = table_versions(work)
    result["rerun_nothing_new_s"] = pipeline(work, before_last, only)
    after = table_versions(work)
    changed = {t: (versions.get(t), v) for t, v in after.items() if versions.get(t) != v}
    result["rerun_new_versions"] = {t: v for t, v in changed.items() if not t.startswith("ops.")}
    result["new_day_generate_s"] = jobs(work, "generate_demo_data", "--date", str(END), *scale)
    result["new_day_s"] = pipeline(work, END, only)
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if only == STEPS else f"_upto_{a.upto}"
    out = RESULTS / f"incremental_{a.orders}_{a.days}{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
