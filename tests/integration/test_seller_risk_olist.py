"""seller_risk_features over every date of the real Olist marketplace."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from tests.conftest import run_cli

pytestmark = pytest.mark.integration

OUT = "gold.seller_risk_features"


@pytest.fixture(scope="module")
def olist_features(olist_lake):
    """One backfill over the whole span of Olist's event days (first to last).

    A seller counts as active on its sale days only (`active_days=1`): every
    assertion here holds for any active window, and this keeps the backfill to
    the sale days (the default 90-day window gives 788,626 seller-days and cost
    the suite about 100 s more; the default is tested on the demo data).
    """
    items = olist_lake.read("silver.order_items")
    orders = olist_lake.read("silver.orders")
    first = min(
        orders.agg(F.min(F.to_date("purchased_at"))).first()[0],
        items.agg(F.min(F.to_date("shipping_limit_at"))).first()[0],
    )
    last = items.agg(F.max(F.to_date("shipping_limit_at"))).first()[0]
    dates = ["--start", str(first), "--end", str(last)]
    sale_days_only = "--set=seller_risk.active_days=1"
    assert run_cli(olist_lake.root, "run", "seller_risk_features", *dates, sale_days_only) == 0
    return olist_lake


def test_every_seller_gets_features_and_gmv_adds_up_to_the_item_prices(olist_features):
    lake = olist_features
    features = lake.read(OUT)
    assert features.select("seller_id").distinct().count() == 3095
    # A sale counts in gmv_1d of exactly its own day: summed over every seller-day it is
    # the marketplace's whole GMV, including items whose order row Olist does not ship.
    gmv = features.agg(F.sum("gmv_1d")).first()[0]
    prices = lake.read("silver.order_items").agg(F.sum("price")).first()[0]
    assert gmv == prices == Decimal("13591643.70")  # exact by construction: DECIMAL money


def test_items_without_an_order_row_are_counted_and_recorded(olist_features):
    lake = olist_features
    items = lake.read("silver.order_items")
    orders = lake.read("silver.orders").select("order_id")
    orphans = items.join(orders, on="order_id", how="left_anti").count()
    run = (
        lake.read("ops.job_runs")
        .where("job = 'seller_risk_features' AND status = 'SUCCEEDED'")
        .orderBy(F.desc("ended_at"))
        .first()
    )
    extra = json.loads(run.table_counts)["_extra"]
    assert orphans > 0  # Olist's orders extracts are partial
    assert extra["order_items_without_order_row"] == orphans
    assert extra["order_items_without_event_time"] == 0
    assert extra["quality"][OUT]["success"] is True
    # conform's first (full) run counted the same gap among the rows it conformed.
    conform = lake.read("ops.job_runs").where("job = 'conform'").orderBy("ended_at").first()
    assert json.loads(conform.table_counts)["_extra"]["orphans"]["order_items->orders"] == orphans
