"""`lakehouse stream`'s supervisor with real child processes (tiny Python scripts)."""

from __future__ import annotations

import signal
import sys
import threading
import time

import pytest

from lakecore.supervise import RestartPolicy, Supervisor

FAST = RestartPolicy(max_restarts=3, backoff=0.01, backoff_max=0.05, healthy_after=60)


def child(tmp_path, body: str) -> list[str]:
    """A child that counts its attempts in a file, then runs `body` (n = attempt number)."""
    script = tmp_path / "child.py"
    script.write_text(
        "import pathlib, signal, sys, time\n"
        f"f = pathlib.Path({str(tmp_path / 'attempts')!r})\n"
        "n = int(f.read_text()) + 1 if f.exists() else 1\n"
        "f.write_text(str(n))\n" + body
    )
    return [sys.executable, str(script)]


def test_a_failing_child_is_restarted_until_it_succeeds(tmp_path):
    supervisor = Supervisor(child(tmp_path, "sys.exit(0 if n == 3 else 1)\n"), FAST)
    assert supervisor.run() == 0
    assert supervisor.attempts == 3


def test_it_gives_up_after_max_restarts_failures_in_a_row(tmp_path):
    supervisor = Supervisor(child(tmp_path, "sys.exit(1)\n"), FAST)
    assert supervisor.run() == 1
    assert supervisor.attempts == FAST.max_restarts + 1


def test_bad_config_is_never_retried(tmp_path):
    supervisor = Supervisor(child(tmp_path, "sys.exit(2)\n"), FAST)
    assert supervisor.run() == 2
    assert supervisor.attempts == 1


def test_sigterm_reaches_the_child_which_stops_cleanly_and_is_not_restarted(tmp_path):
    body = (
        "stop = []\n"
        "signal.signal(signal.SIGTERM, lambda *a: stop.append(1))\n"
        "pathlib.Path(str(f) + '.ready').write_text('1')\n"
        "while not stop: time.sleep(0.05)\n"
        "pathlib.Path(str(f) + '.stopped').write_text('1')\n"
        "sys.exit(0)\n"
    )
    supervisor = Supervisor(child(tmp_path, body), FAST)

    def stop_when_ready() -> None:
        deadline = time.monotonic() + 30
        while not (tmp_path / "attempts.ready").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        supervisor.request_stop(signal.SIGTERM)

    threading.Thread(target=stop_when_ready, daemon=True).start()
    assert supervisor.run() == 0
    assert (tmp_path / "attempts.stopped").exists()  # the child ran its own clean stop
    assert supervisor.attempts == 1


def test_backoff_doubles_is_capped_and_jittered_within_half_to_full():
    policy = RestartPolicy(max_restarts=10, backoff=5, backoff_max=300)
    assert [policy.delay(n, rand=lambda: 1.0) for n in (1, 2, 3, 7, 8)] == [5, 10, 20, 300, 300]
    assert policy.delay(3, rand=lambda: 0.0) == 10  # half of 20
    with pytest.raises(ValueError, match="backoff <= backoff_max"):
        RestartPolicy(backoff=10, backoff_max=5)
