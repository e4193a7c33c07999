"""`make demo`: generate demo data, ingest it, run every batch job, print a summary."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lakecore.cli import print_table_summary, run_job
from lakecore.config import JobConfig, load_run_config
from lakecore.io import Lakehouse
from lakecore.job import JobSpec
from lakecore.session import get_spark

log = logging.getLogger("jobs")


def _overrides_for(spec: JobSpec, overrides: list[str]) -> list[str]:
    """`--set` keys that belong to this job (its own sections) or to every job."""
    fields = set(spec.config_model.model_fields)
    return [o for o in overrides if o.startswith("env.") or o.split(".", 1)[0] in fields]


# (job, its topic setting, the topic) for the streams `--kafka` routes through a broker.
KAFKA_ROUTES = (
    ("publish_seller_events", "target", "seller_events"),
    ("seller_risk_stream", "source", "seller_events"),
    ("publish_inventory_events", "target", "inventory_events"),
    ("inventory_stream", "source", "inventory_events"),
)


@contextlib.contextmanager
def kafka_overrides(enabled: bool) -> Iterator[list[str]]:
    """With `enabled`: a local broker for the demo's streams (stopped afterwards) and the
    `--set` keys that route them through it; otherwise no broker and no keys."""
    if not enabled:
        yield []
        return
    from lakecore.kafka_broker import KafkaBroker

    broker = KafkaBroker(Path(tempfile.mkdtemp(prefix="demo-kafka-")))
    servers = broker.start(owner_pid=os.getpid())
    try:
        sets = []
        for job, section, topic in KAFKA_ROUTES:
            broker.create_topic(topic)
            sets += [
                f"{job}.{section}.kind=kafka",
                f"{job}.{section}.bootstrap_servers={servers}",
                f"{job}.{section}.topic={topic}",
            ]
        log.info("demo: Kafka broker on %s", servers)
        yield sets
    finally:
        broker.stop()


def run_demo(registry: dict[str, JobSpec], args: argparse.Namespace) -> int:
    with kafka_overrides(getattr(args, "kafka", False)) as kafka_sets:
        return _run_steps(registry, args, kafka_sets)


def _run_steps(
    registry: dict[str, JobSpec], args: argparse.Namespace, kafka_sets: list[str]
) -> int:
    steps: list[tuple[str, list[str]]] = [("generate_demo_data", []), ("ingest", ["demo"])]
    steps += [
        (name, [])
        for name, s in registry.items()
        if s.in_demo and name not in {"generate_demo_data", "ingest"}
    ]
    for i, (name, extra) in enumerate(steps, 1):
        log.info("demo step %d/%d: %s", i, len(steps), name)
        ns = argparse.Namespace(**vars(args))
        ns.date = ns.start = ns.end = None
        ns.source, ns.path, ns.tables = (extra[0] if extra else None), None, None
        ns.overrides = _overrides_for(registry[name], [*kafka_sets, *args.overrides])
        rc = run_job(registry[name], ns)
        if rc != 0:
            log.error("demo stopped: step %d/%d (%s) exited with %d", i, len(steps), name, rc)
            return rc
    if not getattr(args, "summary", True):
        return 0
    # Only the environment's keys: a job key (`generate_demo_data.orders=...`) is
    # unknown to the summary's config and would stop the demo after all its work.
    env_only = [o for o in args.overrides if o.startswith("env.")]
    cfg = load_run_config("query", JobConfig, args.env, env_only, args.conf_dir)
    print_table_summary(Lakehouse(get_spark(cfg, "summary"), cfg.lake_root))
    return 0
