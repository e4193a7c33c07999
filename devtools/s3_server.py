"""A real S3-compatible server for tests and benchmarks: moto's standalone server on 127.0.0.1.

One change to moto, made here (`python -m devtools.s3_server`): a PUT Object is atomic.
moto checks a conditional PUT's `If-None-Match: *` and then stores the object in two
steps, on a threaded server, so two racing PUTs can both pass the check; S3 does both at
once. Delta's commits on S3 rely on that (io.lakehouse.delta.S3ConditionalPutLogStore),
so the server serialises PUT Object requests (one lock; other requests run in parallel).
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from devtools.kafka_broker import free_port
from lakecore.config import PROJECT_ROOT


@contextmanager
def moto_server(timeout: float = 60.0) -> Iterator[str]:
    """Start `moto_server` as a subprocess, yield its URL, stop it (by its own pid)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.s3_server", "-H", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not answer on {url}") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def serve(argv: list[str]) -> None:
    """moto's server (`moto_server` arguments) with each PUT Object atomic."""
    import threading

    from moto import server
    from moto.s3.responses import S3Response

    lock = threading.Lock()
    put_object = S3Response.put_object

    def atomic_put_object(self):  # the If-None-Match check and the write, together
        with lock:
            return put_object(self)

    S3Response.put_object = atomic_put_object
    server.main(argv)


if __name__ == "__main__":
    serve(sys.argv[1:])
