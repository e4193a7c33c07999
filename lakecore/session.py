"""The one SparkSession factory: Delta, the environment and the job's tuning.

Jobs never call `spark.conf.set` (one exception: `maintain_tables` turns Delta's
retention check off for the VACUUM the config allows, and restores it); everything
a job needs is declared in its YAML and applied here. Static settings (master,
jars, memory) only take effect when the JVM starts; runtime SQL settings are
re-applied on every call, and a key an earlier job's `spark.extra` set is given
back its earlier value, so a shared session (tests, notebooks, `make demo`) runs
each job with its own settings only.
"""

from __future__ import annotations

import logging
import os
import sys

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from lakecore.config import RunConfig
from lakecore.spark_conf import (
    DELTA_CONF,
    JARS_DIR,
    MissingJarsError,
    job_sql_conf,
    job_static_conf,
    lineage_file,
    platform_jars,
    static_spark_conf,
)

__all__ = [
    "DELTA_CONF",
    "JARS_DIR",
    "MissingJarsError",
    "get_spark",
    "job_sql_conf",
    "job_static_conf",
    "platform_jars",
]

log = logging.getLogger(__name__)


def _check_delta_on_classpath(spark: SparkSession) -> None:
    jvm = spark.sparkContext._jvm
    loader = jvm.org.apache.spark.util.Utils.getContextOrSparkClassLoader()
    try:
        jvm.java.lang.Class.forName("io.delta.tables.DeltaTable", False, loader)
    except Exception:
        raise MissingJarsError(
            "Delta is not on the driver classpath: under spark-submit use "
            "scripts/spark-submit (adds --jars from .jars/spark), or pass --jars yourself"
        ) from None


def _submitted_master() -> str | None:
    """The master spark-submit was given, or None when Python started Spark itself.

    spark-submit starts the JVM first and hands its gateway to Python in
    PYSPARK_GATEWAY_PORT; only then can a SparkConf read the submitted settings
    (an empty SparkConf() in plain Python knows none). Without that variable
    the JVM must not be started here: the builder passes static settings such
    as spark.driver.memory on its command line.
    """
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return None
    SparkContext._ensure_initialized()
    return SparkConf().get("spark.master", None)


# Keys a job's `spark.extra` set on the live session -> the value they had before it
# (None: not set, Spark's default applies). A shared session (tests, notebooks,
# `make demo`) runs several jobs: the next job gets those values back unless it sets
# the key itself, so one job's extras (deletion vectors on new tables, say) never leak
# into the jobs after it. `_EXTRA_SESSION` is the JVM session they were set on.
_EXTRA_BEFORE: dict[str, str | None] = {}
_EXTRA_SESSION: list = []


def _quiet_lineage_warnings(spark: SparkSession) -> None:
    """The OpenLineage listener's plan analysis is loud, and none of it affects a job:

    - it warns on every query that connectors with lineage extensions are loaded by
      another class loader (none here);
    - it logs, with a stack trace, each plan its visitors fail to re-analyse (window
      functions in the seller-risk and inventory plans) and swallows the error: that
      event lacks a column-level detail;
    - it logs an ERROR for each of Delta's internal queries that ends before the
      listener looked at it ("Query execution is null: can't emit event"), a WARN
      for each plan node it cannot name a dataset for (`ResolvedTable`), and one for
      each DDL statement, which has no Spark job ("No jobId found in context").

    Its plan analysis and facet builders (`io.openlineage.spark.agent.lifecycle`,
    `io.openlineage.spark3.agent.lifecycle`, `io.openlineage.spark.agent.facets`) are silenced; its emitter and transports
    (`io.openlineage.spark.agent.EventEmitter`, `io.openlineage.client.transports`)
    keep their levels, so an event that cannot be delivered is still logged.
    """
    jvm = spark.sparkContext._jvm
    levels = jvm.org.apache.logging.log4j.Level
    configurator = jvm.org.apache.logging.log4j.core.config.Configurator
    for analysis in (
        "io.openlineage.spark.agent.lifecycle",
        "io.openlineage.spark3.agent.lifecycle",
    ):
        configurator.setLevel(analysis, levels.OFF)
    configurator.setLevel("io.openlineage.client.circuitBreaker.NoOpCircuitBreaker", levels.OFF)


