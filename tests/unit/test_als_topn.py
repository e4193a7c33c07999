"""Top-N scoring (exclusions, ties), cosine similar items, stock filter, popularity."""

from __future__ import annotations

import numpy as np
from pyspark.sql import functions as F

from transforms.recommendations.outputs import out_of_stock, popular_items
from transforms.recommendations.topn import recommend_top_n, similar_top_k

ITEMS = np.array([10, 11, 12, 13])
VECTORS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]], dtype=np.float32)


def rows(df):
    return sorted((r["idx"], r["rank"], r["other_idx"], round(r["score"], 4)) for r in df.collect())


def test_recommendations_rank_by_dot_product_and_skip_excluded_items(spark):
    users = spark.createDataFrame(
        [(1, [2.0, 1.0], [12]), (2, [1.0, 1.0], None), (3, [1.0, 0.0], [10, 11, 12, 13, 99])],
        "idx int, vector array<float>, exclude array<int>",
    )
    got = rows(recommend_top_n(users, ITEMS, VECTORS, n=2))
    assert got == [
        (1, 1, 10, 2.0),
        (1, 2, 11, 1.0),  # 12 (score 3) was excluded
        (2, 1, 12, 2.0),
        (2, 2, 10, 1.0),  # 10 and 11 tie at 1.0: the lower id first
    ]  # fmt: skip  (user 3 excluded everything: no rows)


def test_similar_items_by_cosine_skip_self_and_zero_vectors(spark):
    items = spark.createDataFrame(
        [(int(i), v.tolist()) for i, v in zip(ITEMS, VECTORS, strict=True)],
        "idx int, vector array<float>",
    )
    got = rows(similar_top_k(items, ITEMS, VECTORS, k=2))
    half = round(1 / np.sqrt(2), 4)
    assert got == [
        (10, 1, 12, half), (10, 2, 11, 0.0),
        (11, 1, 12, half), (11, 2, 10, 0.0),
        (12, 1, 10, half), (12, 2, 11, half),
    ]  # fmt: skip


def test_out_of_stock_sums_current_available_over_locations(spark):
    snap = spark.createDataFrame(
        [("L1", "a", 0, True), ("L2", "a", 3, True), ("L1", "b", 0, True), ("L2", "b", 5, False),
         ("L1", "c", None, True), ("L1", "d", -2, True), ("L2", "d", 1, True)],
        "location_id string, sku string, available long, is_current boolean",
    )  # fmt: skip
    got = sorted(r["item_id"] for r in out_of_stock(snap, min_available=1).collect())
    assert got == ["b", "c", "d"]


def test_popular_items_overall_and_per_category_with_stable_ties(spark):
    pop = spark.createDataFrame(
        [("a", 5.0), ("b", 3.0), ("c", 3.0), ("d", 1.0)], "item_id string, score double"
    )
    products = spark.createDataFrame(
        [("a", "x"), ("b", "y"), ("c", "y"), ("d", None)], "product_id string, category string"
    )
    df = popular_items(pop, products, 2, F.lit("v1"), F.lit("2025-06-30").cast("date"))
    got = sorted((r["scope"], r["category"] or "", r["rank"], r["item_id"]) for r in df.collect())
    assert got == [
        ("category", "x", 1, "a"), ("category", "y", 1, "b"), ("category", "y", 2, "c"),
        ("overall", "", 1, "a"), ("overall", "", 2, "b"),
    ]  # fmt: skip
    assert {r["model_version"] for r in df.collect()} == {"v1"}
