"""`scripts/spark-submit jobs/main.py <job> ...` runs a job like `python -m jobs run <job>`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lakecore.config import PROJECT_ROOT
from lakecore.io import Lakehouse

pytestmark = pytest.mark.integration


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
        "--master",
        "local[1]",
        "--conf",
        "spark.ui.enabled=false",
        str(PROJECT_ROOT / "jobs" / "main.py"),
        "ingest",
        "--source",
        "demo",
        "--path",
        str(landing.parent),
        "--tables",
        "sellers",
        f"--set=env.lakehouse.root={lake_root}",
        "--set=spark.shuffle_partitions=1",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=Path(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
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
