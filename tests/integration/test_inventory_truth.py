"""Ground truth on the seeded demo: the counts outside tolerance are the planted drift,
and the streamed book equals the batch computation."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from transforms.inventory.stream import BOOK_COLUMNS, current_book

pytestmark = pytest.mark.integration


def test_counts_outside_tolerance_are_the_planted_drift(demo_lake):
    counts = demo_lake.read("silver.inventory_counts")
    disc = demo_lake.read("gold.inventory_discrepancies")
    truth = {r.count_id: r.drift_units for r in demo_lake.read("truth.inventory_drift").collect()}
    assert disc.count() == counts.count(), "every count is reconciled"

    flagged = {
        r.count_id: (r.status, r.variance_units) for r in disc.where("status != 'MATCH'").collect()
    }
    hits = set(flagged) & set(truth)
    precision, recall = len(hits) / len(flagged), len(hits) / len(truth)
    print(f"demo: {counts.count()} counts, {len(truth)} planted drifts, {len(flagged)} flagged, "
          f"precision {precision:.3f}, recall {recall:.3f}")  # fmt: skip
    assert len(truth) >= 20
    assert precision >= 0.99
    assert recall >= 0.99
    # The variance found is the drift planted, with its direction.
    for count_id in hits:
        status, variance = flagged[count_id]
        assert variance == truth[count_id]
        assert status == ("SHRINK" if variance < 0 else "OVERAGE")

    # Clean SKUs get no adjustment: every adjustment, in gold and in the ledger, is a drift.
    adjusted = {
        r.count_id: r.quantity for r in demo_lake.read("gold.inventory_adjustments").collect()
    }
    assert set(adjusted) <= set(truth)
    clean_pairs = (
        counts.join(demo_lake.read("truth.inventory_drift"), "count_id", "left_anti")
        .select("location_id", "sku")
        .distinct()
    )
    ledger = demo_lake.read("silver.inventory_events").where(F.col("event_id").startswith("recon:"))
    assert ledger.join(clean_pairs, ["location_id", "sku"], "left_semi").count() == 0
    assert {r.event_id.removeprefix("recon:"): r.quantity for r in ledger.collect()} == adjusted


def test_demo_book_equals_the_batch_computation(demo_lake):
    """`make demo` streams the ledger through the Delta stand-in: same book as one batch pass."""
    expected = current_book(demo_lake.read("stream.inventory_events"))
    got = demo_lake.read("gold.inventory_book_current").select(*BOOK_COLUMNS)
    assert got.count() > 1000
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
