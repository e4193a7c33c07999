"""A batch replayed after every write of its first attempt committed adds nothing.

The crash is made exact: a stream drains its Delta stand-in, then the newest entry of
Spark's commit log is removed, as if the process had died after the batch's last write
and before Spark recorded the batch. The next run replays that batch as its first; its
appends (bronze, alerts, the progress row) look for the batch's rows and find them, and
its MERGEs are idempotent, so every table is unchanged. The kill tests cover crashes
earlier in a batch, at moments the threads and the broker choose.

A new checkpoint on the seller stream's source must count what the old one wrote once.

Sized for the suite: ~60 messages per job, two in-process runs per test (~3 min in all).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakecore.io import Lakehouse
from lakecore.streaming import KAFKA_SCHEMA, StreamSource, publish
from tests.conftest import run_cli

pytestmark = pytest.mark.integration

T0 = dt.datetime(2025, 6, 30, 10, 0)


def messages(topic: str, events: list[dict], extra: list[bytes] = ()) -> list[tuple]:
    """Kafka-shaped rows, one partition, offsets in order; `extra`: raw values after."""
    values = [json.dumps(e).encode() for e in events] + list(extra)
    return [
        (b"k", value, topic, 0, i, T0 + dt.timedelta(seconds=i)) for i, value in enumerate(values)
    ]


def seller_events(n: int) -> list[dict]:
    return [
        {
            "event_id": f"e{i:03d}",
            "event_type": "order_placed",
            "seller_id": f"s{i % 4}",
            "event_ts": (T0 + dt.timedelta(seconds=7 * i)).isoformat() + "Z",
            "amount": 10.0 + i,
        }
        for i in range(n)
    ]


def inventory_events(n: int) -> list[dict]:
    # Sales only after one small restock per pair: some pairs go negative (alerts).
    out = []
    for i in range(n):
        loc, sku = f"S{i % 3}", f"K{i % 2}"
        kind = "RESTOCK" if i < 6 else "SALE"
        out.append(
            {
                "event_id": f"ev{i:03d}",
                "location_id": loc,
                "sku": sku,
                "event_type": kind,
                "quantity": 2,
                "source": "WAREHOUSE" if kind == "RESTOCK" else "POS",
                "event_ts": (T0 + dt.timedelta(seconds=5 * i)).isoformat() + "Z",
            }
        )
    return out


def snapshot(lake: Lakehouse, tables: tuple[str, ...]) -> dict[str, list]:
    """Every row of every table, sorted (ops.stream_progress: its keys and counts)."""
    out = {}
    for name in tables:
        df = lake.read(name)
        if name == "ops.stream_progress":
            df = df.select("job", "query_id", "batch_id", "rows_read", "rows_written")
        out[name] = sorted(tuple(map(str, r)) for r in df.collect())
    return out


def uncommit_newest_batch(checkpoint: Path) -> Path:
    """Remove the newest batch from Spark's commit log (it ran, Spark did not record it);
    returns the removed entry's path."""
    (query,) = [d for d in checkpoint.iterdir() if (d / "commits").is_dir()]
    newest = max(int(f.name) for f in (query / "commits").glob("[0-9]*"))
    (query / "commits" / f".{newest}.crc").unlink(missing_ok=True)
    entry = query / "commits" / str(newest)
    entry.unlink()
    return entry


@pytest.mark.parametrize(
    ("job", "source", "events", "tables"),
    [
        (
            "seller_risk_stream",
            "stream.seller_events",
            seller_events(60) + seller_events(3),  # three redeliveries
            ("bronze.seller_events", "gold.seller_risk_realtime", "quarantine.seller_events"),
        ),
        (
            "inventory_stream",
            "stream.inventory_events",
            inventory_events(60) + inventory_events(3),
            (
                "bronze.inventory_stream_events",
                "gold.inventory_book_current",
                "gold.inventory_stock_alerts",
                "quarantine.inventory_stream_events",
            ),
        ),
    ],
    ids=["seller", "inventory"],
)
def test_a_batch_replayed_after_all_its_writes_adds_nothing(
    spark, tmp_path, job, source, events, tables
):
    lake_root = tmp_path / "lake"
    lake = Lakehouse(spark, str(lake_root))
    topic = source.split(".")[1]
    rows = messages(topic, events, extra=[b"not json"])
    publish(lake, spark.createDataFrame(rows, KAFKA_SCHEMA), StreamSource(delta_table=source))
    assert run_cli(lake_root, "run", job) == 0
    tables = (*tables, "ops.stream_progress")
    before = snapshot(lake, tables)
    assert len(before[tables[0]]) == len(events) - 3  # bronze: each event once
    assert len(before[tables[-2]]) == 1  # quarantine: the message that is not JSON
    progress = lake.read("ops.stream_progress")
    totals = progress.agg(*[F.sum(c) for c in ("rows_read", "rows_written", "rows_duplicate",
                                               "rows_quarantined")]).first()  # fmt: skip
    assert tuple(totals) == (len(rows), len(events) - 3, 3, 1)  # read = the other three

    bronze_version = lake.version(tables[0])
    query = uncommit_newest_batch(lake_root / "_checkpoints" / job)
    assert run_cli(lake_root, "run", job) == 0

    assert query.is_file(), "the batch was not replayed"  # Spark recorded it this time
    assert snapshot(lake, tables) == before
    assert lake.version(tables[0]) == bronze_version  # looked, found, appended nothing


def test_seller_new_checkpoint_counts_what_another_stream_wrote_once(spark, tmp_path):
    """A new checkpoint on the same source re-reads every message: the ones the old
    query wrote to bronze are duplicates (bronze's ids of other streams), the rest new."""
    lake_root = tmp_path / "lake"
    lake = Lakehouse(spark, str(lake_root))
    source = StreamSource(delta_table="stream.seller_events")
    rows = messages("seller_events", seller_events(60))
    publish(lake, spark.createDataFrame(rows[:40], KAFKA_SCHEMA), source)
    assert run_cli(lake_root, "run", "seller_risk_stream") == 0
    for query in (lake_root / "_checkpoints" / "seller_risk_stream").iterdir():
        shutil.rmtree(query)  # the operator starts over from the earliest offsets
    publish(lake, spark.createDataFrame(rows, KAFKA_SCHEMA), source)
    # A file a batch: the first batch scans bronze for the old query's rows, the next
    # ones reuse what it found (no new commit of another writer in between).
    one_file = "--set=seller_risk_stream.source.max_files_per_trigger=1"
    assert run_cli(lake_root, "run", "seller_risk_stream", one_file) == 0

    bronze = lake.read("bronze.seller_events")
    assert bronze.count() == 60 == bronze.select("event_id").distinct().count()
    second = (
        lake.read("ops.stream_progress")
        .groupBy("query_id")
        .agg(F.sum("rows_written").alias("written"), F.sum("rows_duplicate").alias("dups"))
        .collect()
    )
    assert sorted((r.written, r.dups) for r in second) == [(20, 40), (40, 0)]
    batches = lake.read("ops.stream_progress").groupBy("query_id").count().collect()
    old_query, new_query = sorted(r["count"] for r in batches)
    assert old_query == 1 and new_query >= 2  # the new query: a batch a file
    orders = lake.read("gold.seller_risk_realtime").where("window_minutes = 5")
    assert orders.agg(F.sum("orders")).first()[0] == 60  # each event counted once
