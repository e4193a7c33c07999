"""FirstSeen (build/java): an event id's state lives until the watermark passes its time.

Driven batch by batch: each step appends one small file to a Delta table and runs an
AvailableNow query (one file per batch) on the same checkpoint, so the state, the
watermark and the processing-time timers carry over between steps as in a live stream.
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from pyspark.sql import types as T

from lakecore.streaming import mark_first_seen

SCHEMA = T.StructType(
    [
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField("event_id", T.StringType()),
        T.StructField("event_ts", T.TimestampType()),
    ]
)
ROCKSDB = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"


@pytest.fixture
def rocksdb(spark):
    # As the seller stream's YAML sets them: no empty batch after each batch (its timers
    # would make AvailableNow run empty batches for ever).
    confs = {
        "spark.sql.streaming.stateStore.providerClass": ROCKSDB,
        "spark.sql.streaming.noDataMicroBatches.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
    }
    before = {k: spark.conf.get(k, None) for k in confs}
    for k, v in confs.items():
        spark.conf.set(k, v)
    yield
    for k, v in before.items():
        spark.conf.unset(k) if v is None else spark.conf.set(k, v)


def test_an_id_is_marked_once_and_forgotten_when_the_watermark_passes_it(spark, tmp_path, rocksdb):
    source, checkpoint = str(tmp_path / "source"), str(tmp_path / "checkpoint")
    offsets = iter(range(1000))

    def step(*events: tuple[str | None, str]) -> dict[str, list]:
        """{id: [(offset, first_seen), ...] by offset}; a step's offsets run backwards
        through its events, so the first copy is not simply the first row read."""
        block = [next(offsets) for _ in events][::-1]
        rows = [
            (0, block[n], i, datetime.fromisoformat(f"2026-01-01T{t}"))
            for n, (i, t) in enumerate(events)
        ]
        spark.createDataFrame(rows, SCHEMA).coalesce(1).write.format("delta").mode("append").save(
            source
        )
        seen: dict[str, list] = {}

        def collect(batch, _batch_id):
            for r in sorted(batch.collect(), key=lambda r: r["offset"]):
                seen.setdefault(r["event_id"], []).append((r["offset"], r["first_seen"]))

        stream = (
            spark.readStream.format("delta")
            .option("maxFilesPerTrigger", 1)
            .load(source)
            .withWatermark("event_ts", "60 minutes")
        )
        query = (
            mark_first_seen(stream, "event_id", "event_ts", check_every="1 second")
            .writeStream.option("checkpointLocation", checkpoint)
            .foreachBatch(collect)
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()
        time.sleep(2.1)  # the next batch starts after every timer this one set is due
        return seen

    # Copies within a batch: the lowest (partition, offset) is the first; a null id (a
    # rejected message) is marked null and keeps no state.
    assert step(("a", "10:00"), ("a", "10:00"), ("b", "10:00"), (None, "10:00")) == {
        "a": [(2, True), (3, False)],
        "b": [(1, True)],
        None: [(0, None)],
    }
    # A repeat in a later batch is no first; c moves the watermark to 12:00 - 60 min.
    assert step(("a", "10:00"), ("c", "12:00")) == {"a": [(5, False)], "c": [(4, True)]}
    # Batch 3 runs with watermark 11:00 (a and b are older): input is marked before the
    # due timers sweep the shards, so a is still known here; then the sweep forgets a
    # and b, and keeps c (12:00, after the watermark).
    assert step(("a", "10:00"), ("d", "12:00")) == {"a": [(7, False)], "d": [(6, True)]}
    # Forgotten: a copy this late is the job's to quarantine as late, not a repeat.
    assert step(("a", "10:00"), ("b", "10:00"), ("c", "12:00")) == {
        "a": [(10, True)],
        "b": [(9, True)],
        "c": [(8, False)],
    }
