"""The Airflow tasks' spark-submit settings come from the job YAML, without pyspark."""

from __future__ import annotations

import subprocess
import sys

from lakecore.airflow_conf import has_job, spark_conf, submit_kwargs, table_uri
from lakecore.config import PROJECT_ROOT


def test_conf_is_the_job_yaml_and_the_environment(tmp_path):
    conf = spark_conf("seller_risk_features")
    # conf/jobs/seller_risk_features.yaml
    assert conf["spark.sql.shuffle.partitions"] == "8"
    assert conf["spark.sql.autoBroadcastJoinThreshold"] == "64m"
    assert conf["spark.sql.adaptive.coalescePartitions.enabled"] == "false"
    assert conf["spark.sql.adaptive.skewJoin.skewedPartitionFactor"] == "3.0"
    # conf/platform.yaml (local) and Delta
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    # the master is the Airflow connection's business, not the conf's
    assert "spark.master" not in conf


def test_a_changed_yaml_changes_the_task(tmp_path):
    import shutil

    conf_dir = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", conf_dir)
    f = conf_dir / "jobs" / "inventory_reconciliation.yaml"
    text = f.read_text()
    assert "shuffle_partitions:" in text
    lines = [
        "  shuffle_partitions: 3" if line.strip().startswith("shuffle_partitions:") else line
        for line in text.splitlines()
    ]
    f.write_text("\n".join(lines) + "\n")
    kw = submit_kwargs("inventory_reconciliation", dated=True, conf_dir=conf_dir)
    assert kw["conf"]["spark.sql.shuffle.partitions"] == "3"
    assert kw["application_args"] == ["inventory_reconciliation", "--date", "{{ ds }}"]
    assert kw["application"] == str(PROJECT_ROOT / "jobs" / "main.py")
    jars = kw["jars"].split(",")
    assert any("/delta-spark_" in j for j in jars), jars


def test_undated_job_gets_no_date_and_keeps_its_args():
    kw = submit_kwargs("ingest", dated=False, args=("--source", "demo"))
    assert kw["application_args"] == ["ingest", "--source", "demo"]
    assert kw["conn_id"] == "spark_lakehouse"


def test_a_packed_executor_environment_is_shipped_as_an_archive(monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_EXECUTOR_ENV", raising=False)
    assert "archives" not in submit_kwargs("ingest", dated=False)
    monkeypatch.setenv("LAKEHOUSE_EXECUTOR_ENV", "/opt/lakehouse/executor-env.tar.gz")
    kw = submit_kwargs("ingest", dated=False)
    assert kw["archives"] == "/opt/lakehouse/executor-env.tar.gz#environment"
    assert kw["env_vars"]["PYSPARK_PYTHON"] == "./environment/bin/python"
    assert kw["env_vars"]["PYSPARK_DRIVER_PYTHON"].endswith("python")
    monkeypatch.setenv("LAKEHOUSE_EXECUTOR_ENV", "s3a://jobs/executor-env.tar.gz")
    assert submit_kwargs("ingest", dated=False)["archives"] == (
        "s3a://jobs/executor-env.tar.gz#environment"
    )


def test_job_presence_and_asset_uris():
    assert has_job("seller_risk_features")
    assert not has_job("no_such_job")
    assert table_uri("gold.seller_risk_features") == "x-lakehouse://gold/seller_risk_features"


def test_parse_time_module_imports_neither_pyspark_nor_pandas():
    code = (
        "import sys, lakecore.airflow_conf as a; a.submit_kwargs('ingest', dated=False); "
        "bad = [m for m in ('pyspark', 'pandas', 'airflow') if m in sys.modules]; "
        "assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_exit_codes_a_retry_cannot_fix_are_read_from_the_providers_message():
    from lakecore.airflow_conf import NO_RETRY_EXIT_CODES, exit_code_of

    msg = "Cannot execute: spark-submit --master local[2] jobs/main.py ingest. Error code is: 2."
    assert exit_code_of(msg) == 2 and 2 in NO_RETRY_EXIT_CODES and 3 in NO_RETRY_EXIT_CODES
    assert exit_code_of("Cannot execute: x. Error code is: 1.") == 1
    assert exit_code_of("something else") is None


def test_jobs_that_write_a_common_table_share_a_one_slot_pool():
    from lakecore.airflow_conf import pool_definitions, writer_pools

    pools = writer_pools()
    # conform rewrites silver.inventory_events, inventory_reconciliation adds to it,
    # walmart_inventory maps a source into it: one writer at a time.
    assert pools["conform"] == pools["inventory_reconciliation"] == pools["walmart_inventory"]
    # both streams append to ops.stream_progress
    assert pools["seller_risk_stream"] == pools["inventory_stream"]
    assert len({pools["ingest"], pools["conform"], pools["seller_risk_features"]}) == 3
    defs = pool_definitions()
    assert set(defs) == set(pools.values())
    assert all(d["slots"] == 1 for d in defs.values())
    assert "inventory_reconciliation" in defs[pools["conform"]]["description"]


def test_a_missed_deadline_is_logged(caplog):
    import asyncio

    from lakecore.airflow_conf import deadline_missed

    asyncio.run(deadline_missed({"dag_run": None}, dag_id="seller_risk_daily", interval="4:00:00"))
    assert "deadline missed: seller_risk_daily" in caplog.text
