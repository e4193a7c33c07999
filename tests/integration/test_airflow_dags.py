"""The Airflow DAGs in real Airflow 3: they parse, they are wired as designed, one really runs.

The end-to-end test runs `inventory_reconciliation_hourly` with `dag.test()`:
its Spark step is a real `spark-submit` (local[2], from the Airflow connection
in AIRFLOW_CONN_SPARK_LAKEHOUSE) on a copy of the demo lake's silver layer,
and must leave the same gold rows as the in-process demo run up to that day.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakecore.airflow_conf import has_job, spark_conf, table_uri, writer_pools
from lakecore.config import PROJECT_ROOT
from lakecore.io import Lakehouse

pytestmark = pytest.mark.integration

DAGS_DIR = PROJECT_ROOT / "airflow_dags"

# dag_id -> (timetable class, cron, {task: downstream}, {task: args}). Outlets and
# `--date` are not listed here: they come from each job's SPEC, and the test checks
# the tasks against the imported specs (lakecore.jobmeta reads them statically).
SELLER_RISK_SILVER = "order_items,orders,customers,reviews,products,sellers,after_sales"
DESIGN = {
    "seller_risk_daily": (
        "CronDataIntervalTimetable",
        "0 2 * * *",
        {
            "ingest": {"conform"},
            "conform": {"seller_risk_features"},
            "seller_risk_features": {"export_seller_events", "seller_risk_scoring"},
            "export_seller_events": set(),
            "seller_risk_scoring": set(),
        },
        {
            "ingest": ["ingest", "--source", "{{ params.source }}"],
            "conform": ["conform", "--tables", SELLER_RISK_SILVER],
            "seller_risk_features": ["seller_risk_features", "--date", "{{ ds }}"],
            "export_seller_events": ["publish_seller_events"],
            "seller_risk_scoring": ["seller_risk_scoring", "--date", "{{ ds }}"],
        },
    ),
    "seller_risk_model_weekly": (
        "CronTriggerTimetable",
        "0 5 * * 0",
        {"seller_risk_training_set": {"seller_risk_model"}, "seller_risk_model": set()},
        {
            "seller_risk_training_set": ["seller_risk_training_set"],
            "seller_risk_model": ["seller_risk_model"],
        },
    ),
    "inventory_reconciliation_hourly": (
        "CronDataIntervalTimetable",
        "15 * * * *",
        {
            "ingest": {"conform"},
            "conform": {"inventory_reconciliation"},
            "inventory_reconciliation": set(),
        },
        {
            "conform": ["conform", "--tables", "inventory_events,inventory_counts,items"],
            "inventory_reconciliation": ["inventory_reconciliation", "--date", "{{ ds }}"],
        },
    ),
    "interactions_weekly": (
        "CronDataIntervalTimetable",
        "0 1 * * 1",
        {"ingest": {"conform"}, "conform": set()},
        {"conform": ["conform", "--tables", "customers,products,interactions"]},
    ),
    "stream_health": (
        "CronTriggerTimetable",
        "*/5 * * * *",
        {"stream_health": set()},
        {"stream_health": ["health"]},
    ),
    "lakehouse_maintenance": (
        "CronTriggerTimetable",
        "30 4 * * *",
        {"maintain_tables": set()},
        {"maintain_tables": ["maintain_tables"]},
    ),
}


def expected_outlets(job: str, args: list[str]) -> set[str]:
    """What a task publishes, from the imported job spec (not from lakecore.jobmeta):
    its whole-table writes, and `layer.<table>` per table of the task's `--tables`."""
    from jobs.registry import registry

    tables = args[args.index("--tables") + 1].split(",") if "--tables" in args else []
    out = set()
    for entry in (alt.strip() for w in registry()[job].writes for alt in w.split("|")):
        layer, _, name = entry.partition(".")
        if name == "<table>":
            out |= {f"{layer}.{t}" for t in tables}
        elif name and " " not in entry and "*" not in name and ":" not in entry and "<" not in name:
            out.add(entry)
    return out


@pytest.fixture(scope="module")
def dagbag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_dag_files_parse_without_pyspark_pandas_or_metadata_access(airflow_home):
    # A fresh interpreter: the test process has pyspark loaded already.
    code = (
        "import sys; from airflow.dag_processing.dagbag import DagBag; "
        f"b = DagBag(dag_folder={str(DAGS_DIR)!r}); "
        "print(json.dumps({'errors': b.import_errors, 'dags': sorted(b.dags), "
        "'loaded': [m for m in ('pyspark', 'pandas') if m in sys.modules]}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", "import json; " + code],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["errors"] == {}
    assert out["loaded"] == []
    assert set(DESIGN) <= set(out["dags"])
    # No Variable or connection lookups at module level, and no pyspark/pandas import.
    for path in DAGS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
        }
        assert not {"Variable", "BaseHook", "Connection"} & names, path
        assert not {m for m in modules if m and m.split(".")[0] in ("pyspark", "pandas")}, path


