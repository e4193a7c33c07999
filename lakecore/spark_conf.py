"""Spark settings of one job run, as plain strings: no pyspark import.

The session factory (`lakecore.session.get_spark`) applies them when a job
builds its session; the Airflow DAGs (`lakecore.airflow_conf`) pass the same
values to `spark-submit --conf` at parse time, where pyspark must not be
imported. One computation, two users: the YAML stays the one source of truth.
"""

from __future__ import annotations

import glob
import sys
from pathlib import Path

from lakecore.config import PROJECT_ROOT, JobConfig, RunConfig

JARS_DIR = PROJECT_ROOT / ".jars" / "spark"
# The driver JVM's class-data-sharing archive (`make setup`: lakecore/class_archive.py):
# the classes a job loads, pre-parsed, so a job's JVM starts ~4 s sooner. A missing,
# stale or foreign archive is ignored by the JVM (silently: -Xlog:cds=off).
CLASS_ARCHIVE = PROJECT_ROOT / ".jars" / "spark-driver.jsa"
JOINED = {"spark.extraListeners": ",", "spark.driver.extraJavaOptions": " "}

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


class MissingJarsError(RuntimeError):
    pass


def platform_jars(jars_dir: Path = JARS_DIR) -> list[str]:
    """Jars resolved by Maven at set-up (`make setup`); never downloaded at start."""
    jars = sorted(glob.glob(str(jars_dir / "*.jar")))
    if not any(Path(j).name.startswith("delta-spark_") for j in jars):
        raise MissingJarsError(
            f"no Delta jar in {jars_dir}: run `make setup` (Maven resolves build/pom.xml)"
        )
    return jars


def job_sql_conf(job: JobConfig) -> dict[str, str]:
    """Runtime SQL settings of one job (safe to change on a live session)."""
    s = job.spark
    conf = {
        "spark.sql.shuffle.partitions": str(s.shuffle_partitions),
        "spark.sql.autoBroadcastJoinThreshold": s.broadcast_threshold,
        "spark.sql.adaptive.enabled": str(s.aqe.enabled).lower(),
        "spark.sql.adaptive.coalescePartitions.enabled": str(s.aqe.coalesce_partitions).lower(),
        "spark.sql.adaptive.coalescePartitions.parallelismFirst": str(
            s.aqe.parallelism_first
        ).lower(),
        "spark.sql.adaptive.advisoryPartitionSizeInBytes": s.aqe.advisory_partition_size,
        "spark.sql.adaptive.skewJoin.enabled": str(s.aqe.skew_join).lower(),
        "spark.sql.adaptive.skewJoin.skewedPartitionFactor": str(s.aqe.skew_join_factor),
        "spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes": s.aqe.skew_join_threshold,
    }
    conf.update(s.extra)
    return conf


def job_static_conf(job: JobConfig) -> dict[str, str]:
    """Settings that only take effect when the JVM starts (memory, parallelism)."""
    s = job.spark
    conf: dict[str, str] = {}
    if s.default_parallelism:
        conf["spark.default.parallelism"] = str(s.default_parallelism)
    if s.driver_memory:
        conf["spark.driver.memory"] = s.driver_memory
    if s.executor_memory:
        conf["spark.executor.memory"] = s.executor_memory
    return conf


EVENT_LOG_FOLDER = "_spark_events"


