"""The platform's jobs, in run order. Each module defines `SPEC`; `registry()` imports them."""

from __future__ import annotations

import importlib
from functools import cache

from lakecore.job import JobSpec

# Order matters for `make demo`: producers before consumers.
JOB_MODULES = (
    "jobs.generate_demo_data",
    "jobs.ingest",
    "jobs.conform",
    "jobs.seller_risk_features",
    "jobs.seller_risk_training_set",
    "jobs.seller_risk_model",
    "jobs.seller_risk_scoring",
    "jobs.publish_seller_events",
    "jobs.seller_risk_stream",
    "jobs.seller_risk_alerts",
    "jobs.walmart_inventory",
    "jobs.inventory_reconciliation",
    "jobs.publish_inventory_events",
    "jobs.inventory_stream",
    "jobs.inventory_book_alerts",
    "jobs.als_embeddings",
    "jobs.maintain_tables",
)


@cache
def registry() -> dict[str, JobSpec]:
    specs = [importlib.import_module(m).SPEC for m in JOB_MODULES]
    return {s.name: s for s in specs}
