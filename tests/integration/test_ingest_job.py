"""The ingest job end to end: malformed input ends in quarantine, nothing lost, re-runs idempotent."""

from __future__ import annotations

import gzip
import json
import os

import pytest
from pyspark.sql import functions as F

from lakecore.io import Lakehouse
from tests.conftest import run_cli

pytestmark = pytest.mark.integration

HEADER = "order_id,order_item_id,product_id,seller_id,shipping_limit_at,price,freight_value\n"
GOOD = [
    "o1,1,p1,s1,2025-01-01 10:00:00,10.5,1.0",
    "o1,2,p2,s1,2025-01-01 10:00:00,20,2.0",
    "o2,1,p1,s2,2025-01-02 10:00:00,10.5,1.5",
]
BAD = [
    "o3,1,p1,s2,2025-01-02 10:00:00,ten,1.5",  # wrong type
    ",1,p1,s2,2025-01-02 10:00:00,10,1.5",  # null key
    "o1,1,p9,s9,2025-01-01 10:00:00,99,9.0",  # duplicate id (o1,1)
    "o4,1,p1,s2,2025-01-02 10:00:00,-3,1.5",  # impossible value
    "o5,1,p1,s2,2025-01-02 10:00:00,10,1.5,surprise",  # extra column
    "o6,1,p1",  # truncated line
]


@pytest.fixture
def landing(tmp_path):
    folder = tmp_path / "landing"
    (folder / "order_items").mkdir(parents=True)
    with gzip.open(folder / "order_items" / "part-0.csv.gz", "wt") as f:
        f.write(HEADER + "\n".join(GOOD + BAD) + "\n")
    return folder


def _ingest(lake_root, landing, *extra):
    return run_cli(
        lake_root,
        "run",
        "ingest",
        "--source",
        "demo",
        "--path",
        str(landing),
        "--tables",
        "order_items",
        *extra,
    )


def test_malformed_rows_are_quarantined_with_reasons(spark, lake_root, landing):
    assert _ingest(lake_root, landing) == 0
    lake = Lakehouse(spark, str(lake_root))
    bronze = {
        (r.order_id, r.order_item_id): r.price for r in lake.read("bronze.order_items").collect()
    }
    assert bronze == {("o1", 1): 10.5, ("o1", 2): 20.0, ("o2", 1): 10.5}
    reasons = sorted(r.reason for r in lake.read("quarantine.order_items").collect())
    assert reasons == sorted(
        [
            "bad_type:price",
            "null_key:order_id",
            "duplicate_key",
            "impossible_value:price",
            "malformed_record",
            "malformed_record",
        ]
    )
    q = lake.read("quarantine.order_items")
    truncated = q.where(F.col("raw_record") == "o6,1,p1").first()
    assert truncated is not None and truncated.source_file.endswith("part-0.csv.gz")

    run = lake.read("ops.job_runs").where("job = 'ingest'").first()
    assert (run.status, run.rows_read, run.rows_written, run.rows_quarantined) == (
        "SUCCEEDED",
        len(GOOD) + len(BAD),
        len(GOOD),
        len(BAD),
    )
    assert json.loads(run.table_counts)["bronze.order_items"] == {
        "read": 9,
        "written": 3,
        "quarantined": 6,
    }


def test_reingest_is_idempotent(spark, lake_root, landing):
    assert _ingest(lake_root, landing) == 0
    lake = Lakehouse(spark, str(lake_root))
    first_bronze = sorted(lake.read("bronze.order_items").collect())
    first_q = sorted(lake.read("quarantine.order_items").drop("reasons").collect())
    versions = (lake.version("bronze.order_items"), lake.version("quarantine.order_items"))
    assert _ingest(lake_root, landing) == 0  # nothing new: nothing read, nothing written
    assert (lake.version("bronze.order_items"), lake.version("quarantine.order_items")) == versions
    assert _ingest(lake_root, landing, "--reprocess") == 0  # everything read again
    assert sorted(lake.read("bronze.order_items").collect()) == first_bronze
    assert sorted(lake.read("quarantine.order_items").drop("reasons").collect()) == first_q
    runs = lake.read("ops.job_runs").orderBy("ended_at").collect()
    assert [(r.status, r.rows_read) for r in runs] == [
        ("SUCCEEDED", 9),
        ("NO_OP", 0),
        ("SUCCEEDED", 9),
    ]


