"""Stream plumbing without Spark: consumer lag from a query's progress, batch phase times,
the watermark a batch starts from."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

import pytest

from lakecore.streaming import PhaseTimer, StreamRunner, StreamSource, _offsets_lag


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


class _LakeWithProgress:
    """A lake that has ops.stream_progress but must not be read: the runner should
    know the previous batch's watermark itself."""

    def exists(self, name):
        return True

    def read(self, name):
        raise AssertionError(f"read {name}: the previous batch ran in this process")


def test_the_next_batch_takes_the_watermark_this_process_stored_without_reading_it_back():
    runner = StreamRunner(
        None, _LakeWithProgress(), "job", StreamSource(), "/tmp/ckpt", {}, timedelta(minutes=5)
    )
    stored = datetime(2026, 12, 4, 12, 0)
    runner._watermarks = {6: stored}
    assert runner.watermark_before(7) == stored
    # Any other batch (a restart, a replay after a crash) reads what the batches stored.
    with pytest.raises(AssertionError, match=r"read ops\.stream_progress"):
        runner.watermark_before(9)
