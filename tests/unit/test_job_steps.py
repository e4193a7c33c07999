"""JobContext.steps: independent steps, a few at a time, the first failure stops the rest."""

from __future__ import annotations

import threading
import time

import pytest

from lakecore.config import JobConfig
from lakecore.job import JobContext, JobSpec


def context() -> JobContext:
    spec = JobSpec(name="t", description="", config_model=JobConfig, run=lambda c: None)
    return JobContext(spec=spec, cfg=None, spark=None, lake=None, run=None)


def test_every_step_runs_two_at_a_time(caplog):
    both_running = threading.Barrier(2, timeout=10)  # breaks unless two steps run together
    done = []

    def step(i):
        def fn():
            both_running.wait()
            done.append(i)

        return fn

    with caplog.at_level("INFO", logger="jobs"):
        context().steps([(f"table {i}", step(i)) for i in range(4)], parallel=2)
    assert sorted(done) == [0, 1, 2, 3]
    assert sum("done in" in m for m in caplog.messages) == 4
    assert any(m.startswith("t: [4/4] table 3 ...") for m in caplog.messages)


def test_the_first_failure_is_raised_and_cancels_the_steps_not_started():
    done = []

    def fail():
        raise ValueError("bad table")

    def slow(i):
        def fn():
            time.sleep(0.3)
            done.append(i)

        return fn

    work = [("bad", fail), *[(f"table {i}", slow(i)) for i in range(6)]]
    with pytest.raises(ValueError, match="bad table"):
        context().steps(work, parallel=2)
    assert 0 < len(done) < 6  # the running ones finished, the rest never started


def test_one_at_a_time_stops_at_the_failure():
    done = []

    def fail():
        raise ValueError("bad table")

    work = [("a", lambda: done.append("a")), ("bad", fail), ("c", lambda: done.append("c"))]
    with pytest.raises(ValueError, match="bad table"):
        context().steps(work, parallel=1)
    assert done == ["a"]
