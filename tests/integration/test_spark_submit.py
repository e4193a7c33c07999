"""`scripts/spark-submit jobs/main.py <job> ...` runs a job like `python -m jobs run <job>`,
with spark-submit's own `--conf` winning, and emits OpenLineage events naming the tables
the job's SPEC declares (the listener is a start-up setting: the suite's shared session
runs without it, this process has it)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from jobs.registry import registry
from lakecore.config import PROJECT_ROOT
from lakecore.io import Lakehouse
from lakecore.jobmeta import read_job_meta
from lakecore.spark_conf import LINEAGE_FILE

pytestmark = pytest.mark.integration


def table_of(dataset: dict, lake: Path) -> str | None:
    """`layer.table` of a lineage dataset under the lake (None for anything else)."""
    path = Path(dataset["name"])
    if dataset["namespace"] != "file" or not path.is_relative_to(lake):
        return None
    layer, table, *_ = path.relative_to(lake).parts
    return f"{layer}.{table}"


def test_spark_submit_runs_ingest(spark, tmp_path):
    landing = tmp_path / "landing" / "sellers"
    landing.mkdir(parents=True)
    (landing / "a.csv").write_text(
        "seller_id,zip_code_prefix,city,state,registered_at\n"
        "s1,01001,sao paulo,SP,2024-01-01 00:00:00\n"
        ",01002,rio,RJ,2024-01-01 00:00:00\n"
    )
    lake_root = tmp_path / "lake"
    cmd = [
        str(PROJECT_ROOT / "scripts" / "spark-submit"),
        *("--master", "local[1]", "--conf", "spark.ui.enabled=false"),
        *("--conf", "spark.sql.shuffle.partitions=3"),
        str(PROJECT_ROOT / "jobs" / "main.py"),
        *("ingest", "--source", "demo", "--path", str(landing.parent), "--tables", "sellers"),
        f"--set=env.lakehouse.root={lake_root}",
        "--set=spark.shuffle_partitions=1",
        "--conf=spark.sql.shuffle.partitions=2",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=Path(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    # spark-submit's --conf > the job's --conf > the job's YAML (--set)
    assert "spark.sql.shuffle.partitions=3 from spark-submit wins over 2" in done.stdout
    lake = Lakehouse(spark, str(lake_root))
    assert [r.seller_id for r in lake.read("bronze.sellers").collect()] == ["s1"]
    assert [r.reason for r in lake.read("quarantine.sellers").collect()] == ["null_key:seller_id"]
    run = lake.read("ops.job_runs").first()
    assert (run.status, run.rows_read, run.rows_written, run.rows_quarantined) == (
        "SUCCEEDED",
        2,
        1,
        1,
    )

    events = [json.loads(line) for line in (lake_root / LINEAGE_FILE).read_text().splitlines()]
    complete = [e for e in events if e["eventType"] == "COMPLETE"]
    assert complete and {e["job"]["namespace"] for e in events} == {"lakehouse"}
    assert {e["job"]["name"].split(".")[0] for e in events} == {"ingest"}  # the app is the job
    written = {t for e in complete for d in e.get("outputs", []) if (t := table_of(d, lake_root))}
    # Exactly the declared writes for --tables sellers, and the run log.
    declared = read_job_meta("ingest").tables_written(("sellers",))
    assert written == {*declared, "ops.job_runs"}
    assert registry()["ingest"].reads == ("landing/<source>/*",)
    read = {d["name"] for e in complete for d in e.get("inputs", [])}
    assert any(name.startswith(str(landing)) for name in read), read


def test_a_missing_executor_environment_stops_spark_submit_before_it_starts(tmp_path):
    missing = tmp_path / "executor-env.tar.gz"
    done = subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "spark-submit"), "jobs/main.py", "tables"],
        capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT,
        env={**os.environ, "LAKEHOUSE_EXECUTOR_ENV": str(missing)},
    )  # fmt: skip
    assert done.returncode == 2
    assert f"LAKEHOUSE_EXECUTOR_ENV={missing}: no such file (make executor-env)" in done.stderr
