"""The CLI users and the other jobs rely on: list, query (table/json/csv), tables."""

from __future__ import annotations

import json

import pytest

from jobs.cli import main as cli_main
from lakecore.io import Lakehouse
from tests.conftest import run_cli

pytestmark = pytest.mark.integration


def test_list_names_jobs_and_tables(capsys):
    assert cli_main(["list"]) == 0
    out = capsys.readouterr().out
    for job in ("generate_demo_data", "ingest", "conform"):
        assert f"\n{job}" in f"\n{out}"
    assert "writes: bronze.<table>, quarantine.<table>" in out


def test_demo_summary_is_on_unless_turned_off():
    from jobs.cli import build_parser
    from jobs.registry import registry

    parser = build_parser(registry())
    assert parser.parse_args(["demo"]).summary is True
    assert parser.parse_args(["demo", "--no-summary", "--kafka"]).summary is False


@pytest.fixture
def small_lake(spark, lake_root):
    lake = Lakehouse(spark, str(lake_root))
    lake.overwrite(
        spark.createDataFrame(
            [("s1", "SP", 3), ("s2", None, 0)], "seller_id string, state string, n int"
        ),
        "silver.sellers",
    )
    return lake_root


def test_query_json_one_object_per_row(small_lake, capsys):
    code = run_cli(
        small_lake, "query", "SELECT * FROM silver.sellers ORDER BY seller_id", "--format", "json"
    )
    assert code == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [json.loads(line) for line in lines] == [
        {"seller_id": "s1", "state": "SP", "n": 3},
        {"seller_id": "s2", "n": 0},
    ]


def test_query_csv(small_lake, capsys):
    code = run_cli(
        small_lake, "query", "SELECT seller_id, n FROM silver.sellers ORDER BY n", "--format", "csv"
    )
    assert code == 0
    assert capsys.readouterr().out.splitlines()[-3:] == ["seller_id,n", "s2,0", "s1,3"]


def test_query_error_is_reported(small_lake, capsys):
    assert run_cli(small_lake, "query", "SELECT * FROM silver.nope") == 1
    assert "nope" in capsys.readouterr().err


def test_tables_summary(small_lake, capsys):
    assert run_cli(small_lake, "tables") == 0
    out = capsys.readouterr().out
    assert "silver.sellers" in out and " 2 " in out


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM silver.sellers WHERE n > 0",
        "UPDATE silver.sellers SET n = 0",
        "INSERT INTO silver.sellers SELECT * FROM silver.sellers",
        "MERGE INTO silver.sellers t USING silver.sellers s ON t.seller_id = s.seller_id "
        "WHEN MATCHED THEN DELETE",
        "DROP TABLE silver.sellers",
        "ALTER TABLE silver.sellers ADD COLUMNS (x int)",
        "CREATE TABLE silver.other (a int) USING delta",
        "TRUNCATE TABLE silver.sellers",
        "VACUUM silver.sellers",
        "OPTIMIZE silver.sellers",
        "RESTORE TABLE silver.sellers TO VERSION AS OF 0",
        "SELECT 1; DROP TABLE silver.sellers",
        "WITH x AS (SELECT 1) INSERT INTO silver.sellers SELECT * FROM silver.sellers",
        "EXECUTE IMMEDIATE 'DELETE FROM silver.sellers'",
        "CREATE OR REPLACE TABLE silver.copy SHALLOW CLONE silver.sellers",
    ],
)
def test_query_refuses_what_changes_the_lake(spark, small_lake, sql, capsys):
    assert run_cli(small_lake, "query", sql) == 2
    err = capsys.readouterr().err
    assert "read-only" in err or "does not parse as one SQL statement" in err
    lake = Lakehouse(spark, str(small_lake))
    assert lake.count("silver.sellers") == 2
    assert lake.version("silver.sellers") == 0  # not a single commit


def test_query_allows_reads_and_writes_only_when_asked(spark, small_lake):
    reads = (
        "SHOW TABLES",
        "DESCRIBE HISTORY silver.sellers",
        "EXPLAIN SELECT 1",
        "SELECT seller_id, explode(array(1, 2)) FROM silver.sellers",
        "WITH s AS (SELECT * FROM silver.sellers) SELECT count(*) FROM s",
    )
    for sql in reads:
        assert run_cli(small_lake, "query", sql) == 0, sql
    assert run_cli(small_lake, "query", "DELETE FROM silver.sellers WHERE n = 0", "--write") == 0
    assert Lakehouse(spark, str(small_lake)).count("silver.sellers") == 1


def test_notebooks_open_the_lake_with_layer_table_names(spark, small_lake, monkeypatch):
    from notebooks.analytics import open_lake

    monkeypatch.setenv("LAKEHOUSE_ROOT", str(small_lake))
    lake = open_lake("test")
    assert lake.spark.sql("SELECT count(*) AS n FROM silver.sellers").first().n == 2


def test_alert_appends_to_ops_alerts(spark, lake_root, capsys):
    args = ["alert", "stock feed late", "--source", "ops", "--severity", "warning"]
    assert run_cli(lake_root, *args, "--attr", "feed=rfid", "--detail", "no file since 06:00") == 0
    alert_id = capsys.readouterr().out.strip().splitlines()[-1]
    (row,) = Lakehouse(spark, str(lake_root)).read("ops.alerts").collect()
    assert (row.alert_id, row.source, row.severity, row.subject) == (
        alert_id, "ops", "warning", "stock feed late",
    )  # fmt: skip
    assert (row.detail, row.attributes) == ("no file since 06:00", {"feed": "rfid"})
    assert run_cli(lake_root, "alert", "x", "--attr", "novalue") == 2
