"""inventory_stream from a real Kafka broker, SIGKILLed mid-batch: the book stays exact.

Ledger events for 6 locations x 5 SKUs go to a 3-partition topic with
redeliveries and malformed messages mixed in. The job runs in a child process
with a processing-time trigger, is killed (SIGKILL, whole process group) right
after a batch moved the book but before it wrote its alerts and bronze, restarted
from its checkpoint and killed right after a batch wrote bronze (its last write
before the progress row), then drained with AvailableNow. The book must equal the one computed here in plain Python from
the valid events, each counted once; quarantine must hold exactly the bad
messages; negative stock must have raised alerts; and a second drain changes nothing.
A second topic, and a new checkpoint on the same Delta stand-in, must each move the
book by their new events only (batch ids restart at 0 for both).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from catalog.tables import ON_HAND_SIGN, RESERVED_SIGN
from lakecore.io import Lakehouse
from tests.conftest import run_cli
from tests.stream_helpers import (
    assert_killed_mid_batch,
    child_command,
    kafka_sets,
    produce,
    run_until_killed,
)
from transforms.inventory.stream import to_inventory_messages

pytestmark = pytest.mark.integration

TOPIC = "inventory_events"
START = dt.datetime(2025, 6, 30, 8, 0, tzinfo=dt.UTC)
LOCATIONS = [f"S{i}" for i in range(5)] + ["DC1"]
SKUS = [f"K{i}" for i in range(5)]


def plan_messages(seed: int = 11) -> list[tuple[str, str | None, str]]:
    """(key, value, kind): opening stock for every pair, then 900 random movements."""
    rng = random.Random(seed)
    out: list[tuple[str, str | None, str]] = []

    def event(i: int, loc: str, sku: str, etype: str, qty: int) -> dict:
        ts = START + dt.timedelta(seconds=5 * i)
        return {
            "event_id": f"ev{i:05d}",
            "location_id": loc,
            "sku": sku,
            "event_type": etype,
            "quantity": qty,
            "source": "WAREHOUSE" if etype.startswith(("RESTOCK", "TRANSFER")) else "POS",
            "event_ts": ts.isoformat().replace("+00:00", "Z"),
        }

    i = 0
    for loc in LOCATIONS:
        for sku in SKUS:
            out.append((loc, json.dumps(event(i, loc, sku, "RESTOCK", 20)), "valid"))
            i += 1
    moves = ["SALE"] * 6 + ["RETURN", "RESERVE", "RELEASE", "TRANSFER_IN", "TRANSFER_OUT"]
    for _ in range(900):
        loc, sku = rng.choice(LOCATIONS), rng.choice(SKUS)
        value = json.dumps(event(i, loc, sku, rng.choice(moves), rng.randint(1, 3)))
        i += 1
        out.append((loc, value, "valid"))
        if rng.random() < 0.05:  # the producer retried
            out.append((loc, value, "duplicate"))
        if rng.random() < 0.03:
            bad = rng.choice(['{"event_id": "x"', "garbage", json.dumps({"event_id": "q"})])
            out.append((loc, bad, "malformed"))
    return out


def expected_book(messages) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(location, sku) -> (on_hand, reserved, events), from the valid events in plain Python."""
    book: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for _, value, kind in messages:
        if kind != "valid":
            continue
        e = json.loads(value)
        row = book[(e["location_id"], e["sku"])]
        row[0] += ON_HAND_SIGN[e["event_type"]] * e["quantity"]
        row[1] += RESERVED_SIGN.get(e["event_type"], 0) * e["quantity"]
        row[2] += 1
    return {k: tuple(v) for k, v in book.items()}


def job_sets(servers: str) -> list[str]:
    return kafka_sets("inventory_stream", servers, 300)


def job_command(lake_root: Path, servers: str, *extra: str) -> list[str]:
    return child_command("inventory_stream", lake_root, *job_sets(servers), *extra)


def drain(lake_root: Path, servers: str, *extra: str) -> None:
    """A scheduled run (AvailableNow) resuming from the checkpoint, in this test's session:
    a restart is a restart whichever process it is in, and this one needs no new JVM."""
    assert run_cli(lake_root, "run", "inventory_stream", *job_sets(servers), *extra) == 0


