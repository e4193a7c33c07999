"""Jobs on a real Spark standalone cluster that shares no disk equal local-mode runs.

A master and two one-core workers are started from the pyspark installation
(`spark-class ...deploy.master.Master` / `...deploy.worker.Worker`) on
127.0.0.1 with free ports, without the checkout's virtualenv on their PATH or a
PYSPARK_PYTHON; jobs are submitted with `scripts/spark-submit --master spark://...`
exactly as on a cluster (client mode: the driver here, tasks in executor JVMs the
workers launch). The lake (and ALS's checkpoints) is on an S3 server, and the
executors' Python is the packed environment `make executor-env` builds (numpy,
pandas, pyarrow and this project's wheel, shipped with --archives). The output is
compared with the same jobs run in local mode on a local copy of the same input.
Every process is stopped afterwards, also when a test fails. The workers' Spark is
the pyspark installation, as a node's own Spark would be.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest
from chispa import assert_df_equality
from pyspark.find_spark_home import _find_spark_home
from pyspark.sql import functions as F

from devtools import executor_env
from devtools.kafka_broker import free_port
from devtools.s3_server import moto_server
from lakecore.config import CONF_DIR_VARIABLE as CONF_DIR
from lakecore.config import PROJECT_ROOT
from lakecore.io import Lakehouse
from tests.conftest import TEST_JOB_OVERRIDES, run_cli
from tests.integration.test_als_job import LIGHT
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

    def __init__(self, work: Path, workers: int = WORKERS, env: dict | None = None) -> None:
        self.work = work
        self.workers = workers
        self.port, self.web_port = free_port(), free_port()
        self.procs: list[subprocess.Popen] = []
        self.env = {
            **(os.environ if env is None else env),
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


@contextmanager
def running_cluster(work: Path, env: dict | None = None) -> Iterator[StandaloneCluster]:
    c = StandaloneCluster(work, env=env)
    c.work.mkdir()
    try:
        c.start()
        yield c
    finally:
        c.stop()


def submit(
    cluster: StandaloneCluster,
    lake_root: Path | str,
    cwd: Path,
    *job: str,
    env: dict | None = None,
) -> tuple[int, str]:
    cmd = [
        str(PROJECT_ROOT / "scripts" / "spark-submit"),
        *("--master", cluster.url, "--executor-memory", "768m", "--total-executor-cores", "2"),
        *("--conf", "spark.ui.enabled=false", "--conf", "spark.driver.host=127.0.0.1"),
        str(PROJECT_ROOT / "jobs" / "main.py"),
        *(job or ("seller_risk_features", "--date", DATE)),
        f"--set=env.lakehouse.root={lake_root}",
        *[f"--set={o}" for o in TEST_JOB_OVERRIDES],
    ]
    log = cwd / f"spark-submit-{job[0] if job else 'features'}.log"
    with log.open("w") as out:
        try:
            done = subprocess.run(
                cmd, stdout=out, stderr=subprocess.STDOUT, timeout=600, cwd=cwd, env=env
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"spark-submit timed out: {log.read_text()[-4000:]}")
    return done.returncode, log.read_text()


SECRET = "cluster-s3a-secret"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": SECRET,
    "AWS_REGION": "us-east-1",
}


def without_checkout(env: dict) -> dict:
    """`env` with nothing that leads a process to this checkout's Python."""
    venv_bin = str(PROJECT_ROOT / ".venv" / "bin")
    drop = {"PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "VIRTUAL_ENV", "PYTHONPATH"}
    out = {k: v for k, v in env.items() if k not in drop}
    out["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
    return out


def upload(client, folder: Path, bucket: str, prefix: str) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder)}")


def download(client, bucket: str, prefix: str, folder: Path) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            target = folder / obj["Key"][len(prefix) :].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, obj["Key"], str(target))


@pytest.fixture(scope="module")
def packed_env(tmp_path_factory) -> Path:
    """The executors' environment, built as `make executor-env` builds it (25 s here)."""
    return executor_env.build(tmp_path_factory.mktemp("executor-env"))