def test_every_dag_is_wired_as_designed(dagbag):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    assert dagbag.import_errors == {}
    from jobs.registry import registry

    for dag_id, (timetable, cron, edges, args) in DESIGN.items():
        dag = dagbag.dags[dag_id]
        assert type(dag.timetable).__name__ == timetable, dag_id
        assert dag.timetable.expression == cron, dag_id
        assert dag.catchup is False and dag.max_active_runs == 1, dag_id
        assert dag.start_date.tzinfo is not None, dag_id
        assert {t.task_id: set(t.downstream_task_ids) for t in dag.tasks} == edges, dag_id
        for task in dag.tasks:
            assert isinstance(task, SparkSubmitOperator), task
            job = task.application_args[0]
            assert task.application == str(PROJECT_ROOT / "jobs" / "main.py")
            notifiers = [type(n).__name__ for n in task.on_failure_callback]
            assert notifiers[0] == "LakehouseAlertNotifier", task
            if job == "health":  # a check, not a job: reads, appends alerts, publishes nothing
                assert task.conf == spark_conf("query") and not task.outlets, task
                assert task.pool == "default_pool", task
                continue
            # one source of truth: the job's own YAML
            assert task.conf == spark_conf(job), task
            assert "delta-spark_" in task.jars
            assert task.retries == 3 and task.retry_exponential_backoff, task
            assert timedelta(0) < task.execution_timeout <= timedelta(hours=4), task
            assert {a.name for a in task.outlets} == expected_outlets(job, task.application_args)
            assert ("--date" in task.application_args) == registry()[job].dated, task
            assert all(a.uri == table_uri(a.name) for a in task.outlets)
            # one writer at a time per table: the job's pool, whatever DAG runs it
            assert task.pool == writer_pools()[job], task
            if task.task_id in args:
                assert task.application_args == args[task.task_id], task
        # an hourly run never overlaps the next one
    hourly = dagbag.dags["inventory_reconciliation_hourly"]
    assert all(t.execution_timeout < timedelta(hours=1) for t in hourly.tasks)
    # A late run warns (Airflow's triggerer calls lakecore.airflow_conf.deadline_missed).
    for dag_id, interval in [
        ("seller_risk_daily", timedelta(hours=4)),
        ("inventory_reconciliation_hourly", timedelta(minutes=50)),
    ]:
        (alert,) = dagbag.dags[dag_id].deadline
        assert alert.interval == interval, dag_id
        assert alert.callback.path == "lakecore.airflow_conf.deadline_missed", dag_id


def test_recommendations_wait_for_interactions_and_inventory(dagbag):
    if not has_job("als_embeddings"):
        assert "recommendations_weekly" not in dagbag.dags
        pytest.skip("jobs/als_embeddings.py is not in this checkout yet: no recommendations DAG")
    dag = dagbag.dags["recommendations_weekly"]
    cond = dag.timetable.asset_condition
    assert type(cond).__name__ == "AssetAll"
    assert {a.name for a in cond.objects} == {"silver.interactions", "gold.inventory_book_snapshot"}
    (task,) = dag.tasks
    assert task.application_args[:2] == ["als_embeddings", "--date"]
    assert "--set=als.evaluate=true" in task.application_args  # so the model gate applies
    assert {a.name for a in task.outlets} >= {"gold.user_recommendations", "gold.model_metrics"}
    # the assets it waits for are produced by the other DAGs
    producers = {a.name for d in dagbag.dags.values() for t in d.tasks for a in t.outlets}
    assert {"silver.interactions", "gold.inventory_book_snapshot"} <= producers


def _latest_reconciled_day(lake: Lakehouse):
    runs = lake.read("ops.job_runs").where(
        (F.col("job") == "inventory_reconciliation") & (F.col("status") == "SUCCEEDED")
    )
    return runs.agg(F.max("logical_end")).first()[0]