def test_killed_mid_batch_then_resumed_keeps_the_book_exact(spark, kafka, tmp_path):
    servers = kafka.bootstrap_servers
    messages = plan_messages()
    positions = produce(servers, TOPIC, 3, messages)
    lake_root = tmp_path / "lake"

    continuous = job_command(lake_root, servers, "--set=inventory_stream.trigger=processing_time")
    # Killed twice: in its second batch after the book MERGE (the replay must skip the
    # pairs it moved), then after the restart has replayed that batch and written the
    # next batch's bronze (the replay must add nothing anywhere).
    checkpoint = lake_root / "_checkpoints" / "inventory_stream"
    for run, after in ((1, "wrote gold.inventory_book_current"),
                       (2, "wrote bronze.inventory_stream_events")):  # fmt: skip
        run_until_killed(continuous, tmp_path / f"run{run}.log", after, 2, checkpoint)
    drain(lake_root, servers)
    # The mid-batch check can fail: after the drain the newest batch has committed.
    with pytest.raises(AssertionError, match="after batch"):
        assert_killed_mid_batch(checkpoint, tmp_path / "run2.log")

    lake = Lakehouse(spark, str(lake_root))
    book = lake.read("gold.inventory_book_current")
    got = {(r.location_id, r.sku): (r.on_hand, r.reserved, r.events) for r in book.collect()}
    expected = expected_book(messages)
    assert got == expected
    assert book.where("available != on_hand - reserved").count() == 0

    valid_ids = {json.loads(v)["event_id"] for _, v, kind in messages if kind == "valid"}
    bronze = lake.read("bronze.inventory_stream_events")
    assert bronze.count() == len(valid_ids)
    assert {r.event_id for r in bronze.select("event_id").collect()} == valid_ids

    malformed = {pos for pos, kind in positions.items() if kind == "malformed"}
    quarantine = lake.read("quarantine.inventory_stream_events")
    assert {(r.partition, r.offset) for r in quarantine.collect()} == malformed
    assert quarantine.count() == len(malformed)

    # Every pair that ends below zero raised an alert on the batch that took it there or later.
    negative = {pair for pair, (on_hand, _, _) in expected.items() if on_hand < 0}
    alerts = lake.read("gold.inventory_stock_alerts")
    alerted = {(r.location_id, r.sku) for r in alerts.where("alert_type = 'NEGATIVE_ON_HAND'").collect()}  # fmt: skip
    assert negative and negative <= alerted

    progress = lake.read("ops.stream_progress").where("job = 'inventory_stream'")
    totals = progress.agg(*[F.sum(c).alias(c) for c in ("rows_read", "rows_written", "rows_duplicate", "rows_quarantined")]).first()  # fmt: skip
    assert totals.rows_read == len(messages)
    assert totals.rows_read == totals.rows_written + totals.rows_duplicate + totals.rows_quarantined
    assert totals.rows_written == len(valid_ids)
    assert progress.where("consumer_lag IS NOT NULL").count() > 0

    # Nothing new on the topic: a second scheduled run moves nothing.
    gold_path = lake.path("gold.inventory_book_current")
    version = DeltaTable.forPath(spark, gold_path).history(1).first().version
    drain(lake_root, servers)
    again = {
        (r.location_id, r.sku): (r.on_hand, r.reserved, r.events)
        for r in lake.read("gold.inventory_book_current").collect()
    }
    assert again == expected
    assert DeltaTable.forPath(spark, gold_path).history(1).first().version == version

    # A second topic (batch ids start again at 0): its new events move the book once,
    # its copies of events already streamed from the first topic do not.
    rng = random.Random(5)
    extra = [
        (loc, json.dumps({**json.loads(v), "event_id": f"t2-{i}"}), "valid")
        for i, (loc, v, kind) in enumerate(messages[-40:])
        if kind == "valid"
    ]
    copies = [
        (k, v, "duplicate") for k, v, kind in rng.sample(messages[:200], 10) if kind == "valid"
    ]
    produce(servers, "inventory_events_2", 2, extra + copies)
    drain(lake_root, servers, "--set=inventory_stream.source.topic=inventory_events_2")
    after = {
        (r.location_id, r.sku): (r.on_hand, r.reserved, r.events)
        for r in lake.read("gold.inventory_book_current").collect()
    }
    assert after == expected_book(messages + extra)


def test_a_new_checkpoint_on_the_same_source_moves_only_the_new_events(spark, tmp_path):
    """Batch ids restart at 0 with a new checkpoint: the book's guard must not take the
    new query's batch 0 for the old query's batch 0 (which would skip its pairs)."""
    lake_root = tmp_path / "lake"
    lake = Lakehouse(spark, str(lake_root))
    messages = [(k, v, kind) for k, v, kind in plan_messages(seed=3) if kind == "valid"][:120]
    events = spark.createDataFrame([(v,) for _, v, _ in messages], "value string").select(
        F.from_json("value", "event_id string, location_id string, sku string, "
                    "event_type string, quantity long, source string, event_ts timestamp").alias("e")
    ).select("e.*")  # fmt: skip

    def publish(n: int) -> None:  # offsets follow event time: the first n keep theirs
        rows = to_inventory_messages(events.orderBy("event_id").limit(n), TOPIC, 2)
        lake.merge(rows, "stream.inventory_events", ["topic", "partition", "offset"], update=False)

    publish(80)
    assert run_cli(lake_root, "run", "inventory_stream") == 0
    # The operator starts over from the source's earliest offsets with a new checkpoint.
    for checkpoint in (lake_root / "_checkpoints" / "inventory_stream").iterdir():
        if checkpoint.is_dir():
            shutil.rmtree(checkpoint)
    publish(120)
    assert run_cli(lake_root, "run", "inventory_stream") == 0

    got = lake.read("gold.inventory_book_current")
    assert {(r.location_id, r.sku): (r.on_hand, r.reserved, r.events) for r in got.collect()} == (
        expected_book(messages)
    )
    progress = lake.read("ops.stream_progress").where("job = 'inventory_stream'")
    assert progress.select("query_id").distinct().count() == 2
    totals = progress.agg(F.sum("rows_written"), F.sum("rows_duplicate")).first()
    assert tuple(totals) == (120, 80)  # the second query re-read the first 80: duplicates