def in_notebook() -> bool:
    """Whether this Python is a Jupyter kernel (not merely a process that imported one)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def interactive_conf() -> dict[str, str]:
    """Defaults an environment or job can override: the Spark UI for a person at a
    terminal or a notebook, console progress bars only for a terminal."""
    tty = sys.stderr.isatty()
    return {
        "spark.ui.enabled": str(tty or in_notebook()).lower(),
        "spark.ui.showConsoleProgress": str(tty).lower(),
    }


def event_log_conf(run: RunConfig) -> dict[str, str]:
    if not run.env.spark.event_log:
        return {}
    return {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": f"{run.lake_root}/{EVENT_LOG_FOLDER}",
    }


LINEAGE_LISTENER = "io.openlineage.spark.agent.OpenLineageSparkListener"
LINEAGE_FILE = "_lineage/openlineage.jsonl"


def lineage_file(run: RunConfig) -> str | None:
    """Where the file transport appends events (None: not the file transport)."""
    lineage = run.env.lineage
    if not lineage.enabled or lineage.transport != "file":
        return None
    if lineage.location:
        return lineage.location
    root = run.lake_root.removeprefix("file:")
    return None if "://" in root else f"{root}/{LINEAGE_FILE}"


def lineage_conf(run: RunConfig) -> dict[str, str]:
    """The OpenLineage listener's settings: one event per job start and end, with the
    tables read and written (file, console or http transport; `env.lineage`). A remote
    lake without a `location` logs the events (console): the file transport writes with
    local file IO."""
    lineage = run.env.lineage
    if not lineage.enabled:
        return {}
    conf = {
        "spark.extraListeners": LINEAGE_LISTENER,
        "spark.openlineage.namespace": lineage.namespace,
    }
    if lineage.transport == "http":
        conf["spark.openlineage.transport.type"] = "http"
        conf["spark.openlineage.transport.url"] = str(lineage.url)
    elif (location := lineage_file(run)) is not None:
        conf["spark.openlineage.transport.type"] = "file"
        conf["spark.openlineage.transport.location"] = location
    else:
        conf["spark.openlineage.transport.type"] = "console"
    return conf


def _with_listeners(conf: dict[str, str], *more: dict[str, str]) -> dict[str, str]:
    """`conf` updated by `more`; `spark.extraListeners` lists and the driver's JVM options
    are joined, not replaced (a later JVM option wins over an earlier one)."""
    out = dict(conf)
    for extra in more:
        for key, value in extra.items():
            sep = JOINED.get(key)
            if sep is not None and out.get(key):
                names = [*out[key].split(sep), *value.split(sep)]
                value = sep.join(dict.fromkeys(n.strip() for n in names if n.strip()))
            out[key] = value
    return out


def class_archive_conf(archive: Path = CLASS_ARCHIVE) -> dict[str, str]:
    """The driver JVM reads the class archive when `make setup` built one."""
    if not archive.is_file():
        return {}
    options = f"-XX:SharedArchiveFile={archive} -Xlog:cds=off -Xlog:cds+dynamic=off"
    return {"spark.driver.extraJavaOptions": options}


def effective_spark_conf(run: RunConfig) -> dict[str, str]:
    """Every Spark setting of one run, lowest precedence first: interactive defaults,
    the environment, its event logs, the job's YAML (static then SQL), the run's
    `--conf`. (A spark-submit `--conf` wins over all of them: lakecore.session.)"""
    return _with_listeners(
        {**DELTA_CONF, **interactive_conf()},
        class_archive_conf(),
        lineage_conf(run),
        run.env.s3.spark_conf() if run.env.s3 else {},
        run.env.spark.conf,
        event_log_conf(run),
        job_static_conf(run.job),
        job_sql_conf(run.job),
        run.spark_conf,
    )


def static_spark_conf(run: RunConfig) -> dict[str, str]:
    """What a new session starts with (lakecore.session): the start-up settings."""
    return _with_listeners(
        {
            **DELTA_CONF,
            "spark.jars": ",".join(platform_jars()),
            "spark.sql.warehouse.dir": f"{run.lake_root}/_warehouse",
            **(run.env.executor_sizing.spark_conf() if run.env.executor_sizing else {}),
            **interactive_conf(),
        },
        class_archive_conf(),
        lineage_conf(run),
        run.env.s3.spark_conf() if run.env.s3 else {},
        run.env.spark.conf,
        event_log_conf(run),
        job_static_conf(run.job),
        run.spark_conf,
    )
