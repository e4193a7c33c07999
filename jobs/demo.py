"""`make demo`: generate demo data, ingest it, run every batch job, print a summary."""

from __future__ import annotations

import argparse
import logging

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


def run_demo(registry: dict[str, JobSpec], args: argparse.Namespace) -> int:
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
        ns.overrides = _overrides_for(registry[name], args.overrides)
        run_job(registry[name], ns)
    # Only the environment's keys: a job key (`generate_demo_data.orders=...`) is
    # unknown to the summary's config and would stop the demo after all its work.
    env_only = [o for o in args.overrides if o.startswith("env.")]
    cfg = load_run_config("query", JobConfig, args.env, env_only, args.conf_dir)
    print_table_summary(Lakehouse(get_spark(cfg, "summary"), cfg.lake_root))
    return 0
