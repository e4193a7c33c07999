"""Confidence from events (weights, rating multipliers, decay, BM25) and stable id indexes."""

from __future__ import annotations

import math

import pytest
from pyspark.sql import functions as F

from tests.conftest import silver
from transforms.recommendations.feedback import (
    aggregate_confidence,
    new_id_rows,
    with_bm25,
    with_event_weight,
    with_time_decay,
)

WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0, "rating": 2.0}


def ev(user, item, etype, at="2025-06-30 12:00:00", rating=None):
    return {"user_id": user, "item_id": item, "event_type": etype, "event_ts": at, "rating": rating}


def test_event_weights_rating_multipliers_and_aggregation(spark):
    rows = [
        ev("u1", "a", "view"), ev("u1", "a", "cart"), ev("u1", "a", "purchase"),
        ev("u1", "b", "rating", rating=1.0), ev("u2", "b", "rating", rating=5.0),
        ev("u2", "c", "rating"),  # a rating without a value keeps multiplier 1
        ev("u3", "c", None), ev(None, "c", "view"),  # null type weighs 0, null user is dropped
    ]  # fmt: skip
    weighted = with_event_weight(silver(spark, "interactions", rows), WEIGHTS, {1: 0.25, 2: 0.5})
    got = {(r[0], r[1]): r[2] for r in aggregate_confidence(weighted).collect()}
    assert got == {("u1", "a"): 9.0, ("u1", "b"): 0.5, ("u2", "b"): 2.0, ("u2", "c"): 2.0}


def test_time_decay_halves_per_half_life_and_never_grows(spark):
    rows = [ev("u", "old", "view", "2025-05-31 00:00:00"), ev("u", "new", "view", "2025-07-05 00:00:00"),
            ev("u", "now", "view", "2025-06-30 00:00:00")]  # fmt: skip
    df = with_event_weight(silver(spark, "interactions", rows), WEIGHTS)
    decayed = with_time_decay(df, F.lit("2025-06-30 00:00:00"), half_life_days=30.0)
    got = {r["item_id"]: r["weight"] for r in decayed.collect()}
    assert got == {"old": pytest.approx(0.5), "new": 1.0, "now": 1.0}
    assert with_time_decay(df, F.lit("2025-06-30"), None) is df


def test_bm25_matches_the_formula_with_items_as_documents(spark):
    pairs = [
        ("u1", "a", 1.0),
        ("u1", "b", 2.0),
        ("u2", "a", 1.0),
        ("u3", "c", 4.0),
        ("u4", "d", 1.0),
    ]
    df = spark.createDataFrame(pairs, "user_id string, item_id string, strength double")
    k1, b = 1.5, 0.75
    got = {(r[0], r[1]): r[2] for r in with_bm25(df, k1, b).collect()}
    item_len = {"a": 2.0, "b": 2.0, "c": 4.0, "d": 1.0}
    mean_len = 9.0 / 4
    user_n = {"u1": 2, "u2": 1, "u3": 1, "u4": 1}
    expected = {}
    for u, i, s in pairs:
        idf = math.log(4) - math.log1p(user_n[u])
        norm = (1 - b) + b * item_len[i] / mean_len
        expected[(u, i)] = pytest.approx(s * (k1 + 1) / (k1 * norm + s) * idf)
    assert got == expected
    # The item that u4 alone saw weighs more than item a seen by u2 (and u1).
    assert got[("u4", "d")] > got[("u2", "a")]


def test_new_ids_are_numbered_after_the_map_and_old_ids_keep_theirs(spark):
    mapping = spark.createDataFrame([("a", 0), ("b", 5)], "user_id string, idx int")
    ids = spark.createDataFrame([("d",), ("b",), (None,), ("c",), ("d",)], "user_id string")
    got = sorted(map(tuple, new_id_rows(ids, mapping, "user_id").collect()))
    assert got == [("c", 6), ("d", 7)]
    empty = spark.createDataFrame([], "user_id string, idx int")
    assert sorted(map(tuple, new_id_rows(ids, empty, "user_id").collect())) == [
        ("b", 0), ("c", 1), ("d", 2)
    ]  # fmt: skip
