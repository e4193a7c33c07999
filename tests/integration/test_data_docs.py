"""Every gated table of the demo has its Great Expectations Data Docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

pytestmark = pytest.mark.integration

# The gates the batch jobs of `make demo` declare (ctx.gate in jobs/*.py).
GATED = {
    "gold.seller_risk_features",
    "gold.inventory_discrepancies",
    "gold.inventory_adjustments",
    "gold.inventory_alerts",
    "gold.inventory_accuracy",
    "gold.inventory_book_snapshot",
    "gold.user_recommendations",
    "gold.similar_items",
    "gold.popular_items",
}


def test_every_gated_table_has_data_docs(demo_lake):
    runs = demo_lake.read("ops.job_runs").where(F.col("status") == "SUCCEEDED").collect()
    gated: dict[str, dict] = {}
    for run in runs:
        gated |= json.loads(run.table_counts or "{}").get("_extra", {}).get("quality", {})
    assert set(gated) == GATED  # the README lists these
    docs = Path(demo_lake.root) / "_quality"
    index = docs / "site" / "index.html"
    html = index.read_text()
    for table, outcome in gated.items():
        layer, name = table.split(".")
        assert outcome["success"] is True, table
        assert outcome["docs"] == str(index.resolve()), table
        assert (docs / "expectations" / layer / f"{name}.json").is_file(), table
        assert list((docs / "validations" / layer / name).rglob("*.json")), table
        # the site lists the table's suite and renders its validation
        assert table in html, table
        assert list((docs / "site" / "validations" / layer / name).rglob("*.html")), table
