"""maintain_tables compacts and vacuums real Delta tables without changing a row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from delta.tables import DeltaTable

from lakecore.config import PROJECT_ROOT
from lakecore.io import Lakehouse
from tests.conftest import run_cli

pytestmark = pytest.mark.integration

SHORT = ["--set=maintain_tables.vacuum_retention_hours=0",
         "--set=maintain_tables.allow_short_retention=true"]  # fmt: skip


def conf_with(tmp_path: Path, **section) -> Path:
    conf = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", conf)
    path = conf / "jobs" / "maintain_tables.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["maintain_tables"].update(section)
    path.write_text(yaml.safe_dump(doc))
    return conf


def parquet_files(lake: Lakehouse, name: str) -> int:
    return sum(1 for _ in Path(lake.path(name)).rglob("*.parquet") if "_delta_log" not in _.parts)


def small_tables(spark, lake: Lakehouse) -> None:
    for i in range(6):  # six appends: six small files
        rows = [(i * 10 + j, f"v{i * 10 + j}") for j in range(10)]
        lake.append(spark.createDataFrame(rows, "k long, v string").coalesce(1), "gold.appended")
    for i in range(3):  # overwritten twice: the first two versions' files are unreferenced
        rows = [(j, i) for j in range(5)]
        lake.overwrite(
            spark.createDataFrame(rows, "k long, gen int").coalesce(1), "silver.rewritten"
        )
    for i in range(4):
        rows = [(j, i, j * i) for j in range(8)]
        lake.append(
            spark.createDataFrame(rows, "a long, b int, c long").coalesce(1), "gold.zordered"
        )


def last_run(lake: Lakehouse):
    from pyspark.sql import functions as F

    row = lake.read("ops.job_runs").orderBy(F.desc("ended_at")).first()
    return row, json.loads(row.table_counts).get("_extra", {})


def test_compacts_vacuums_and_z_orders_every_table_without_changing_rows(
    spark, tmp_path, lake_root
):
    lake = Lakehouse(spark, str(lake_root))
    small_tables(spark, lake)
    names = ("gold.appended", "silver.rewritten", "gold.zordered")
    before = {n: sorted(lake.read(n).collect()) for n in names}
    assert [parquet_files(lake, n) for n in names] == [6, 3, 4]

    conf = conf_with(tmp_path, zorder={"gold.zordered": ["a", "b"]})
    assert run_cli(lake_root, "run", "maintain_tables", "--conf-dir", str(conf), *SHORT) == 0

    assert {n: sorted(lake.read(n).collect()) for n in names} == before
    # One file each in the current version, and nothing else left on disk.
    assert [parquet_files(lake, n) for n in names] == [1, 1, 1]
    run, extra = last_run(lake)
    assert run.status == "SUCCEEDED" and extra["failed"] == {}
    done = extra["maintained"]
    assert set(done) == set(names)  # every Delta table of the lake (no run record yet)
    assert done["gold.appended"]["files"] == [6, 1]
    assert done["gold.appended"]["files_on_disk"] == [6, 1]
    assert done["silver.rewritten"]["files"] == [1, 1]
    assert done["silver.rewritten"]["files_on_disk"] == [3, 1]
    ops = DeltaTable.forPath(spark, lake.path("gold.zordered")).history().collect()
    optimize = [r for r in ops if r.operation == "OPTIMIZE"]
    assert len(optimize) == 1 and json.loads(optimize[0].operationParameters["zOrderBy"]) == [
        "a",
        "b",
    ]


def test_one_failing_table_is_reported_and_the_others_are_maintained(spark, tmp_path, lake_root):
    lake = Lakehouse(spark, str(lake_root))
    small_tables(spark, lake)
    conf = conf_with(
        tmp_path,
        tables=["gold.appended", "gold.zordered"],
        zorder={"gold.zordered": ["no_such_column"]},
    )
    assert run_cli(lake_root, "run", "maintain_tables", "--conf-dir", str(conf), *SHORT) == 1
    run, extra = last_run(lake)
    assert run.status == "FAILED" and "gold.zordered" in run.error_message
    assert set(extra["failed"]) == {"gold.zordered"}
    assert extra["maintained"]["gold.appended"]["files_on_disk"] == [6, 1]
    assert parquet_files(lake, "gold.zordered") == 4  # untouched
    assert "silver.rewritten" not in extra["maintained"]  # not listed in `tables`


def test_a_table_that_does_not_exist_stops_the_run_before_any_table_is_touched(
    spark, tmp_path, lake_root
):
    lake = Lakehouse(spark, str(lake_root))
    for i in range(2):
        lake.append(spark.createDataFrame([(i,)], "k long").coalesce(1), "gold.appended")
    conf = conf_with(tmp_path, tables=["gold.appended", "gold.no_such_table"])
    assert run_cli(lake_root, "run", "maintain_tables", "--conf-dir", str(conf), *SHORT) == 1
    run, extra = last_run(lake)
    assert "no Delta table ['gold.no_such_table']" in run.error_message
    assert "maintained" not in extra
    assert parquet_files(lake, "gold.appended") == 2
