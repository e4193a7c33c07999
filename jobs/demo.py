"""`make demo`: generate demo data, ingest it, run every batch job, print a summary."""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lakecore.config import JobConfig, own_section
from lakecore.job import JobSpec, RunOptions
from lakecore.runner import UsageError, open_lake, print_table_summary, run_config, run_job

log = logging.getLogger("jobs")


def _overrides_for(spec: JobSpec, overrides: tuple[str, ...]) -> tuple[str, ...]:
    """`--set` keys that belong to this job (its own sections) or to every job."""
    fields = set(spec.config_model.model_fields)
    if own_section(spec.config_model):
        fields.add(spec.name)
    return tuple(o for o in overrides if o.startswith("env.") or o.split(".", 1)[0] in fields)


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
    from devtools.kafka_broker import KafkaBroker

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


# The options a demo step needs beyond the common ones.
STEP_OPTIONS: dict[str, dict[str, str]] = {"ingest": {"source": "demo"}}


def check_sections(registry: dict[str, JobSpec], overrides: tuple[str, ...]) -> None:
    """Refuse a `--set` that no demo step would take (a mistyped section is not dropped)."""
    known = {"env"}
    for spec in registry.values():
        known |= set(spec.config_model.model_fields)
        if own_section(spec.config_model):
            known.add(spec.name)
    for override in overrides:
        head = override.partition("=")[0].split(".", 1)[0]
        if head not in known:
            close = difflib.get_close_matches(head, sorted(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UsageError(
                f"--set {override}: no demo step has a section '{head}'{hint} "
                f"(sections: {', '.join(sorted(known))})"
            )


def run_demo(
    registry: dict[str, JobSpec], options: RunOptions, kafka: bool = False, summary: bool = True
) -> int:
    check_sections(registry, options.overrides)
    with kafka_overrides(kafka) as kafka_sets:
        code = _run_steps(registry, options, tuple(kafka_sets))
    if code != 0 or not summary:
        return code
    # Only the environment's keys: a job key (`generate_demo_data.orders=...`) is
    # unknown to the summary's config and would stop the demo after all its work.
    env_only = tuple(o for o in options.overrides if o.startswith("env."))
    only_env = options.model_copy(update={"overrides": env_only})
    print_table_summary(open_lake(only_env, "summary"))
    docs = Path(run_config("query", JobConfig, only_env).env.lakehouse.quality_docs or "")
    if (docs / "site" / "index.html").is_file():
        print(f"Data Docs (quality gates): {(docs / 'site' / 'index.html').resolve().as_uri()}")
    return 0


def _run_steps(
    registry: dict[str, JobSpec], options: RunOptions, kafka_sets: tuple[str, ...]
) -> int:
    first = ("generate_demo_data", "ingest")
    steps = [*first, *(n for n, s in registry.items() if s.in_demo and n not in first)]
    common = options.model_dump(include={"env", "conf_dir", "verbose"})
    for i, name in enumerate(steps, 1):
        log.info("demo step %d/%d: %s", i, len(steps), name)
        spec = registry[name]
        overrides = _overrides_for(spec, (*kafka_sets, *options.overrides))
        step = spec.options_model(**common, overrides=overrides, **STEP_OPTIONS.get(name, {}))
        rc = run_job(spec, step)
        if rc != 0:
            log.error("demo stopped: step %d/%d (%s) exited with %d", i, len(steps), name, rc)
            return rc
    return 0
