"""What an Airflow task needs to spark-submit one job, read from the job's own YAML.

Imported by the DAG files at parse time, so it must not import pyspark (nor the
`jobs` package, which does): it validates only the `spark:` and `skew:`
sections of `conf/jobs/<job>.yaml` (the job validates the rest when it starts)
and turns them into `spark-submit --conf` with the same functions the session
factory uses (`lakecore.spark_conf`). Airflow itself is imported lazily, inside
the two functions that build Airflow objects.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ConfigDict

from lakecore.config import PROJECT_ROOT, JobConfig, conf_dir_for, load_run_config
from lakecore.jobmeta import TABLE_NAME, TABLE_PATTERN, JobMeta, catalog_table_names, read_job_meta
from lakecore.spark_conf import effective_spark_conf, platform_jars

# The Airflow connection that says where Spark runs (its host is the master:
# `local[2]`, `yarn`, `spark://host:7077`, `k8s://https://...`).
SPARK_CONN_ID = "spark_lakehouse"
APPLICATION = PROJECT_ROOT / "jobs" / "main.py"
# The executors' packed Python (devtools/executor_env.py), read where the DAG is parsed.
EXECUTOR_ENV_VARIABLE = "LAKEHOUSE_EXECUTOR_ENV"
ASSET_SCHEME = "x-lakehouse"  # `x-` marks a scheme Airflow has no normaliser for

log = logging.getLogger(__name__)

# Retries with exponential backoff: 2, 4, 8 minutes... capped at 30. Jobs are
# idempotent (replaceWhere on their dates, MERGE on keys), so a retry is safe.
# Exit codes a retry cannot fix fail the task at once (jobs.cli): 2 bad usage or
# config (nothing written), 3 a quality gate withheld the output.
NO_RETRY_EXIT_CODES = {
    2: "bad usage or config",
    3: "a quality gate failed",
    4: "a stream is unhealthy (ops.alerts has why)",
}
DEFAULT_RETRIES = 3
RETRY_DELAY = timedelta(minutes=2)
MAX_RETRY_DELAY = timedelta(minutes=30)


class _SubmitView(JobConfig):
    """A job's YAML seen from the scheduler: Spark and skew sections, the rest left to the job."""

    model_config = ConfigDict(extra="ignore")


def has_job(job: str) -> bool:
    """Whether a job is in this checkout (its module and YAML), without importing it."""
    return (PROJECT_ROOT / "jobs" / f"{job}.py").is_file() and (
        conf_dir_for() / "jobs" / f"{job}.yaml"
    ).is_file()


def spark_conf(job: str, env_name: str | None = None, conf_dir: Path | None = None) -> dict:
    """`--conf` of one job: Delta, the environment's Spark conf, the job's static and SQL conf."""
    return effective_spark_conf(
        load_run_config(job, _SubmitView, env_name=env_name, conf_dir=conf_dir)
    )


def _project_binary(name: str) -> str | None:
    path = PROJECT_ROOT / ".venv" / "bin" / name
    return str(path) if path.exists() else None


