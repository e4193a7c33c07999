"""als_embeddings' steps on a stand-in context: model version, gate baseline, publishing."""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace

import pytest

from jobs import als_embeddings as job

DAY = date(2025, 6, 30)
PRODUCTS = "product_id string, category string, title string"


class FakeLake:
    """Tables as DataFrames by name; writes recorded."""

    def __init__(self, tables: dict):
        self.tables = tables
        self.writes: list[str] = []

    def exists(self, name):
        return name in self.tables

    def read(self, name):
        return self.tables[name]

    def overwrite_where(self, df, name, condition, partition_by):
        self.writes.append(name)
        return 1


def ctx(lake: FakeLake, dataset: str = "movielens") -> SimpleNamespace:
    als = SimpleNamespace(dataset=dataset, top_n=10, similar_k=10, popular_n=20)
    run = SimpleNamespace(add=lambda *a, **k: None)
    return SimpleNamespace(lake=lake, job=SimpleNamespace(als=als), run=run,
                           cfg=SimpleNamespace(config_hash="cfg"))  # fmt: skip


def test_version_follows_interactions_categories_and_stock_not_titles(spark):
    events = spark.createDataFrame([("u1", "i1"), ("u2", "i1")], "user_id string, item_id string")
    products = spark.createDataFrame([("i1", "books", "A title")], PRODUCTS)
    gone = spark.createDataFrame([("i9",)], "item_id string")

    def version(products=products, gone=gone, events=events):
        return job.model_version(ctx(FakeLake({job.PRODUCTS: products})), events, DAY, gone)

    base = version()
    assert base.startswith("als-20250630-") and version() == base
    retitled = spark.createDataFrame([("i1", "books", "New title")], PRODUCTS)
    assert version(products=retitled) == base  # no output reads the title
    moved = spark.createDataFrame([("i1", "music", "A title")], PRODUCTS)
    assert version(products=moved) != base  # popular items per category change
    assert version(gone=spark.createDataFrame([("i1",)], "item_id string")) != base
    assert version(gone=None) != base  # stock filtering off
    assert version(events=events.limit(1)) != base


def test_gate_baseline_is_the_latest_published_model_on_the_same_dataset(spark):
    rows = [
        ("v1", "movielens", "als", date(2025, 6, 1), datetime(2025, 6, 1), 0.40, True),
        ("v2", "movielens", "als", date(2025, 6, 8), datetime(2025, 6, 8), 0.45, True),
        ("v3", "movielens", "als", date(2025, 6, 15), datetime(2025, 6, 15), 0.60, False),
        ("v4", "interactions", "als", date(2025, 6, 20), datetime(2025, 6, 20), 0.01, True),
        ("v5", "movielens", "als", date(2025, 6, 22), datetime(2025, 6, 22), None, True),
        ("v5", "movielens", "popularity", date(2025, 6, 22), datetime(2025, 6, 22), 0.9, False),
    ]
    metrics = spark.createDataFrame(
        rows,
        "model_version string, dataset string, model string, as_of_date date, "
        "evaluated_at timestamp, ndcg_at_10 double, published boolean",
    )
    lake = FakeLake({job.METRICS: metrics})
    # v3 was refused, v4 scored another dataset, v5 was published unscored.
    assert job.last_published(ctx(lake), "v9")["model_version"] == "v2"
    assert job.last_published(ctx(lake), "v2")["model_version"] == "v1"  # never itself
    assert job.last_published(ctx(lake, "interactions"), "v9")["model_version"] == "v4"
    assert job.last_published(ctx(lake, "olist"), "v9") is None


def test_a_failed_check_on_any_table_writes_no_table():
    lake = FakeLake({})
    c = ctx(lake)
    gated = []

    def gate(df, table, checks):
        gated.append(table)
        if table == job.POPULAR:  # the last table gated
            raise RuntimeError(f"quality gate failed: {table}")

    c.gate = gate
    tables = dict.fromkeys((job.USER_EMB, job.ITEM_EMB, job.RECS, job.SIMILAR, job.POPULAR))
    with pytest.raises(RuntimeError, match="quality gate failed"):
        job.publish_tables(c, tables, DAY)
    assert gated == [job.RECS, job.SIMILAR, job.POPULAR] and lake.writes == []
    c.gate = lambda *a: None
    assert job.publish_tables(c, tables, DAY) == dict.fromkeys(tables, 1)
    assert lake.writes == list(tables)
