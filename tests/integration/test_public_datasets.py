"""The three public datasets load with exact counts (read in place from ../shared/data)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakecore.io import Lakehouse
from tests.conftest import run_cli

pytestmark = pytest.mark.integration


def _ingest(lake_root, source, path, tables=None):
    args = ["run", "ingest", "--source", source, "--path", str(path)]
    if tables:
        args += ["--tables", tables]
    assert run_cli(lake_root, *args) == 0
    return Lakehouse(SparkSession.getActiveSession(), str(lake_root))


def test_olist(olist_lake):
    lake = olist_lake
    counts = {
        t: lake.count(f"bronze.{t}")
        for t in (
            "sellers",
            "customers",
            "products",
            "categories",
            "orders",
            "order_items",
            "payments",
            "reviews",
        )
    }
    assert counts == {
        "sellers": 3095,
        "customers": 99441,
        "products": 32951,
        "categories": 71,
        "orders": 9999 + 9442,
        "order_items": 112650,
        "payments": 103886,
        "reviews": 10001,
    }
    for t in counts:
        assert lake.count(f"quarantine.{t}") == 0, t
    # Leading zeros restored; both timestamp formats of the partial orders parsed.
    assert lake.read("bronze.customers").where(F.length("zip_code_prefix") != 5).count() == 0
    orders = lake.read("bronze.orders")
    assert orders.where(F.col("purchased_at").isNull()).count() == 0
    first = orders.where(F.col("order_id") == "e481f51cbdc54678b7cc49136f2d6af7").first()
    assert str(first.purchased_at) == "2017-10-02 10:56:00"
    total = lake.read("bronze.order_items").agg(F.sum("price")).first()[0]
    assert total == Decimal("13591643.70")  # exact: DECIMAL(18,2) sums, no rounding


def test_movielens(spark, lake_root, shared_data):
    lake = _ingest(lake_root, "movielens", shared_data / "movielens-100k")
    inter = lake.read("bronze.interactions")
    assert inter.count() == 100000
    assert inter.select("user_id").distinct().count() == 943
    assert inter.select("item_id").distinct().count() == 1682
    assert lake.count("bronze.products") == 1682
    assert lake.count("bronze.customers") == 943
    toy = lake.read("bronze.products").where("product_id = '1'").first()
    assert (toy.title, toy.category) == ("Toy Story (1995)", "Animation")


def test_movielens_with_a_timestamp_far_in_the_future_loses_nothing(
    lake_root, shared_data, tmp_path
):
    """The issue's case: one epoch value past year 9999 once aborted the whole ingest with
    `long overflow`; now the 100,000 good ratings land and the bad line is quarantined."""
    folder = tmp_path / "movielens"
    folder.mkdir()
    data = (shared_data / "movielens-100k" / "u.data").read_bytes()
    (folder / "u.data").write_bytes(data + b"1\t1\t5\t99999999999999999\n")
    lake = _ingest(lake_root, "movielens", folder, tables="interactions")
    assert lake.count("bronze.interactions") == 100000
    (bad,) = lake.read("quarantine.interactions").collect()
    assert bad.reasons == ["bad_type:event_ts"] and "99999999999999999" in bad.raw_record


def test_walmart(spark, lake_root, shared_data):
    lake = _ingest(lake_root, "walmart", shared_data / "walmart-store-sales")
    sales = lake.read("bronze.store_sales")
    assert sales.count() == 421570
    assert sales.where("weekly_sales < 0").count() == 1285
    assert sales.select("store_id").distinct().count() == 45
    assert lake.count("bronze.locations") == 45
    features = lake.read("bronze.store_features")
    assert features.count() == 8190
    # "NA" markdowns are NULL, not quarantined
    assert features.where(F.col("markdown1").isNull()).count() > 0
    assert lake.count("quarantine.store_features") == 0
