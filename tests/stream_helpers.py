"""Helpers for the streaming tests: produce to a real broker, kill a job mid-batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from lakecore.config import PROJECT_ROOT
from tests.conftest import TEST_ENV_OVERRIDES, TEST_JOB_OVERRIDES

Payload = str | bytes | None


def produce(
    servers: str,
    topic: str,
    partitions: int,
    messages: Iterable[tuple[Payload, Payload, str]],
    max_message_bytes: int | None = None,
) -> dict[tuple[int, int], str]:
    """Create `topic`, produce (key, value, kind) in order; return (partition, offset) -> kind.

    Keys and values go as given (text as UTF-8, bytes as they are, None as no key or
    no value). `max_message_bytes`: the largest record the topic and the producer take
    (Kafka's default: about 1 MB).
    """
    admin = AdminClient({"bootstrap.servers": servers})
    config = {} if max_message_bytes is None else {"max.message.bytes": str(max_message_bytes)}
    new = NewTopic(topic, num_partitions=partitions, config=config)
    for future in admin.create_topics([new]).values():
        future.result(timeout=30)
    positions: dict[tuple[int, int], str] = {}
    settings = {"bootstrap.servers": servers, "enable.idempotence": True, "linger.ms": 5}
    if max_message_bytes is not None:
        settings["message.max.bytes"] = max_message_bytes
    producer = Producer(settings)
    for key, value, kind in messages:

        def delivered(err, m, kind=kind):
            assert err is None, err
            positions[(m.partition(), m.offset())] = kind

        producer.produce(topic, key=key, value=value, on_delivery=delivered)
    assert producer.flush(60) == 0
    return positions


def consume_json(
    servers: str, topic: str, want: int, seconds: float = 30
) -> list[tuple[str, dict]]:
    """(key, JSON value) of the messages on `topic`: read until `want` are in, then until
    a second passes without another (an unexpected extra still shows), or `seconds`."""
    consumer = Consumer(
        {"bootstrap.servers": servers, "group.id": f"read-{topic}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    got: list[tuple[str, dict]] = []
    deadline, quiet = time.monotonic() + seconds, 0
    try:
        while time.monotonic() < deadline and quiet < 2:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                quiet += len(got) >= want
                continue
            quiet = 0
            got.append((msg.key().decode(errors="replace"), json.loads(msg.value())))
    finally:
        consumer.close()
    return got


def run_until_killed(
    cmd: list[str], log: Path, kill_after: str, occurrence: int, checkpoint: Path
) -> None:
    """Start the job; SIGKILL its process group when `kill_after` has appeared `occurrence` times.

    Then check that the kill landed inside a batch (`assert_killed_mid_batch`), so a
    test built on it really restarts from a half-done batch.
    """
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, (
                f"job exited early ({proc.returncode}):\n{log.read_text()[-3000:]}"
            )
            if log.read_text(errors="replace").count(kill_after) >= occurrence:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
                assert_killed_mid_batch(checkpoint, log)
                return
            time.sleep(0.05)
        raise AssertionError(
            f"never saw {kill_after!r} {occurrence} times:\n{log.read_text()[-3000:]}"
        )
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def assert_killed_mid_batch(checkpoint: Path, log: Path) -> None:
    """The newest batch in the query's checkpoint has its offsets logged but no commit.

    Spark writes `offsets/<id>` before it runs a batch and `commits/<id>` after the
    batch's sink (the job's foreachBatch) returns, so this holds exactly when the
    process died between the two. `checkpoint`: the job's checkpoint folder, holding
    one source's query.
    """
    (query,) = [d for d in checkpoint.iterdir() if (d / "offsets").is_dir()]

    def batch_ids(sub: str) -> set[int]:
        return {int(f.name) for f in (query / sub).glob("[0-9]*")}

    newest = max(batch_ids("offsets"))
    assert newest not in batch_ids("commits"), (
        f"the kill came after batch {newest} committed, not mid-batch:\n{log.read_text()[-2000:]}"
    )


def kafka_sets(job: str, servers: str, max_offsets: int) -> list[str]:
    """`--set`s for a stream test's runs: the Kafka source, small batches, a quick trigger."""
    sets = {
        f"{job}.source.kind": "kafka",
        f"{job}.source.bootstrap_servers": servers,
        f"{job}.source.max_offsets_per_trigger": str(max_offsets),
        f"{job}.processing_time": "1 second",
    }
    return [f"--set={k}={v}" for k, v in sets.items()]


def child_command(job: str, lake_root: Path, *sets: str) -> list[str]:
    """`python -m jobs run <job>` in a child process (its own JVM), so it can be SIGKILLed,
    with the lean settings the in-process runs use."""
    lean = [f"--set={o}" for o in (*TEST_ENV_OVERRIDES, *TEST_JOB_OVERRIDES)]
    return [sys.executable, "-m", "jobs", "run", job, f"--set=env.lakehouse.root={lake_root}",
            *lean, *sets]  # fmt: skip