def test_s3a_cluster_without_shared_disk_equals_local_mode(spark, demo_lake, tmp_path, packed_env):
    """seller_risk_features and als_embeddings (its top-N is a mapInPandas: Python on the
    executors) on the cluster, lake and checkpoints on S3, equal the local-mode runs.

    Sized for the suite: the seller-risk test input, and ALS on the interactions of 300
    of the demo's customers before its last month, 4 iterations (about 3 min in all)."""
    local = tmp_path / "local-lake"
    write_silver(spark, local, silver_tables())
    lake = Lakehouse(spark, str(local))
    events = demo_lake.read("silver.interactions")
    end = events.agg(F.max(F.to_date("event_ts"))).first()[0]
    day = str(end.replace(day=1))
    users = events.select("user_id").distinct().orderBy("user_id").limit(300)
    lake.overwrite(demo_lake.read("silver.products"), "silver.products")
    lake.overwrite(
        events.where(F.col("event_ts") < day).join(users, "user_id", "left_semi"),
        "silver.interactions",
    )
    als = ("als_embeddings", "--date", day, *LIGHT)

    with moto_server() as url:
        client = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key=SECRET)  # fmt: skip
        client.create_bucket(Bucket="cluster-s3a")
        upload(client, local, "cluster-s3a", "lake")
        s3_env = [
            "--env", "s3", f"--set=env.s3.endpoint={url}", "--set=env.s3.path_style_access=true",
            f"--set=env.lakehouse.quality_docs={tmp_path / 'quality'}",
        ]  # fmt: skip
        driver_env = {**os.environ, **CREDENTIALS, "LAKEHOUSE_EXECUTOR_ENV": str(packed_env)}
        workers_env = {**without_checkout(os.environ), **CREDENTIALS}
        with running_cluster(tmp_path / "cluster", env=workers_env) as cluster:
            outputs = ""
            for job in (("seller_risk_features", "--date", DATE), als):
                code, output = submit(
                    cluster, "s3a://cluster-s3a/lake", tmp_path, *job, *s3_env, env=driver_env
                )
                assert code == 0, output[-4000:]
                outputs += output
            apps = master_state(cluster.web_port)["completedapps"]
            assert sorted(a["name"] for a in apps) == ["als_embeddings", "seller_risk_features"]
            # The executors ran the packed Python, unpacked in their own folders.
            for i in range(WORKERS):
                unpacked = list(
                    (cluster.work / f"worker{i}").glob("app-*/*/environment/bin/python")
                )
                assert unpacked, f"worker{i}: no executor unpacked the environment"
        for schema in ("gold", "ops"):
            download(client, "cluster-s3a", f"lake/{schema}", tmp_path / "from-s3" / schema)
        assert SECRET not in outputs
        # ALS checkpointed on S3 and removed its folder (s3a keeps a parent's marker, a "/" key).
        listed = client.list_objects_v2(Bucket="cluster-s3a", Prefix="lake/_checkpoints/")
        assert [o["Key"] for o in listed.get("Contents", []) if not o["Key"].endswith("/")] == []

    assert run_cli(local, "run", "seller_risk_features", "--date", DATE) == 0
    assert run_cli(local, "run", *als) == 0
    on_cluster = Lakehouse(spark, str(tmp_path / "from-s3"))
    features = on_cluster.read(OUT).orderBy("seller_id")
    assert [r.seller_id for r in features.collect()] == ["s1", "s2", "s3"]
    assert_df_equality(features, lake.read(OUT).orderBy("seller_id"))
    for table in ("gold.als_user_ids", "gold.als_item_ids"):
        assert_df_equality(on_cluster.read(table), lake.read(table), ignore_row_order=True)
    # The factors: equal up to float rounding (the executors sum in another order).
    for table, key in (("gold.item_embeddings", "item_id"), ("gold.user_embeddings", "user_id")):
        got, want = (
            dict(t.read(table).select(key, "vector").collect()) for t in (on_cluster, lake)
        )
        assert got.keys() == want.keys() and got, table
        worst = max(abs(a - b) for k in got for a, b in zip(got[k], want[k], strict=True))
        assert worst < 1e-4, (table, worst)
    recs = [t.read("gold.user_recommendations").count() for t in (on_cluster, lake)]
    assert recs[0] == recs[1] > 0
    runs = on_cluster.read("ops.job_runs").where("job = 'als_embeddings'").collect()
    assert [r.status for r in runs] == ["SUCCEEDED"]
    assert json.loads(runs[0].table_counts)["_extra"]["als_checkpoints_removed"] > 0
    assert SECRET not in json.dumps([r.asDict() for r in runs], default=str)


def test_the_packed_environment_holds_the_project_and_its_config(packed_env, tmp_path):
    """No editable install, no checkout: the wheel's packages and conf/ (package data)
    are in the packed venv's site-packages; relative paths resolve against the working
    directory, and LAKEHOUSE_CONF_DIR points at a config folder that travels with a job."""
    unpacked = tmp_path / "environment"
    unpacked.mkdir()
    shutil.unpack_archive(packed_env, unpacked)
    code = (
        "import json, lakecore.config as c; r = c.load_run_config('query', c.JobConfig); "
        "print(json.dumps([c.INSTALLED, str(r.platform_file), r.env.lakehouse.root]))"
    )
    env = {k: v for k, v in without_checkout(os.environ).items() if k != CONF_DIR}
    python = str(unpacked / "bin" / "python")
    out = subprocess.run(
        [python, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    installed, platform_file, root = json.loads(out.stdout)
    site = unpacked / "lib" / "python3.11" / "site-packages"
    assert installed and platform_file == str(site / "conf" / "platform.yaml")
    assert root == str(tmp_path / "lakehouse")

    travels = tmp_path / "job" / "conf"  # its relative paths: relative to job/
    shutil.copytree(site / "conf", travels)
    out = subprocess.run(
        [python, "-c", code], cwd=tmp_path, env={**env, CONF_DIR: str(travels)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(out.stdout)[1:] == [
        str(travels / "platform.yaml"),
        str(tmp_path / "job" / "lakehouse"),
    ]