def _apply_hadoop_conf(active: SparkSession, run: RunConfig) -> None:
    """A running session (a notebook, `jobs demo`, the tests) gets the run's Hadoop
    settings too (`spark.hadoop.*`: the S3 endpoint, region...): Hadoop reads them
    when it first opens a file system, not only when the JVM starts."""
    hadoop = active.sparkContext._jsc.hadoopConfiguration()
    submitted = _submitted_keys()
    for key, value in static_spark_conf(run).items():
        if key.startswith("spark.hadoop.") and key not in submitted:
            hadoop.set(key.removeprefix("spark.hadoop."), value)


def _submitted_keys() -> frozenset[str]:
    """Settings given to spark-submit (`--conf`, `--driver-memory`...): they win over the
    YAML and the run's `--conf`. Read once, before this process adds its own."""
    if not _SUBMITTED:
        keys = frozenset()
        if "PYSPARK_GATEWAY_PORT" in os.environ:
            SparkContext._ensure_initialized()
            keys = frozenset(k for k, _ in SparkConf().getAll())
        _SUBMITTED.append(keys)
    return _SUBMITTED[0]


_SUBMITTED: list[frozenset[str]] = []


def _apply_job_conf(active: SparkSession, run: RunConfig) -> None:
    session = active._jsparkSession
    if not _EXTRA_SESSION or not session.equals(_EXTRA_SESSION[0]):
        _EXTRA_BEFORE.clear()  # another session: nothing of the earlier one's jobs is set
        _EXTRA_SESSION[:] = [session]
    # Keys the next job gets back unless it sets them too: its extras and its --conf.
    tracked = set(run.job.spark.extra) | set(run.spark_conf)
    for key in [k for k in _EXTRA_BEFORE if k not in tracked]:
        before = _EXTRA_BEFORE.pop(key)
        if before is None:
            active.conf.unset(key)
        else:
            active.conf.set(key, before)
    explicit = active.conf.getAll
    submitted = _submitted_keys()
    for key, value in {**job_sql_conf(run.job), **run.spark_conf}.items():
        if key in submitted:  # spark-submit's --conf wins
            if explicit.get(key) != value:
                log.info("%s=%s from spark-submit wins over %s", key, explicit.get(key), value)
            continue
        if key in run.spark_conf and not active.conf.isModifiable(key):
            if explicit.get(key) != value:  # set at start-up only, and the JVM runs already
                log.warning(
                    "--conf %s=%s: a start-up setting and this session is already running "
                    "(it has %s): not applied",
                    key, value, explicit.get(key),
                )  # fmt: skip
            continue
        active.conf.set(key, value)  # a key Spark refuses at runtime raises here
        if key in tracked and key not in _EXTRA_BEFORE:
            _EXTRA_BEFORE[key] = explicit.get(key)


def get_spark(run: RunConfig, app_name: str) -> SparkSession:
    """Build (or reuse) the session for one job run, with every setting it needs."""
    _submitted_keys()  # before this process sets anything of its own
    active = SparkSession.getActiveSession()
    if active is None:
        # Python workers use this interpreter (and its packages) unless told otherwise.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder.appName(app_name)
        # Under spark-submit the master comes from the command line: keep it.
        if _submitted_master() is None:
            builder = builder.master(run.env.spark.master)
        # spark-submit's own settings win, at start-up too (its --jars, --conf, memory).
        submitted = _submitted_keys()
        static = {k: v for k, v in static_spark_conf(run).items() if k not in submitted}
        events = static.get("spark.eventLog.dir", "")
        if static.get("spark.eventLog.enabled") == "true" and "://" not in events:
            os.makedirs(events.removeprefix("file:"), exist_ok=True)  # Spark does not create it
        if (lineage := lineage_file(run)) is not None:
            os.makedirs(os.path.dirname(lineage) or ".", exist_ok=True)
        for key, value in static.items():
            builder = builder.config(key, value)
        active = builder.getOrCreate()
        active.sparkContext.setLogLevel("WARN")
        _quiet_lineage_warnings(active)
        log.info("spark %s session started (master %s)", active.version, active.sparkContext.master)
        _check_delta_on_classpath(active)
    else:
        _apply_hadoop_conf(active, run)
    sizing = run.env.executor_sizing
    if sizing and run.job.spark.shuffle_partitions < sizing.total_cores:
        log.warning(
            "%s: spark.shuffle_partitions %d < the environment's %d executor cores: "
            "cores stay idle in every shuffle stage",
            app_name,
            run.job.spark.shuffle_partitions,
            sizing.total_cores,
        )
    _apply_job_conf(active, run)
    active.sparkContext.setJobGroup(app_name, app_name, interruptOnCancel=False)
    return active