def _write_gz(path, lines):
    with gzip.open(path, "wt") as f:
        f.write(HEADER + "\n".join(lines) + "\n")


def test_only_new_files_are_read_and_a_changed_file_is_read_again(spark, lake_root, landing):
    assert _ingest(lake_root, landing) == 0
    lake = Lakehouse(spark, str(lake_root))
    # A new file: a new order line, and a key an earlier file already holds.
    _write_gz(
        landing / "order_items" / "part-1.csv.gz",
        ["o7,1,p1,s2,2025-01-03 10:00:00,7,1.0", "o1,1,p5,s5,2025-01-01 10:00:00,55,5.0"],
    )
    assert _ingest(lake_root, landing) == 0
    prices = {
        (r.order_id, r.order_item_id): r.price for r in lake.read("bronze.order_items").collect()
    }
    assert prices[("o7", 1)] == 7.0 and prices[("o1", 1)] == 10.5  # the earlier file's row stays
    dup = lake.read("quarantine.order_items").where("source_file LIKE '%part-1.csv.gz'").collect()
    assert [r.reason for r in dup] == ["duplicate_key"]
    last = lake.read("ops.job_runs").orderBy(F.col("ended_at").desc()).first()
    assert json.loads(last.table_counts)["_extra"]["files"]["order_items"] == {
        "new": 1,
        "changed": 0,
        "skipped": 1,
    }
    assert (last.rows_read, last.rows_written, last.rows_quarantined) == (2, 1, 1)
    # No key of the new file's clean rows was in bronze: appended, no MERGE over bronze.
    assert _last_operation(spark, lake, "bronze.order_items") == "WRITE"
    # The first file rewritten under its name (a corrected re-delivery): read again.
    _write_gz(landing / "order_items" / "part-0.csv.gz", [*GOOD[:2], GOOD[2].replace("10.5", "12")])
    assert _ingest(lake_root, landing) == 0
    prices = {
        (r.order_id, r.order_item_id): r.price for r in lake.read("bronze.order_items").collect()
    }
    assert prices[("o2", 1)] == 12.0 and prices[("o7", 1)] == 7.0
    # Its old quarantine rows were replaced by its new ones (none).
    assert (
        lake.read("quarantine.order_items").where("source_file LIKE '%part-0.csv.gz'").count() == 0
    )
    last = lake.read("ops.job_runs").orderBy(F.col("ended_at").desc()).first()
    assert json.loads(last.table_counts)["_extra"]["files"]["order_items"]["changed"] == 1
    assert _last_operation(spark, lake, "bronze.order_items") == "MERGE"  # its rows upserted
    # A late file sorting before part-1 holds o7 too: as a full read would, its row wins.
    # Its name has an apostrophe and a space (SQL quoting, URI encoding), and a bad row.
    late = landing / "order_items" / "part-00 o'neil.csv.gz"
    lines = ["o7,1,p2,s3,2025-01-03 10:00:00,8,1.0", "o8,1,p1,s2,2025-01-03 10:00:00,ten,1.0"]
    _write_gz(late, lines)
    assert _ingest(lake_root, landing) == 0
    rows = {(r.order_id, r.order_item_id): r for r in lake.read("bronze.order_items").collect()}
    assert (rows[("o7", 1)].price, rows[("o7", 1)].seller_id) == (8.0, "s3")
    assert (
        rows[("o7", 1)]._source_file.endswith(".csv.gz") and "neil" in rows[("o7", 1)]._source_file
    )
    assert len(rows) == 4
    assert _last_operation(spark, lake, "bronze.order_items") == "MERGE"
    # Re-delivered with another time: its quarantine row is replaced, not doubled.
    os.utime(late, (late.stat().st_atime, late.stat().st_mtime + 60))
    assert _ingest(lake_root, landing) == 0
    bad = lake.read("quarantine.order_items").where("source_file LIKE '%neil.csv.gz'").collect()
    assert [r.reason for r in bad] == ["bad_type:price"]


