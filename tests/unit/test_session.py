"""The session factory on a shared session: each job runs with its own settings only."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pyspark.errors import AnalysisException

from lakecore.config import JobConfig, load_run_config
from lakecore.session import get_spark
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
