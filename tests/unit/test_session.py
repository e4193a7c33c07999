"""The session factory on a shared session: each job runs with its own settings only."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pyspark.errors import AnalysisException

from jobs.seller_risk_features import SellerRiskConfig
from lakecore.config import ConfigError, JobConfig, load_run_config
from lakecore.session import get_spark
from lakecore.spark_conf import effective_spark_conf, interactive_conf
from tests.conftest import TEST_ENV_OVERRIDES, TEST_JOB_OVERRIDES

CODEGEN = "spark.sql.codegen.hugeMethodLimit"
VECTORS = "spark.databricks.delta.properties.defaults.enableDeletionVectors"


def job_with(extra: dict[str, str], lake_root):
    cfg = load_run_config(
        "query",
        JobConfig,
        overrides=[*TEST_ENV_OVERRIDES, f"env.lakehouse.root={lake_root}", *TEST_JOB_OVERRIDES],
    )
    return replace(
        cfg,
        job=cfg.job.model_copy(update={"spark": cfg.job.spark.model_copy(update={"extra": extra})}),
    )


def test_a_jobs_extra_settings_do_not_leak_into_the_next_job(spark, tmp_path):
    get_spark(job_with({}, tmp_path), "before")  # whatever an earlier test's job left
    # Spark's default limit, and no default for new tables' deletion vectors.
    codegen, vectors = "65535", None
    assert (spark.conf.get(CODEGEN), spark.conf.get(VECTORS, None)) == (codegen, vectors)

    get_spark(job_with({CODEGEN: "8000", VECTORS: "true"}, tmp_path), "first")
    assert (spark.conf.get(CODEGEN), spark.conf.get(VECTORS)) == ("8000", "true")

    # The next job sets one of the two itself and gets the other back as it was.
    get_spark(job_with({VECTORS: "false"}, tmp_path), "second")
    assert (spark.conf.get(CODEGEN), spark.conf.get(VECTORS)) == (codegen, "false")

    get_spark(job_with({}, tmp_path), "third")
    assert (spark.conf.get(CODEGEN), spark.conf.get(VECTORS, None)) == (codegen, vectors)
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"  # the job's own settings


def test_a_setting_spark_refuses_fails_that_job_only(spark, tmp_path):
    static = "spark.sql.warehouse.dir"  # fixed when the session starts
    with pytest.raises(AnalysisException, match="CANNOT_MODIFY_STATIC_CONFIG"):
        get_spark(job_with({static: str(tmp_path)}, tmp_path), "refused")
    # The next job does not try to restore what was never changed.
    assert get_spark(job_with({}, tmp_path), "next") is spark


def run_with(lake_root, *conf: str, extra: dict[str, str] | None = None):
    cfg = load_run_config(
        "query",
        JobConfig,
        overrides=[*TEST_ENV_OVERRIDES, f"env.lakehouse.root={lake_root}", *TEST_JOB_OVERRIDES],
        spark_conf=list(conf),
    )
    if extra is None:
        return cfg
    spark_cfg = cfg.job.spark.model_copy(update={"extra": extra})
    return replace(cfg, job=cfg.job.model_copy(update={"spark": spark_cfg}))


def test_conf_wins_over_the_job_yaml_and_is_given_back_after_the_run(spark, tmp_path):
    shuffle = "spark.sql.shuffle.partitions"
    get_spark(run_with(tmp_path, f"{shuffle}=7", extra={CODEGEN: "8000"}), "conf")
    assert spark.conf.get(shuffle) == "7"  # over the YAML's (the test's) 2
    assert spark.conf.get(CODEGEN) == "8000"
    get_spark(run_with(tmp_path, f"{CODEGEN}=9000", extra={CODEGEN: "8000"}), "conf")
    assert spark.conf.get(CODEGEN) == "9000"  # --conf over the job's spark.extra
    get_spark(run_with(tmp_path), "next")
    assert (spark.conf.get(shuffle), spark.conf.get(CODEGEN)) == ("2", "65535")


def test_a_start_up_conf_on_a_running_session_is_reported_not_applied(spark, tmp_path, caplog):
    get_spark(run_with(tmp_path, "spark.executor.cores=3"), "late")
    assert "spark.executor.cores=3: a start-up setting" in caplog.text


def test_conf_keys_must_be_spark_settings(tmp_path):
    with pytest.raises(ConfigError, match=r"shuffle_partitions=3'.*not a Spark setting"):
        run_with(tmp_path, "shuffle_partitions=3")
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        run_with(tmp_path, "spark.sql.shuffle.partitions")


def test_effective_conf_precedence_and_interactive_defaults(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)  # as under a scheduler
    cfg = load_run_config(
        "seller_risk_features",
        SellerRiskConfig,
        env_name="standalone",
        overrides=["env.lakehouse.root=/lake", "env.spark.conf.spark.sql.shuffle.partitions=5"],
        spark_conf=["spark.sql.autoBroadcastJoinThreshold=1m"],
    )
    conf = effective_spark_conf(cfg)
    assert conf["spark.sql.shuffle.partitions"] == "8"  # the job's YAML over the environment
    assert conf["spark.sql.autoBroadcastJoinThreshold"] == "1m"  # --conf over the YAML's 64m
    assert conf["spark.eventLog.dir"] == "/lake/_spark_events"  # standalone keeps event logs
    assert conf["spark.ui.enabled"] == "false"  # not a terminal
    import ipykernel  # noqa: F401  (imported is not running in one: the notebook runner imports it)

    assert interactive_conf()["spark.ui.enabled"] == "false"
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert interactive_conf() == {
        "spark.ui.enabled": "true",
        "spark.ui.showConsoleProgress": "true",
    }


def test_lineage_listener_settings_follow_the_environment(tmp_path):
    def conf(*overrides):
        cfg = load_run_config(
            "query", JobConfig, overrides=["env.lakehouse.root=/lake", *overrides]
        )
        return effective_spark_conf(cfg)

    on = conf()
    assert on["spark.extraListeners"] == "io.openlineage.spark.agent.OpenLineageSparkListener"
    assert on["spark.openlineage.transport.location"] == "/lake/_lineage/openlineage.jsonl"
    # Another listener of the environment is kept beside it.
    both = conf("env.spark.conf.spark.extraListeners=com.example.Audit")
    assert both["spark.extraListeners"].split(",") == [
        "io.openlineage.spark.agent.OpenLineageSparkListener",
        "com.example.Audit",
    ]
    remote = conf("env.lakehouse.root=s3a://lake/x", "env.lakehouse.quality_docs=/tmp/q")
    assert remote["spark.openlineage.transport.type"] == "console"  # no local file on S3
    http = conf("env.lineage.transport=http", "env.lineage.url=http://marquez:5000")
    assert http["spark.openlineage.transport.url"] == "http://marquez:5000"
    assert "spark.extraListeners" not in conf("env.lineage.enabled=false")
    with pytest.raises(ConfigError, match=r"lineage.*needs 'url'"):
        conf("env.lineage.transport=http")


def test_the_class_archive_joins_the_driver_options_a_user_sets(tmp_path):
    from lakecore.spark_conf import _with_listeners, class_archive_conf

    assert class_archive_conf(tmp_path / "missing.jsa") == {}
    archive = tmp_path / "driver.jsa"
    archive.write_bytes(b"x")
    ours = class_archive_conf(archive)
    assert ours == {
        "spark.driver.extraJavaOptions": f"-XX:SharedArchiveFile={archive} "
        "-Xlog:cds=off -Xlog:cds+dynamic=off"
    }
    user = {"spark.driver.extraJavaOptions": "-Xss4m -Xlog:cds=off", "spark.x": "1"}
    merged = _with_listeners({}, ours, user)
    # joined, not replaced; a repeated option once; the user's come after ours (they win)
    assert merged["spark.driver.extraJavaOptions"] == (
        f"-XX:SharedArchiveFile={archive} -Xlog:cds=off -Xlog:cds+dynamic=off -Xss4m"
    )
    assert merged["spark.x"] == "1"