def test_hourly_inventory_dag_runs_spark_submit(
    airflow_home, airflow_db, dagbag, demo_lake, spark, tmp_path, monkeypatch
):
    day = _latest_reconciled_day(demo_lake)
    root = tmp_path / "lake"
    shutil.copytree(Path(demo_lake.root) / "silver", root / "silver")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_LAKEHOUSE", json.dumps({"conn_type": "spark", "host": "local[2]"})
    )
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(root))

    dag = dagbag.dags["inventory_reconciliation_hourly"]
    # Airflow 3.3.2's dag.test() cannot finish a run of a DAG with a DeadlineAlert (it
    # looks up the un-serialized alerts as ids: StatementError "'dict' object has no
    # attribute 'hex'"); the scheduler handles them. The alerts are checked in
    # test_every_dag_is_wired_as_designed.
    monkeypatch.setattr(dag, "deadline", None)
    # The landing files were ingested and conformed by the demo: only the Spark
    # job under test runs; its neighbours are marked done.
    run = dag.test(
        logical_date=datetime(day.year, day.month, day.day, 12, 15, tzinfo=UTC),
        mark_success_pattern="ingest|conform",
    )
    assert run.state == "success"

    lake = Lakehouse(spark, str(root))
    # Both are the first reconciliation of the lake, up to the same day: every
    # count is reconciled from the same ledger, so the rows must be the same.
    cols = ["count_id", "book_qty", "counted_qty", "variance_units", "variance_value", "status"]
    got = lake.read("gold.inventory_discrepancies").select(*cols)
    want = demo_lake.read("gold.inventory_discrepancies").select(*cols)
    assert got.where(F.col("count_id").isNotNull()).count() > 100
    assert sorted(got.collect()) == sorted(want.collect())
    last = lake.read("ops.job_runs").first()
    assert (last.job, last.status, str(last.logical_start)) == (
        "inventory_reconciliation",
        "SUCCEEDED",
        str(day),
    )
    # Lineage: the Spark job's events name the Airflow task's run as their parent, and
    # the OpenLineage provider reported that same run (its own events, from Airflow).
    spark_events = [json.loads(x) for x in (root / "_lineage" / "openlineage.jsonl").open()]
    parents = {  # (a query's parent is the Spark application; the application's, Airflow's)
        (p["job"]["name"], p["run"]["runId"])
        for e in spark_events
        if (p := e["run"].get("facets", {}).get("parent"))
        and p["job"]["namespace"] == "lakehouse-airflow"
    }
    task = "inventory_reconciliation_hourly.inventory_reconciliation"
    ((name, parent_run),) = parents
    assert name == task
    airflow_events = [json.loads(x) for x in (airflow_home / "openlineage.jsonl").open()]
    runs = {(e["job"]["name"], e["run"]["runId"], e["eventType"]) for e in airflow_events}
    assert (task, parent_run, "COMPLETE") in runs


def test_a_config_error_fails_the_task_at_once_without_retry(airflow_home, monkeypatch):
    """spark-submit exits 2 (a mistyped key): the task fails for good, it is not retried."""
    from airflow.sdk.exceptions import AirflowFailException

    from lakecore.airflow_conf import spark_job

    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_LAKEHOUSE", json.dumps({"conn_type": "spark", "host": "local[1]"})
    )
    # Called directly, without a task instance to name as the lineage parent.
    task = spark_job(
        "conform",
        args=("--set", "conform.parallel_tabels=2"),
        openlineage_inject_parent_job_info=False,
    )
    with pytest.raises(AirflowFailException, match=r"conform exited 2 \(bad usage or config\)"):
        task.execute(context={})


class _FailedTask:
    dag_id, task_id, run_id, try_number, map_index = "d", "t", "manual__1", 2, -1


def test_a_failed_task_is_recorded_in_ops_alerts(airflow_home, spark, tmp_path, monkeypatch):
    """The failure notifier every task has: `lakehouse alert` in a fresh process, as on a worker."""
    from lakecore.airflow_conf import _alert_notifier_class

    monkeypatch.setenv("LAKEHOUSE_ROOT", str(tmp_path / "lake"))
    context = {"ti": _FailedTask(), "exception": RuntimeError("spark-submit exited 1")}
    _alert_notifier_class()().notify(context)

    (row,) = Lakehouse(spark, str(tmp_path / "lake")).read("ops.alerts").collect()
    assert (row.source, row.severity, row.subject) == ("airflow", "error", "d.t failed (manual__1)")
    assert row.detail == "RuntimeError: spark-submit exited 1"
    assert row.attributes == {
        "dag_id": "d",
        "task_id": "t",
        "run_id": "manual__1",
        "try_number": "2",
    }


def test_configured_notifiers_are_added_and_a_wrong_class_names_the_key(airflow_home, tmp_path):
    import yaml

    from lakecore.airflow_conf import failure_notifiers

    conf_dir = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", conf_dir)
    platform = yaml.safe_load((conf_dir / "platform.yaml").read_text())
    smtp = "airflow.providers.smtp.notifications.smtp.SmtpNotifier"
    notifier = {"class": smtp, "kwargs": {"to": "data-oncall@example.com"}}
    platform["environments"]["local"]["alerts"] = {"notifiers": [notifier]}
    (conf_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    ops, email = failure_notifiers(conf_dir=conf_dir)
    assert type(ops).__name__ == "LakehouseAlertNotifier"
    assert type(email).__name__ == "SmtpNotifier" and email.to == "data-oncall@example.com"

    notifier["class"] = "lakecore.config.JobConfig"
    (conf_dir / "platform.yaml").write_text(yaml.safe_dump(platform))
    with pytest.raises(ValueError, match=r"alerts.notifiers\[0\].class'.*not an Airflow notifier"):
        failure_notifiers(conf_dir=conf_dir)