def _last_operation(spark, lake, name):
    return spark.sql(f"DESCRIBE HISTORY delta.`{lake.path(name)}` LIMIT 1").first().operation


def test_a_truncated_gzip_fails_the_run_and_publishes_nothing(spark, lake_root, tmp_path):
    folder = tmp_path / "cut" / "order_items"
    folder.mkdir(parents=True)
    lines = [f"o{i},1,p1,s1,2025-01-01 10:00:00,{i}.5,1.0" for i in range(20_000)]
    _write_gz(folder / "whole.csv.gz", lines[:10])
    _write_gz(folder / "cut.csv.gz", lines)
    data = (folder / "cut.csv.gz").read_bytes()
    (folder / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    code = run_cli(
        lake_root, "run", "ingest", "--source", "demo", "--path", str(folder.parent),
        "--tables", "order_items",
    )  # fmt: skip
    assert code == 1
    lake = Lakehouse(spark, str(lake_root))
    run = lake.read("ops.job_runs").first()
    assert run.status == "FAILED" and "cut.csv.gz" in run.error_message
    assert not lake.exists("bronze.order_items")  # not the rows before the cut, nor the others
    assert not lake.exists("ops.ingested_files")


def test_json_lines_and_parquet(spark, lake_root, tmp_path):
    folder = tmp_path / "mixed" / "order_items"
    folder.mkdir(parents=True)
    rows = [
        {"order_id": "j1", "order_item_id": 1, "seller_id": "s1", "price": 5.0},
        {"order_id": "j2", "order_item_id": "one", "seller_id": "s1", "price": 5.0},
    ]
    with gzip.open(folder / "a.json.gz", "wt") as f:
        f.write("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    spark.createDataFrame(
        [("p1", 1, "s2", 7.5)], "order_id string, order_item_id int, seller_id string, price double"
    ).write.parquet(str(folder / "pq"))
    for part in (folder / "pq").glob("*.parquet"):
        part.rename(folder / part.name)
    code = run_cli(
        lake_root,
        "run",
        "ingest",
        "--source",
        "demo",
        "--path",
        str(folder.parent),
        "--tables",
        "order_items",
    )
    assert code == 0
    lake = Lakehouse(spark, str(lake_root))
    assert sorted(r.order_id for r in lake.read("bronze.order_items").collect()) == ["j1", "p1"]
    assert sorted(r.reason for r in lake.read("quarantine.order_items").collect()) == [
        "bad_type:order_item_id",
        "malformed_record",
    ]


def test_missing_folder_fails_and_is_recorded(spark, lake_root, tmp_path):
    code = run_cli(lake_root, "run", "ingest", "--source", "demo", "--path", str(tmp_path / "nope"))
    assert code == 1
    run = Lakehouse(spark, str(lake_root)).read("ops.job_runs").first()
    assert run.status == "FAILED"
    assert "does not exist" in run.error_message


def test_new_rows_append_to_a_lake_written_with_older_column_types(spark, lake_root, landing):
    """A lake from before money became DECIMAL keeps `double` prices: a routine day's rows
    are appended cast to them, as the MERGE that wrote them before cast them."""
    assert _ingest(lake_root, landing) == 0
    lake = Lakehouse(spark, str(lake_root))
    path = lake.path("bronze.order_items")
    old = lake.read("bronze.order_items").withColumn("price", F.col("price").cast("double"))
    old.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    _write_gz(
        landing / "order_items" / "part-1.csv.gz", ["o7,1,p1,s2,2025-01-03 10:00:00,7.25,1.0"]
    )
    assert _ingest(lake_root, landing) == 0
    assert _last_operation(spark, lake, "bronze.order_items") == "WRITE"
    bronze = lake.read("bronze.order_items")
    assert dict(bronze.dtypes)["price"] == "double"
    assert bronze.where("order_id = 'o7'").first().price == 7.25
