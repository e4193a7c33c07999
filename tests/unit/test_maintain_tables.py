"""maintain_tables retries a commit lost to a concurrent writer, and nothing else."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from delta.exceptions import ConcurrentAppendException

from jobs import maintain_tables as mt


def fake_ctx(retries: int) -> SimpleNamespace:
    job = SimpleNamespace(maintain_tables=SimpleNamespace(retries=retries))
    return SimpleNamespace(job=job, log=logging.getLogger("test"))


def flaky(monkeypatch, errors: list[Exception]) -> list[str]:
    calls: list[str] = []

    def maintain_one(ctx, name):
        calls.append(name)
        if errors:
            raise errors.pop(0)
        return {"files": [2, 1]}

    monkeypatch.setattr(mt, "maintain_one", maintain_one)
    monkeypatch.setattr(mt.time, "sleep", lambda s: None)
    return calls


def test_a_conflict_is_retried_until_the_commit_wins(monkeypatch):
    calls = flaky(
        monkeypatch,
        [ConcurrentAppendException("files were added"), ConcurrentAppendException("again")],
    )
    assert mt.with_retries(fake_ctx(retries=2), "gold.t") == {"files": [2, 1]}
    assert calls == ["gold.t"] * 3


def test_retries_run_out_and_other_errors_are_not_retried(monkeypatch):
    calls = flaky(monkeypatch, [ConcurrentAppendException("1"), ConcurrentAppendException("2")])
    with pytest.raises(ConcurrentAppendException, match="2"):
        mt.with_retries(fake_ctx(retries=1), "gold.t")
    assert len(calls) == 2
    # Not Delta's conflicts, whatever their text says.
    for error in (
        ValueError("Z-Ordering column x does not exist"),
        RuntimeError("java.util.ConcurrentModificationException in a stage"),
    ):
        calls = flaky(monkeypatch, [error])
        with pytest.raises(type(error)):
            mt.with_retries(fake_ctx(retries=3), "gold.t")
        assert len(calls) == 1
