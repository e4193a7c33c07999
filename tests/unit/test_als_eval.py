"""The evaluation protocol's split and metric math on hand-computed tiny cases."""

from __future__ import annotations

import math

import pytest

from transforms.recommendations.evaluation import (
    per_user_metrics,
    ranking_metrics,
    split_stratified,
)

PAIRS = "user_id string, item_id string"
RECS = "user_id string, item_id string, rank int"


def test_split_is_stratified_by_item_and_seeded(spark):
    rows = [(f"u{u}", "big") for u in range(8)] + [("u0", "single"), ("u1", "pair"), ("u2", "pair")]
    df = spark.createDataFrame(rows, PAIRS)
    train, test = split_stratified(df, 0.75, seed=42)
    per_item = {r["item_id"]: r["count"] for r in test.groupBy("item_id").count().collect()}
    # round(0.75 x 8) = 6 train, 2 test; one row -> train; round(1.5) = 2 -> both train.
    assert per_item == {"big": 2}
    assert train.count() + test.count() == len(rows)
    again, _ = split_stratified(df.repartition(3), 0.75, seed=42)
    assert sorted(map(tuple, again.collect())) == sorted(map(tuple, train.collect()))
    other, _ = split_stratified(df, 0.75, seed=7)
    assert sorted(map(tuple, other.collect())) != sorted(map(tuple, train.collect()))


def test_per_user_metrics_match_hand_computed_values(spark):
    test = spark.createDataFrame(
        [("a", "i1"), ("a", "i2"), ("a", "i3"), ("b", "i9"), ("c", "i1"), ("d", "i4")], PAIRS
    )
    train_users = spark.createDataFrame([("a",), ("b",), ("d",), (None,)], "user_id string")
    recs = spark.createDataFrame(
        [("a", "i1", 1), ("a", "x", 2), ("a", "i3", 3), ("a", "i2", 4),  # i2 beyond k=3
         ("b", "x", 1), ("c", "i1", 1), (None, "i1", 1)],
        RECS,
    )  # fmt: skip
    got = {r["user_id"]: r for r in per_user_metrics(recs, test, train_users, k=3).collect()}
    # c is not in training; d has held-out items but no recommendation (scores 0).
    assert set(got) == {"a", "b", "d"}
    a = got["a"]
    assert (a["hits"], a["precision"], a["recall"]) == (
        2,
        pytest.approx(2 / 3),
        pytest.approx(2 / 3),
    )
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert a["ndcg"] == pytest.approx((1 + 1 / math.log2(4)) / idcg)
    assert a["ap"] == pytest.approx((1 / 1 + 2 / 3) / 3)
    for user in ("b", "d"):
        assert (got[user]["hits"], got[user]["ndcg"], got[user]["ap"]) == (0, 0.0, 0.0)


def test_ranking_metrics_average_over_users_and_report_coverage(spark):
    train = spark.createDataFrame([("a", "i5"), ("b", "i6"), ("b", "i7"), ("a", "i8")], PAIRS)
    test = spark.createDataFrame([("a", "i6"), ("b", "i5")], PAIRS)
    recs = spark.createDataFrame([("a", "i6", 1), ("a", "i7", 2), ("b", "i8", 1)], RECS)
    m = ranking_metrics(recs, test, train, k=10)
    assert m["users"] == 2
    assert m["precision_at_10"] == pytest.approx((1 / 10 + 0) / 2)
    assert m["recall_at_10"] == pytest.approx(0.5)
    assert m["ndcg_at_10"] == pytest.approx(0.5)
    assert m["map"] == pytest.approx(0.5)
    assert m["coverage"] == pytest.approx(3 / 4)  # i6, i7, i8 of the 4 training items
