"""Real Walmart sales -> ledger + simulated shrink counts -> reconciliation and accuracy report.

Fast by design: the real train.csv.gz rows of the first WEEKS weeks (all 45
stores, every department) are written to a tmp folder with the real stores.csv
and go through the real ingest -> conform -> walmart_inventory ->
inventory_reconciliation. The full 143 weeks run the same way (README).
"""

from __future__ import annotations

import csv
import gzip
import math
import shutil
from fractions import Fraction

import pytest
from pyspark.sql import functions as F

from lakecore.io import Lakehouse
from tests.conftest import run_cli

pytestmark = pytest.mark.integration

WEEKS = 13  # 2010-02-05 .. 2010-04-30: three to four counts per store-department
UNIT_PRICE = 20.0  # conf/jobs/walmart_inventory.yaml
TOLERANCE = {"A": (Fraction(1, 100), 1), "B": (Fraction(3, 100), 1), "C": (Fraction(5, 100), 2)}


def half_up(x: float) -> int:
    """Spark's round() (half away from zero), not Python's (half to even)."""
    return math.floor(x + 0.5)


def first_weeks(src, dst, weeks: int) -> list[dict]:
    """The real rows of the first `weeks` week dates, written as a landing folder."""
    dst.mkdir()
    shutil.copy(src / "stores.csv", dst / "stores.csv")
    with gzip.open(src / "train.csv.gz", "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    keep = set(sorted({r["Date"] for r in rows})[:weeks])
    rows = [r for r in rows if r["Date"] in keep]
    with gzip.open(dst / "train.csv.gz", "wt", newline="") as f:
        out = csv.DictWriter(f, fieldnames=list(rows[0]))
        out.writeheader()
        out.writerows(rows)
    return rows


def test_walmart_sales_reconcile_against_the_simulated_shrink(spark, tmp_path, shared_data):
    rows = first_weeks(shared_data / "walmart-store-sales", tmp_path / "walmart", WEEKS)
    lake_root = tmp_path / "lake"
    path = str(tmp_path / "walmart")
    assert run_cli(lake_root, "run", "ingest", "--source", "walmart", "--path", path,
                   "--tables", "store_sales,locations") == 0  # fmt: skip
    for job in ("conform", "walmart_inventory", "inventory_reconciliation"):
        assert run_cli(lake_root, "run", job) == 0
    lake = Lakehouse(spark, str(lake_root))

    # Ledger: one SALE per positive week and one RETURN per negative week (net returns),
    # in units of UNIT_PRICE dollars, computed here from the raw CSV rows.
    units = [
        (float(r["Weekly_Sales"]), half_up(abs(float(r["Weekly_Sales"])) / UNIT_PRICE))
        for r in rows
    ]
    events = lake.read("silver.inventory_events").where(F.col("event_id").startswith("wm:"))
    got = {r.event_type: (r.n, r.q) for r in events.groupBy("event_type").agg(
        F.count(F.lit(1)).alias("n"), F.sum("quantity").alias("q")).collect()}  # fmt: skip
    sales = [u for s, u in units if s >= 0 and u > 0]
    returns = [u for s, u in units if s < 0 and u > 0]
    assert got["SALE"] == (len(sales), sum(sales))
    assert got["RETURN"] == (len(returns), sum(returns)) and returns

    # Every simulated count is reconciled, and its variance is exactly what the
    # simulation lost minus what earlier adjustments of the pair already wrote off.
    truth = lake.read("truth.walmart_shrink").alias("t")
    adj = lake.read("gold.inventory_adjustments").alias("a")
    prior = (
        truth.join(adj, on=(F.col("a.location_id") == F.col("t.location_id"))
                   & (F.col("a.sku") == F.col("t.sku")) & (F.col("a.event_ts") < F.col("t.count_ts")), how="left")
        .groupBy("t.count_id").agg(F.coalesce(F.sum("a.quantity"), F.lit(0)).alias("prior_adjustments"))
    )  # fmt: skip
    disc = lake.read("gold.inventory_discrepancies")
    checked = truth.join(prior, "count_id").join(
        disc.drop("location_id", "sku", "counted_qty"), "count_id"
    )
    assert checked.count() == truth.count() == disc.count() > 1000
    expected_variance = F.col("counted_qty") - F.col("ledger_qty") - F.col("prior_adjustments")
    assert checked.where(F.col("variance_units") != expected_variance).count() == 0

    # Classification, recomputed here in exact arithmetic.
    for r in disc.select("abc_class", "book_qty", "variance_units", "status").collect():
        pct, min_units = TOLERANCE[r.abc_class]
        v = abs(r.variance_units)
        outside = v > min_units and v > pct * abs(r.book_qty)
        want = "MATCH" if not outside else ("SHRINK" if r.variance_units < 0 else "OVERAGE")
        assert r.status == want, r

    # The accuracy report: per count day for the network, each ABC class and each store.
    acc = lake.read("gold.inventory_accuracy")
    network = {r.metric_date: r for r in acc.where("grain = 'network'").collect()}
    per_day = {
        r.count_date: (r.n, r.ok, r.shrink)
        for r in disc.groupBy("count_date").agg(
            F.count(F.lit(1)).alias("n"),
            F.sum(F.when(F.col("status") == "MATCH", 1).otherwise(0)).alias("ok"),
            F.sum(F.when(F.col("status") == "SHRINK", -F.col("variance_units")).otherwise(0)).alias("shrink"),
        ).collect()
    }  # fmt: skip
    assert {
        d: (r.counts, r.within_tolerance, r.shrink_units) for d, r in network.items()
    } == per_day
    assert {r.grain_key for r in acc.where("grain = 'abc_class'").collect()} == {"A", "B", "C"}
    assert acc.where("grain = 'location'").select("grain_key").distinct().count() == 45
    total = acc.where("grain = 'network'").agg(
        F.sum("counts").alias("n"), F.sum("within_tolerance").alias("ok"),
        F.sum("shrink_value").alias("shrink"), F.sum("book_value").alias("book"),
    ).first()  # fmt: skip
    print(f"walmart {WEEKS} weeks: {total.n} counts, IRA {total.ok / total.n:.3f}, "
          f"shrink {total.shrink:,.0f} of {total.book:,.0f} book value")  # fmt: skip
    assert 0 < total.ok < total.n and total.shrink > 0