def submit_kwargs(
    job: str,
    *,
    dated: bool,
    args: tuple[str, ...] = (),
    date_template: str = "{{ ds }}",
    env_name: str | None = None,
    conf_dir: Path | None = None,
) -> dict[str, Any]:
    """SparkSubmitOperator arguments for `jobs/main.py <job> [--date {{ ds }}] [args]`."""
    date_args = ["--date", date_template] if dated else []
    python = _project_binary("python") or sys.executable
    kwargs: dict[str, Any] = {
        "conn_id": SPARK_CONN_ID,
        "application": str(APPLICATION),
        "application_args": [job, *date_args, *args],
        "conf": spark_conf(job, env_name, conf_dir),
        "jars": ",".join(platform_jars()),
        "name": f"lakehouse-{job}",
        # The job's Python: the project's interpreter, whatever the worker's PATH holds.
        "env_vars": {"PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python},
    }
    if packed := os.environ.get(EXECUTOR_ENV_VARIABLE):
        # A cluster without the checkout: executors unpack the packed environment
        # (make executor-env) and run its Python, as scripts/spark-submit does.
        if "://" not in packed:  # a local path: as seen where the DAG is parsed
            packed = str(Path(packed).resolve())
        kwargs["archives"] = f"{packed}#environment"
        kwargs["env_vars"]["PYSPARK_PYTHON"] = "./environment/bin/python"
    if (binary := _project_binary("spark-submit")) is not None:
        kwargs["spark_binary"] = binary
    return kwargs


def default_args(execution_timeout: timedelta) -> dict[str, Any]:
    return {
        "owner": "data-platform",
        "retries": DEFAULT_RETRIES,
        "retry_delay": RETRY_DELAY,
        "retry_exponential_backoff": True,
        "max_retry_delay": MAX_RETRY_DELAY,
        "execution_timeout": execution_timeout,
        "on_failure_callback": failure_notifiers(),
    }


ALERT_TIMEOUT = timedelta(minutes=10)


def alert_command(context: dict[str, Any]) -> list[str]:
    """`lakehouse alert` for one failed task, from its Airflow context."""
    ti = context.get("ti") or context.get("task_instance")
    attrs = {
        name: getattr(ti, name, None)
        for name in ("dag_id", "task_id", "run_id", "try_number", "map_index", "log_url")
    }
    attrs = {k: str(v) for k, v in attrs.items() if v is not None and v != -1}
    exc = context.get("exception")
    subject = f"{attrs.get('dag_id', '?')}.{attrs.get('task_id', '?')} failed"
    if "run_id" in attrs:
        subject += f" ({attrs['run_id']})"
    python = _project_binary("python") or sys.executable
    cmd = [python, "-m", "jobs", "alert", subject, "--source", "airflow", "--severity", "error"]
    if exc is not None:
        cmd += ["--detail", f"{type(exc).__name__}: {exc}"[-4000:]]
    return cmd + [f"--attr={k}={v}" for k, v in sorted(attrs.items())]


@cache
def _alert_notifier_class() -> type:
    from airflow.sdk import BaseNotifier

    class LakehouseAlertNotifier(BaseNotifier):
        """Records a failed task in ops.alerts (`lakehouse alert`, the worker's
        LAKEHOUSE_ENV/LAKEHOUSE_ROOT). Never raises: an alert that cannot be
        written is logged, and the task's own failure stands."""

        def notify(self, context: Any) -> None:
            cmd = alert_command(dict(context))
            try:
                done = subprocess.run(
                    cmd,
                    capture_output=True,
                    text=True,
                    timeout=ALERT_TIMEOUT.total_seconds(),
                    cwd=PROJECT_ROOT,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                log.error("could not record the alert in ops.alerts: %s", exc)
                return
            if done.returncode != 0:
                log.error(
                    "could not record the alert in ops.alerts (exit %d): %s",
                    done.returncode,
                    done.stderr[-2000:],
                )
            else:
                log.info("alert %s recorded in ops.alerts", done.stdout.strip())

    return LakehouseAlertNotifier


def failure_notifiers(env_name: str | None = None, conf_dir: Path | None = None) -> list[Any]:
    """What a failed task calls: the ops.alerts notifier, then the environment's
    `alerts.notifiers` (conf/platform.yaml), e.g. Slack or email."""
    from airflow.sdk import BaseNotifier
    from airflow.sdk.module_loading import import_string

    cfg = load_run_config("query", _SubmitView, env_name=env_name, conf_dir=conf_dir)
    notifiers = [_alert_notifier_class()()]
    for i, spec in enumerate(cfg.env.alerts.notifiers):
        where = f"{cfg.platform_file}: key 'alerts.notifiers[{i}].class'"
        try:
            cls = import_string(spec.class_)
        except ImportError as exc:
            raise ValueError(f"{where}: cannot import {spec.class_}: {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, BaseNotifier)):
            raise ValueError(f"{where}: {spec.class_} is not an Airflow notifier")
        notifiers.append(cls(**spec.kwargs))
    return notifiers


def table_uri(table: str) -> str:
    layer, _, name = table.partition(".")
    return f"{ASSET_SCHEME}://{layer}/{name}"


def table_asset(table: str) -> Any:
    """The Airflow Asset of one lakehouse table (`gold.x` -> x-lakehouse://gold/x)."""
    from airflow.sdk import Asset

    return Asset(name=table, uri=table_uri(table), group="lakehouse")


def tables_arg(args: tuple[str, ...]) -> tuple[str, ...]:
    """The tables named by a task's `--tables a,b` (or `--tables=a,b`)."""
    for i, arg in enumerate(args):
        if arg == "--tables" and i + 1 < len(args):
            return tuple(t for t in args[i + 1].split(",") if t)
        if arg.startswith("--tables="):
            return tuple(t for t in arg.split("=", 1)[1].split(",") if t)
    return ()


def task_outlets(meta: JobMeta, args: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The tables a task publishes: its job's declared writes, `<table>` patterns
    expanded with the task's `--tables`."""
    return meta.tables_written(tables_arg(args))


def silver_inputs(*jobs: str) -> str:
    """`--tables` for a conform that feeds `jobs`: the silver tables they declare they read."""
    tables = [t for job in jobs for t in read_job_meta(job).silver_reads()]
    return ",".join(dict.fromkeys(tables))


def exit_code_of(message: str) -> int | None:
    """spark-submit's exit code from the Spark provider's failure message."""
    match = re.search(r"Error code is: (\d+)", message)
    return int(match.group(1)) if match else None


@cache
def operator_class() -> type:
    """SparkSubmitOperator that fails without retry on the exit codes a retry cannot fix,
    and resolves the job's `--conf` when the task runs (the worker's LAKEHOUSE_ENV), not
    when the DAG file was parsed. With the OpenLineage provider installed, the task's run
    is the Spark job's parent (`spark.openlineage.parentJobName`, `parentRunId`...), so
    a lineage backend links each Spark run to the Airflow task that started it."""
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    class LakehouseSparkSubmitOperator(SparkSubmitOperator):
        def __init__(
            self, *, lakehouse_job: str, conf_job: str | None = None, **kwargs: Any
        ) -> None:
            kwargs.setdefault("openlineage_inject_parent_job_info", True)
            super().__init__(**kwargs)
            self.lakehouse_job = lakehouse_job
            self.conf_job = conf_job or lakehouse_job  # whose YAML gives the Spark settings

        def execute(self, context: Any) -> None:
            self.conf = spark_conf(self.conf_job, os.environ.get("LAKEHOUSE_ENV") or None)
            try:
                super().execute(context)
            except AirflowFailException:
                raise
            except AirflowException as exc:
                code = exit_code_of(str(exc))
                if code in NO_RETRY_EXIT_CODES:
                    raise AirflowFailException(
                        f"{self.lakehouse_job} exited {code} ({NO_RETRY_EXIT_CODES[code]}): "
                        "not retried"
                    ) from exc
                raise

    return LakehouseSparkSubmitOperator


def _writes(meta: JobMeta, canonical: tuple[str, ...]) -> set[str]:
    """Every table a job may write: `layer.<table>` stands for each canonical table."""
    out: set[str] = set()
    for entry in (alt.strip() for w in meta.writes for alt in w.split("|")):
        if TABLE_NAME.match(entry):
            out.add(entry)
        elif TABLE_PATTERN.match(entry):
            out |= {f"{entry.split('.', 1)[0]}.{t}" for t in canonical}
    return out


@cache
def writer_pools() -> dict[str, str]:
    """job -> its Airflow pool. Jobs that may write a common table share a pool (the
    connected groups of the "writes a table in common" relation, from each job's declared
    writes), and each pool has one slot: one writer at a time per table, whichever DAG
    runs it. Delta on S3 with the single-driver log store needs exactly that; on any
    storage it also keeps concurrent writers from failing each other's commits.
    A pool is named after the first job of its group (alphabetically)."""
    jobs = sorted(p.stem for p in (PROJECT_ROOT / "jobs").glob("*.py") if has_job(p.stem))
    canonical = catalog_table_names()
    writes = {job: _writes(read_job_meta(job), canonical) for job in jobs}
    group = {job: job for job in jobs}

    def root(job: str) -> str:
        while group[job] != job:
            job = group[job]
        return job

    for a in jobs:
        for b in jobs:
            if a < b and writes[a] & writes[b]:
                ra, rb = root(a), root(b)
                group[max(ra, rb)] = min(ra, rb)
    return {job: f"lakehouse_{root(job)}" for job in jobs}


def pool_definitions() -> dict[str, dict[str, Any]]:
    """The pools, in `airflow pools import` format (`make airflow-pools` loads them)."""
    members: dict[str, list[str]] = {}
    for job, pool in writer_pools().items():
        members.setdefault(pool, []).append(job)
    return {
        pool: {
            "slots": 1,
            "description": "one writer at a time for the tables of: " + ", ".join(jobs),
            "include_deferred": False,
        }
        for pool, jobs in sorted(members.items())
    }


async def deadline_missed(context: dict | None = None, **kwargs: Any) -> None:
    """Run by Airflow's triggerer when a DAG run is still going at its deadline."""
    run = (context or {}).get("dag_run")
    log.warning(
        "lakehouse deadline missed: %s (%s) not done %s after it was queued",
        kwargs.get("dag_id"), getattr(run, "run_id", run), kwargs.get("interval"),
    )  # fmt: skip


def deadline(dag_id: str, interval: timedelta) -> Any:
    """A DeadlineAlert: warn when a run of `dag_id` is not done `interval` after it was
    queued (a late daily table is noticed before its readers start)."""
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(
            "lakecore.airflow_conf.deadline_missed",
            kwargs={"dag_id": dag_id, "interval": str(interval)},
        ),
    )


def spark_job(
    job: str,
    *,
    args: tuple[str, ...] = (),
    date_template: str = "{{ ds }}",
    task_id: str | None = None,
    **operator_kw: Any,
) -> Any:
    """One SparkSubmitOperator running one platform job. Whether it takes `--date` and
    the tables it publishes (its outlets) come from the job's own SPEC (lakecore.jobmeta)."""
    meta = read_job_meta(job)
    operator_kw.setdefault("pool", writer_pools()[job])
    return operator_class()(
        lakehouse_job=job,
        task_id=task_id or job,
        outlets=[table_asset(t) for t in task_outlets(meta, args)],
        **submit_kwargs(job, dated=meta.dated, args=args, date_template=date_template),
        **operator_kw,
    )


def health_check(task_id: str = "stream_health", **operator_kw: Any) -> Any:
    """`lakehouse health` through spark-submit: every stream's lag against its alarms.
    It reads, and appends to ops.alerts only (as the failure notifier does): no pool."""
    kwargs = submit_kwargs("query", dated=False)
    kwargs.update(application_args=["health"], name="lakehouse-health")
    return operator_class()(
        lakehouse_job="health", conf_job="query", task_id=task_id, **kwargs, **operator_kw
    )


if __name__ == "__main__":  # `python -m lakecore.airflow_conf pools`: the pools as JSON
    if sys.argv[1:] != ["pools"]:
        sys.exit("usage: python -m lakecore.airflow_conf pools")
    print(json.dumps(pool_definitions(), indent=2))
