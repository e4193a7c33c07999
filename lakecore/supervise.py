"""Keep a long-running job alive: restart it on failure with bounded, jittered backoff.

`lakehouse stream <job>` runs a stream job continuously (processing-time trigger) in a
child process and supervises it:

- the child exits 0 (a stop was asked, or a `--timeout` ran out): done, exit 0;
- the child exits 2 (bad usage or config): retrying cannot help, exit 2 at once;
- any other exit (a crash, an OOM kill, a broker outage that failed the query): start
  it again after `backoff * 2^(n-1)` seconds (at most `backoff_max`), each delay drawn
  in [delay/2, delay] so restarted replicas do not stampede; after `max_restarts`
  failures in a row, give up with exit 1 and say so. A child that ran longer than
  `healthy_after` seconds before it failed starts a new series (the count resets).

SIGTERM or SIGINT to the supervisor is passed to the child, whose stream finishes the
batch in flight and stops (lakecore.streaming); the supervisor then exits with the
child's code and starts nothing new. Each attempt is a fresh process (a fresh JVM), as
systemd or Kubernetes would restart it; they supervise this process in turn
(deploy/systemd, deploy/kubernetes).
"""

from __future__ import annotations

import logging
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

EXIT_USAGE = 2


@dataclass(frozen=True)
class RestartPolicy:
    max_restarts: int = 5
    backoff: float = 5.0
    backoff_max: float = 300.0
    healthy_after: float = 600.0

    def __post_init__(self) -> None:
        if self.max_restarts < 0 or self.backoff < 0 or self.backoff_max < self.backoff:
            raise ValueError(
                "restart policy: max_restarts >= 0 and 0 <= backoff <= backoff_max "
                f"(got {self.max_restarts}, {self.backoff}, {self.backoff_max})"
            )

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before restart number `failures` (1-based): exponential, capped,
        with jitter in [delay/2, delay]."""
        full = min(self.backoff_max, self.backoff * 2 ** (failures - 1))
        return full / 2 + rand() * full / 2


class Supervisor:
    """Run `command` until it succeeds, is stopped, or fails `max_restarts` + 1 times."""

    def __init__(self, command: Sequence[str], policy: RestartPolicy, name: str = "child"):
        self.command, self.policy, self.name = list(command), policy, name
        self.stop_requested = threading.Event()
        self.child: subprocess.Popen | None = None
        self.attempts = 0

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        """Stop: pass the signal to the running child, start no new one."""
        self.stop_requested.set()
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    def run(self) -> int:
        failures = 0
        while True:
            self.attempts += 1
            started = time.monotonic()
            log.info("%s: start (attempt %d): %s", self.name, self.attempts, " ".join(self.command))
            self.child = subprocess.Popen(self.command)
            if self.stop_requested.is_set():  # a signal arrived while it was starting
                self.child.send_signal(signal.SIGTERM)
            code = self.child.wait()
            ran = time.monotonic() - started
            if self.stop_requested.is_set():
                log.info("%s: stopped (exit %d)", self.name, code)
                return code
            if code == 0:
                log.info("%s: finished after %.0fs", self.name, ran)
                return 0
            if code == EXIT_USAGE:
                log.error("%s: exit 2 (bad usage or config): not restarted", self.name)
                return EXIT_USAGE
            failures = 1 if ran >= self.policy.healthy_after else failures + 1
            if failures > self.policy.max_restarts:
                log.error(
                    "%s: failed %d time(s) in a row (last exit %d after %.0fs): giving up "
                    "(max_restarts %d)",
                    self.name, failures, code, ran, self.policy.max_restarts,
                )  # fmt: skip
                return 1
            wait = self.policy.delay(failures)
            log.warning(
                "%s: exit %d after %.0fs; restart %d of %d in %.1fs",
                self.name, code, ran, failures, self.policy.max_restarts, wait,
            )  # fmt: skip
            if self.stop_requested.wait(wait):
                log.info("%s: stopped while waiting to restart", self.name)
                return 0


def supervise(command: Sequence[str], policy: RestartPolicy, name: str) -> int:
    """Run a Supervisor with SIGTERM/SIGINT passed on to its child (main thread only)."""
    supervisor = Supervisor(command, policy, name)
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, lambda signum, _f: supervisor.request_stop(signum))
    try:
        return supervisor.run()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
