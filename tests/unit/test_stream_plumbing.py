"""Stream plumbing: consumer lag from a query's progress, batch phase times (no Spark),
the watermark a batch starts from."""

from __future__ import annotations

import re
import shutil
import threading
import time
from datetime import datetime, timedelta

import pytest

from lakecore.streaming import (
    BatchResult,
    OtherWriters,
    PhaseTimer,
    StreamRunner,
    StreamSource,
    _offsets_lag,
    concurrently,
    held,
    release,
)


def test_consumer_lag_sums_latest_minus_processed_over_partitions():
    progress = {
        "sources": [
            {
                "description": "KafkaV2[Subscribe[inventory_events]]",
                "endOffset": {"inventory_events": {"0": 100, "1": 40}},
                "latestOffset": {"inventory_events": {"0": 130, "1": 40, "2": 5}},
            }
        ]
    }
    end, latest, lag = _offsets_lag(progress)
    assert lag == 30 + 0 + 5  # partition 2 not processed yet: all 5 behind
    assert '"0": 100' in end and '"2": 5' in latest


def test_a_delta_source_reports_no_lag():
    progress = {"sources": [{"description": "DeltaSource[file:/lake]", "endOffset": {"a": 1}}]}
    assert _offsets_lag(progress)[1:] == (None, None)


def test_phase_timer_adds_repeated_phases_and_prints_them_in_order():
    clock = PhaseTimer()
    assert not clock
    with clock("parse"):
        time.sleep(0.02)
    with clock("book"):
        pass
    with clock("parse"):
        time.sleep(0.02)
    assert clock
    assert list(clock.seconds) == ["parse", "book"]
    assert clock.seconds["parse"] >= 0.04
    assert re.fullmatch(r"parse \d+\.\ds, book \d+\.\ds", str(clock))


class _ProgressLake:
    """A lake whose ops.stream_progress exists once `has_progress` is set, and must not
    be read: a batch should take its watermark from the batch this process ran before."""

    has_progress = False

    def exists(self, name):
        return self.has_progress

    def read(self, name):
        raise AssertionError(f"read {name}: the previous batch ran in this process")


def test_concurrently_overlaps_calls_returns_in_order_and_raises_after_all_finished():
    done = []
    # Each call waits for the other: run one after the other, they would break the barrier.
    both = threading.Barrier(2, timeout=30)

    def meet(value):
        def call():
            both.wait()
            done.append(value)
            return value

        return call

    assert concurrently(meet("a"), meet("b")) == ["a", "b"]

    def slow(value):
        def call():
            time.sleep(0.3)
            done.append(value)
            return value

        return call

    def boom():
        raise ValueError("gold failed")

    done.clear()
    with pytest.raises(ValueError, match="gold failed"):
        concurrently(boom, slow("bronze"))
    assert done == ["bronze"]  # the other write was not abandoned half-way


def test_a_held_frame_survives_a_write_to_the_table_it_read(spark, lake):
    lake.overwrite(spark.createDataFrame([(1,), (2,)], "id int"), "bronze.held_source")
    rows = held(lake.read("bronze.held_source").where("id > 1"))
    lake.overwrite(spark.createDataFrame([(5,)], "id int"), "bronze.held_source")
    held_rdds = spark.sparkContext._jsc.getPersistentRDDs().size()
    try:
        assert [r.id for r in rows.collect()] == [2]  # not recomputed from the new table
    finally:
        release(rows)
    assert spark.sparkContext._jsc.getPersistentRDDs().size() == held_rdds - 1  # freed now


def test_other_writers_are_scanned_for_only_when_the_log_shows_their_commits(spark, lake):
    """A stream that alone appends to its bronze table never scans it again; an earlier
    checkpoint's rows need the look-up until the watermark passes their newest time; any
    commit that is not one of the stream's appends brings a new scan."""
    table = "bronze.demo_events"
    schema = "ingest_source string, ingest_batch long, event_ts timestamp, event_id string"

    def append(stream: str, batch: int, hour: int, minute: int = 0) -> None:
        at = datetime(2026, 1, 1, hour, minute)
        rows = spark.createDataFrame([(stream, batch, at, f"{stream}/{batch}")], schema)
        key = {"ingest_source": stream, "ingest_batch": batch}
        lake.append_batch(rows, table, key, may_replay=False)

    def at(hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 1, 1, hour, minute)

    others = OtherWriters(lake, table, "ingest_source", "event_ts")
    assert not others.lookup_needed("s@q2", None) and others.scans == 0  # no table yet
    append("s@q1", 0, 5)  # an earlier checkpoint of the same source: events up to 05:00
    assert others.lookup_needed("s@q2", at(4)) and others.scans == 1
    append("s@q2", 0, 6)  # the stream's own appends bring no scan
    append("s@q2", 1, 6, 10)
    assert others.lookup_needed("s@q2", at(5)) and others.scans == 1
    assert not others.lookup_needed("s@q2", at(5, 1)) and others.scans == 1
    # Another writer (a plain append, no batch in its commit): scanned, needed again.
    late = spark.createDataFrame([(None, None, at(7), "old")], schema)
    lake.append(late, table)
    assert others.lookup_needed("s@q2", at(5, 1)) and others.scans == 2
    assert not others.lookup_needed("s@q2", at(7, 1)) and others.scans == 2
    # A schema change is not an append of the stream either; nor is a new query run.
    lake.ensure_columns(table, {"note": "string"})
    assert not others.lookup_needed("s@q2", at(7, 1)) and others.scans == 3
    assert not others.lookup_needed("s@q3", at(7, 1)) and others.scans == 4
    # Rows of s@q2 are other writers' rows for s@q3.
    append("s@q2", 2, 9)
    assert others.lookup_needed("s@q3", at(8)) and others.scans == 5
    assert not others.lookup_needed("s@q3", at(9, 1)) and others.scans == 5
    # The table deleted and re-created by another stream: its versions start over.
    shutil.rmtree(lake.path(table))
    append("s@q9", 0, 10)
    assert others.lookup_needed("s@q3", at(9, 1)) and others.scans == 6


def test_each_batch_starts_from_the_watermark_the_batch_before_it_stored(spark):
    lake = _ProgressLake()
    runner = StreamRunner(spark, lake, "job", StreamSource(), "/tmp/ckpt", {}, timedelta(minutes=5))
    runner.query_id = "q"
    runner._started.set()
    stored, seen, replays, values = [], [], [], []
    runner._record = lambda row: stored.append((row["batch_id"], row["watermark"]))

    def process(batch, batch_id, watermark):
        seen.append(watermark)
        replays.append(runner.may_replay(batch_id))
        values.append(runner.watermark)
        latest = {0: datetime(2026, 12, 4, 12, 0), 1: datetime(2026, 12, 4, 11, 0)}[batch_id]
        return BatchResult(read=1, written=1, max_event_ts=latest)

    run_batch = runner._batch(process)
    run_batch(None, 0)  # no progress table yet: no watermark
    lake.has_progress = True
    run_batch(None, 1)  # from memory: reading the table would fail
    first = datetime(2026, 12, 4, 11, 55)  # batch 0's latest event - 5 minutes
    # An older batch never moves the watermark back.
    assert stored == [(0, first), (1, first)]
    assert seen[0] is None and seen[1] is not None
    assert values == [None, first]  # the watermark's value, beside the column
    # Only a run's first batch can be a replay of one an earlier run started.
    assert replays == [True, False]
    # Any other batch (a restart, a replay after a crash) reads what the batches stored.
    with pytest.raises(AssertionError, match=r"read ops\.stream_progress"):
        runner.watermark_before(5)
