"""seller_risk_features on a real Spark standalone cluster equals a local-mode run.

A master and two one-core workers are started from the pyspark installation
(`spark-class ...deploy.master.Master` / `...deploy.worker.Worker`) on
127.0.0.1 with free ports; the job is submitted with
`scripts/spark-submit --master spark://...` exactly as on a cluster (client
mode: the driver here, tasks in executor JVMs the workers launch), and its
output is compared with the same job run in local mode on a copy of the same
input. Every process is stopped afterwards, also when the test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.find_spark_home import _find_spark_home

from devtools.kafka_broker import free_port
from lakecore.config import PROJECT_ROOT
from lakecore.io import Lakehouse
from tests.conftest import TEST_JOB_OVERRIDES, run_cli
from tests.integration.test_seller_risk_job import silver_tables, write_silver

pytestmark = pytest.mark.integration

OUT = "gold.seller_risk_features"
DATE = "2025-06-10"
WORKERS = 2


def master_state(web_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/json", timeout=5) as resp:
        return json.load(resp)


class StandaloneCluster:
    """A master and `workers` one-core workers on 127.0.0.1, as child processes of this test."""

    def __init__(self, work: Path, workers: int = WORKERS) -> None:
        self.work = work
        self.workers = workers
        self.port, self.web_port = free_port(), free_port()
        self.procs: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "SPARK_HOME": _find_spark_home(),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_DAEMON_MEMORY": "256m",  # the master's and workers' own heap
            "SPARK_LOG_DIR": str(work / "logs"),
        }

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def _start(self, name: str, *args: str) -> None:
        spark_class = Path(self.env["SPARK_HOME"]) / "bin" / "spark-class"
        log = (self.work / f"{name}.log").open("w")
        proc = subprocess.Popen(
            [str(spark_class), *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with everything it forks
        )
        self.procs.append(proc)

    def start(self, timeout: float = 90) -> None:
        self._start(
            "master",
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(self.port), "--webui-port", str(self.web_port)),
        )
        for i in range(self.workers):
            work_dir = self.work / f"worker{i}"
            work_dir.mkdir(parents=True)
            self._start(
                f"worker{i}",
                "org.apache.spark.deploy.worker.Worker",
                self.url,
                *("--host", "127.0.0.1", "--port", str(free_port())),
                *("--webui-port", str(free_port()), "--cores", "1", "--memory", "1g"),
                *("--work-dir", str(work_dir)),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                alive = [w for w in master_state(self.web_port)["workers"] if w["state"] == "ALIVE"]
                if len(alive) == self.workers:
                    return
            except OSError:
                pass
            if any(p.poll() is not None for p in self.procs):
                break
            time.sleep(1)
        logs = {p.name: p.read_text()[-2000:] for p in self.work.glob("*.log")}
        raise RuntimeError(
            f"standalone cluster did not come up with {self.workers} workers: {logs}"
        )

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture
def cluster(tmp_path):
    c = StandaloneCluster(tmp_path / "cluster")
    c.work.mkdir()
    try:
        c.start()
        yield c
    finally:
        c.stop()


def submit(cluster: StandaloneCluster, lake_root: Path, cwd: Path) -> tuple[int, str]:
    cmd = [
        str(PROJECT_ROOT / "scripts" / "spark-submit"),
        *("--master", cluster.url, "--executor-memory", "768m", "--total-executor-cores", "2"),
        *("--conf", "spark.ui.enabled=false", "--conf", "spark.driver.host=127.0.0.1"),
        str(PROJECT_ROOT / "jobs" / "main.py"),
        *("seller_risk_features", "--date", DATE, f"--set=env.lakehouse.root={lake_root}"),
        *[f"--set={o}" for o in TEST_JOB_OVERRIDES],
    ]
    log = cwd / "spark-submit.log"
    with log.open("w") as out:
        try:
            done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=600, cwd=cwd)
        except subprocess.TimeoutExpired:
            pytest.fail(f"spark-submit timed out: {log.read_text()[-4000:]}")
    return done.returncode, log.read_text()


def test_seller_risk_features_on_a_standalone_cluster_equals_local_mode(spark, tmp_path, cluster):
    tables = silver_tables()
    cluster_lake, local_lake = tmp_path / "cluster-lake", tmp_path / "local-lake"
    write_silver(spark, cluster_lake, tables)
    shutil.copytree(cluster_lake, local_lake)

    code, output = submit(cluster, cluster_lake, tmp_path)
    assert code == 0, output[-4000:]
    assert run_cli(local_lake, "run", "seller_risk_features", "--date", DATE) == 0

    # The tasks ran in executors on both workers, not in the driver.
    apps = master_state(cluster.web_port)["completedapps"]
    assert [a["name"] for a in apps] == ["seller_risk_features"]
    for i in range(WORKERS):
        executors = list((cluster.work / f"worker{i}").glob("app-*/*/stderr"))
        assert executors, f"worker{i} launched no executor"

    # Sorted by key: chispa's ignore_row_order would sort by every column, and a map cannot be.
    on_cluster = Lakehouse(spark, str(cluster_lake)).read(OUT).orderBy("seller_id")
    local = Lakehouse(spark, str(local_lake)).read(OUT).orderBy("seller_id")
    assert [r.seller_id for r in on_cluster.collect()] == ["s1", "s2", "s3"]
    assert_df_equality(on_cluster, local)
