"""Whole-file faults: each ends in a clear error naming the file or a tested quarantine of
the file, never a partly published table (the truncated .gz is in test_ingest_job)."""

from __future__ import annotations

import gzip
import json

import pytest

from lakecore.io import Lakehouse
from tests.conftest import run_cli

pytestmark = pytest.mark.integration

COLUMNS = ("order_id", "order_item_id", "product_id", "seller_id", "price", "freight_value")
ROWS = [("o1", "1", "p1", "s1", "10.50", "1.00"), ("o2", "1", "p2", "s2", "20.00", "2.00")]


def _csv(columns, rows) -> str:
    return "\n".join(",".join(r) for r in [columns, *rows]) + "\n"


def _ingest(lake_root, folder, source="demo", table="order_items") -> int:
    return run_cli(
        lake_root, "run", "ingest", "--source", source, "--path", str(folder), "--tables", table
    )


def _last_run(lake: Lakehouse):
    return lake.read("ops.job_runs").orderBy("started_at", ascending=False).first()


def test_files_without_data_are_quarantined_whole_and_headers_are_read_by_name(
    spark, lake_root, tmp_path
):
    folder = tmp_path / "landing" / "order_items"
    folder.mkdir(parents=True)
    (folder / "a-good.csv").write_text(_csv(COLUMNS, ROWS[:1]))
    # Same table, columns in another order and an optional one left out: read by name.
    reordered = ("price", "seller_id", "order_item_id", "order_id")
    (folder / "b-reordered.csv").write_text(_csv(reordered, [("20.00", "s2", "1", "o2")]))
    empty = {
        "c-zero-bytes.csv": b"",
        "d-zero-bytes.csv.gz": b"",
        "e-empty-content.csv.gz": gzip.compress(b""),
        "f-header-only.csv": _csv(COLUMNS, []).encode(),
        "g-zero-bytes.json": b"",
    }
    for name, data in empty.items():
        (folder / name).write_bytes(data)

    assert _ingest(lake_root, folder.parent) == 0
    lake = Lakehouse(spark, str(lake_root))
    got = {
        (r.order_id, str(r.price), r.seller_id) for r in lake.read("bronze.order_items").collect()
    }
    assert got == {("o1", "10.50", "s1"), ("o2", "20.00", "s2")}
    quarantined = lake.read("quarantine.order_items").collect()
    assert {r.source_file.rsplit("/", 1)[-1]: r.reasons for r in quarantined} == {
        name: ["empty_file"] for name in empty
    }
    run = _last_run(lake)
    counts = json.loads(run.table_counts)
    assert counts["bronze.order_items"]["read"] == 2  # the file rows are not data rows
    assert sorted(
        p.rsplit("/", 1)[-1] for p in counts["_extra"]["files"]["order_items"]["empty"]
    ) == sorted(empty)

    # Read once: the ledger holds the empty files too, so a re-run has nothing new.
    assert _ingest(lake_root, folder.parent) == 0
    assert _last_run(lake).status == "NO_OP"
    assert lake.read("quarantine.order_items").count() == len(empty)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "no-seller.csv",
            _csv(("order_id", "order_item_id", "price"), [("o9", "1", "1.00")]).encode(),
            "header lacks required column(s) seller_id",
        ),
        (
            "utf16.csv",
            _csv(COLUMNS, ROWS).encode("utf-16"),
            "looks like UTF-16",
        ),
    ],
    ids=["header-without-a-required-column", "utf-16"],
)
def test_a_file_that_cannot_be_mapped_fails_naming_it_and_publishes_nothing(
    spark, lake_root, tmp_path, name, data, message
):
    folder = tmp_path / "landing" / "order_items"
    folder.mkdir(parents=True)
    (folder / "a-good.csv").write_text(_csv(COLUMNS, ROWS))
    (folder / name).write_bytes(data)
    assert _ingest(lake_root, folder.parent) == 1
    lake = Lakehouse(spark, str(lake_root))
    run = _last_run(lake)
    assert run.status == "FAILED"
    assert name in run.error_message and message in run.error_message, run.error_message
    assert not lake.exists("bronze.order_items")  # not even the good file's rows
    assert not lake.exists("ops.ingested_files")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Store,Dept,Date,IsHoliday", "train.csv.gz: header has 4 columns"),  # one missing
        # All five, two swapped: read by position, sales would land in is_holiday.
        ("Store,Dept,Date,IsHoliday,Weekly_Sales", "is not the store_sales source's columns"),
    ],
    ids=["another-column-count", "same-columns-another-order"],
)
def test_a_positional_file_whose_header_differs_fails_naming_it(
    spark, lake_root, tmp_path, header, message
):
    folder = tmp_path / "walmart"
    folder.mkdir()
    row = ",".join({"Store": "1", "Dept": "1", "Date": "2010-02-05", "IsHoliday": "FALSE",
                    "Weekly_Sales": "24924.50"}[c] for c in header.split(","))  # fmt: skip
    with gzip.open(folder / "train.csv.gz", "wt") as f:
        f.write(f"{header}\n{row}\n")
    assert _ingest(lake_root, folder, source="walmart", table="store_sales") == 1
    lake = Lakehouse(spark, str(lake_root))
    run = _last_run(lake)
    assert message in run.error_message and "Weekly_Sales" in run.error_message
    assert not lake.exists("bronze.store_sales")
