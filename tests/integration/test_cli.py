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
