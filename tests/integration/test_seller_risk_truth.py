"""Ground truth: on the seeded demo, risk_score ranks the planted fraudsters first."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

pytestmark = pytest.mark.integration


def roc_auc(scores: dict[str, float], positives: set[str]) -> float:
    """Mann-Whitney U / (n_pos * n_neg): the chance a fraudster outscores a legit seller
    (ties count one half)."""
    pos = [s for k, s in scores.items() if k in positives]
    neg = [s for k, s in scores.items() if k not in positives]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def precision_at(scores: dict[str, float], positives: set[str], k: int) -> float:
    top = sorted(scores, key=lambda s: (-scores[s], s))[:k]
    return sum(s in positives for s in top) / k


def test_metric_helpers_on_known_rankings():
    scores = {"a": 9.0, "b": 8.0, "c": 8.0, "d": 1.0}
    assert roc_auc(scores, {"a", "b"}) == pytest.approx((2 + 1.5) / 4)
    assert precision_at(scores, {"a", "b"}, 2) == 1.0  # ties broken by id: a, b
    assert roc_auc(scores, {"d"}) == 0.0


def test_risk_score_separates_the_planted_fraudsters_on_the_last_day(demo_lake):
    features = demo_lake.read("gold.seller_risk_features")
    last = features.agg(F.max("as_of_date")).first()[0]
    rows = features.where(F.col("as_of_date") == last).select("seller_id", "risk_score")
    scores = {r.seller_id: r.risk_score for r in rows.collect()}
    truth = {r.seller_id for r in demo_lake.read("truth.fraudulent_sellers").collect()}
    assert truth <= set(scores), "every planted fraudster is active on the last day"
    auc, precision = roc_auc(scores, truth), precision_at(scores, truth, len(truth))
    print(f"demo {last}: {len(scores)} sellers, {len(truth)} fraudsters, "
          f"ROC AUC {auc:.3f}, precision@{len(truth)} {precision:.3f}")  # fmt: skip
    assert auc >= 0.95
    assert precision >= 0.8
