"""The notebooks' summaries: tiny gold tables in, exact small frames out."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import types as T

from notebooks import analytics as A

D1, D2 = date(2025, 6, 1), date(2025, 6, 2)


@pytest.fixture
def features(spark):
    schema = T.StructType(
        [
            T.StructField("seller_id", T.StringType()),
            T.StructField("as_of_date", T.DateType()),
            T.StructField("risk_score", T.DoubleType()),
            T.StructField("reason_codes", T.ArrayType(T.StringType())),
            T.StructField("cancel_rate_30d", T.DoubleType()),
        ]
    )
    rows = [
        ("s1", D1, 10.0, ["cancel_rate_30d"], 0.1),
        ("s2", D1, 80.0, ["burst_ratio", "top_buyer_share_30d"], 0.3),
        ("s3", D1, 80.0, [], None),  # tie on the score, null feature
        ("s1", D2, 20.0, ["cancel_rate_30d"], 0.2),
        ("s2", D2, 90.0, ["burst_ratio"], 0.4),
    ]
    return spark.createDataFrame(rows, schema)


def test_riskiest_sellers_ties_by_id_and_joins_reasons(features):
    got = A.riskiest_sellers(features, D1, n=2)
    assert got.to_dict("records") == [
        {"seller_id": "s2", "risk_score": 80.0, "reason_codes": "burst_ratio, top_buyer_share_30d"},
        {"seller_id": "s3", "risk_score": 80.0, "reason_codes": ""},
    ]


def test_scores_on_a_day_with_demo_truth(features, spark):
    truth = spark.createDataFrame([("s2",), ("s2",)], "seller_id string")
    got = A.scores_on(features, D1, truth)
    assert got.to_dict("list") == {
        "seller_id": ["s1", "s2", "s3"],
        "risk_score": [10.0, 80.0, 80.0],
        "is_fraud": [False, True, False],
    }


def test_feature_over_time_counts_non_null_and_exact_quantiles(features):
    got = A.feature_over_time(features, "cancel_rate_30d", quantiles=(0.5,))
    assert list(got.columns) == ["as_of_date", "sellers", "mean", "p50"]
    assert got["sellers"].tolist() == [2, 2]
    assert np.allclose(got["mean"], [0.2, 0.3])
    assert np.allclose(got["p50"], [0.2, 0.3])
    with pytest.raises(ValueError, match="no column 'nope'"):
        A.feature_over_time(features, "nope")


@pytest.fixture
def accuracy(spark):
    schema = (
        "metric_date date, grain string, grain_key string, rank int, counts long, "
        "accuracy double, variance_units long, abs_variance_value decimal(20,2), "
        "shrink_value decimal(20,2), shrink_rate double"
    )
    rows = [
        (D1, "location", "L2", None, 4, 0.5, -3, 30, 30, 0.03),
        (D1, "location", "L1", None, 2, 1.0, 0, 0, 0, 0.0),
        (D2, "location", "L1", None, 2, 0.5, -1, 5, 5, 0.01),
        (D1, "network", "ALL", None, 6, 0.667, -3, 30, 30, 0.02),
        (D2, "network", "ALL", None, 2, 0.5, -1, 5, 5, 0.01),
        (D2, "sku", "K9", 2, 1, 0.0, 2, 4, 0, 0.0),
        (D2, "sku", "K7", 1, 1, 0.0, -1, 5, 5, 0.0),
        (D1, "sku", "K1", 1, 1, 0.0, -3, 30, 30, 0.0),
    ]
    from decimal import Decimal

    rows = [(*r[:7], Decimal(r[7]), Decimal(r[8]), r[9]) for r in rows]
    return spark.createDataFrame(rows, schema)


def test_accuracy_heatmap_is_location_by_day_with_gaps(accuracy):
    got = A.accuracy_heatmap(accuracy)
    assert got.index.tolist() == ["L1", "L2"]
    assert got.columns.tolist() == [D1, D2]
    assert got.loc["L1"].tolist() == [1.0, 0.5]
    assert got.loc["L2", D1] == 0.5 and pd.isna(got.loc["L2", D2])


def test_top_drifting_skus_default_to_the_latest_day(accuracy):
    got = A.top_drifting_skus(accuracy)
    assert got[["rank", "sku"]].to_dict("list") == {"rank": [1, 2], "sku": ["K7", "K9"]}
    assert A.top_drifting_skus(accuracy, D1)["sku"].tolist() == ["K1"]


def test_drifting_skus_over_period_sum_the_daily_lists(accuracy):
    got = A.drifting_skus_over_period(accuracy, n=2)
    assert got.to_dict("list") == {
        "sku": ["K1", "K7"],
        "days_in_top": [1, 1],
        "variance_units": [-3, -1],
        "abs_variance_value": [30.0, 5.0],
        "shrink_value": [30.0, 5.0],
    }


def test_shrink_over_time_is_the_network_grain(accuracy):
    got = A.shrink_over_time(accuracy)
    assert got["metric_date"].tolist() == [D1, D2]
    assert got["shrink_value"].tolist() == [30.0, 5.0]


def test_metrics_take_the_latest_published_version_then_public_figures(spark):
    schema = (
        "model_version string, dataset string, model string, evaluated_at timestamp, "
        "precision_at_10 double, recall_at_10 double, ndcg_at_10 double, map double, "
        "coverage double, train_seconds double, published boolean, note string"
    )
    t1, t2, t3 = datetime(2025, 6, 1), datetime(2025, 6, 8), datetime(2025, 6, 9)
    rows = [
        ("v1", "demo", "als", t1, 0.1, 0.1, 0.1, 0.1, 0.5, 1.0, True, None),
        ("v1", "demo", "popularity", t1, 0.05, 0.05, 0.05, 0.05, 0.01, 0.1, True, None),
        ("v2", "demo", "als", t2, 0.2, 0.2, 0.2, 0.2, 0.6, 1.0, True, None),
        ("v2", "demo", "popularity", t2, 0.06, 0.06, 0.06, 0.06, 0.01, 0.1, True, None),
        ("v3", "demo", "als", t3, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, False, "worse than baseline"),
    ]
    got = A.metrics_against_baselines(spark.createDataFrame(rows, schema))
    assert got["model"].tolist()[:2] == ["als", "popularity"]
    assert got["precision_at_10"].tolist()[:2] == [0.2, 0.06]
    assert got["source"].tolist()[:2] == ["ours: demo", "ours: demo"]
    assert len(got) == 2 + len(A.PUBLIC_BENCHMARKS)


def test_user_history_and_recommendations_carry_titles(spark):
    interactions = spark.createDataFrame(
        [
            ("u1", "i1", "rating", datetime(2025, 1, 1), 4.0),
            ("u1", "i2", "rating", datetime(2025, 1, 2), None),
            ("u2", "i3", "rating", datetime(2025, 1, 3), 5.0),
        ],
        "user_id string, item_id string, event_type string, event_ts timestamp, rating double",
    )
    products = spark.createDataFrame(
        [("i1", "Toy Story (1995)", "Animation"), ("i3", "Heat (1995)", "Action")],
        "product_id string, title string, category string",
    )
    recs = spark.createDataFrame(
        [
            ("u1", 2, "i3", 0.5, "v1", D1),
            ("u1", 1, "i3", 0.9, "v2", D2),
            ("u1", 2, "i9", 0.4, "v2", D2),
        ],
        "user_id string, rank int, item_id string, score double, model_version string, "
        "as_of_date date",
    )
    seen, got = A.user_history_and_recommendations(interactions, products, recs, "u1")
    assert seen["item_id"].tolist() == ["i2", "i1"]
    assert seen["title"].tolist()[1] == "Toy Story (1995)" and pd.isna(seen["title"][0])
    assert got[["rank", "item_id"]].to_dict("list") == {"rank": [1, 2], "item_id": ["i3", "i9"]}
    assert got["title"].tolist()[0] == "Heat (1995)"


def test_pca_2d_recovers_the_main_axis_with_fixed_signs():
    rng = np.random.default_rng(0)
    t = rng.normal(size=200)
    # points on a line along (3, 4, 0) plus small noise on the other axes
    x = np.outer(t, [3.0, 4.0, 0.0]) + rng.normal(scale=0.01, size=(200, 3)) + 10
    xy = A.pca_2d(x)
    assert xy.shape == (200, 2)
    assert np.allclose(xy.mean(axis=0), 0, atol=1e-9)
    # the first component is the line: |projection| = 5 |t|
    assert np.corrcoef(xy[:, 0], t)[0, 1] > 0.999 or np.corrcoef(xy[:, 0], t)[0, 1] < -0.999
    assert np.allclose(np.abs(xy[:, 0]), 5 * np.abs(t - t.mean()), atol=0.05)
    assert xy[:, 1].std() < 0.02
    assert np.array_equal(A.pca_2d(x), xy)  # deterministic
    with pytest.raises(ValueError, match="at least 2 vectors"):
        A.pca_2d(np.ones((1, 3)))


def test_item_projection_uses_the_latest_vectors(spark):
    emb = spark.createDataFrame(
        [
            ("i1", "v1", D1, [9.0, 9.0]),
            ("i1", "v2", D2, [1.0, 0.0]),
            ("i2", "v2", D2, [0.0, 1.0]),
            ("i3", "v2", D2, [1.0, 1.0]),
        ],
        "item_id string, model_version string, as_of_date date, vector array<float>",
    )
    products = spark.createDataFrame(
        [("i1", "A", "c1"), ("i2", "B", "c2")], "product_id string, title string, category string"
    )
    got = A.item_projection(emb, products)
    assert got["item_id"].tolist() == ["i1", "i2", "i3"]
    assert got["category"].tolist()[:2] == ["c1", "c2"]
    assert np.allclose(got[["x", "y"]].to_numpy(), A.pca_2d([[1, 0], [0, 1], [1, 1]]))
