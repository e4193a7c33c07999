"""The classifier's time split and its publication gate (pure Python)."""

from __future__ import annotations

import datetime as dt

import pytest

from jobs.seller_risk_model import ModelParams, gate
from transforms.seller_risk.model import numeric_features, seller_group, time_split

DAYS = [dt.date(2025, 1, 1) + dt.timedelta(days=7 * i) for i in range(10)]


def test_time_split_trains_before_it_validates_and_validates_before_it_tests():
    split = time_split(DAYS, validation_share=0.2, test_share=0.2, embargo_days=0)
    assert split.train == (DAYS[0], DAYS[5])
    assert split.validation == (DAYS[6], DAYS[7])
    assert split.test == (DAYS[8], DAYS[9])


def test_embargo_purges_days_whose_outcome_window_reaches_the_next_part():
    weeks = [dt.date(2025, 1, 1) + dt.timedelta(days=7 * i) for i in range(30)]
    # Labels look 30 days ahead: a label less than 31 days before the next part saw
    # that part's outcomes. Validation starts at weeks[18], the test at weeks[24].
    split = time_split(weeks, 0.2, 0.2, embargo_days=30)
    assert split.train == (weeks[0], weeks[13])
    assert split.validation == (weeks[18], weeks[19])
    assert split.test == (weeks[24], weeks[29])
    with pytest.raises(ValueError, match=r"no validation day .* embargo_days=30"):
        time_split(DAYS, 0.2, 0.2, embargo_days=30)
    with pytest.raises(ValueError, match=r"no training day .* embargo_days=60"):
        time_split(DAYS[:6], 0.2, 0.2, embargo_days=60)


def test_seller_groups_are_stable_disjoint_and_near_their_shares():
    sellers = [f"s{i}" for i in range(2000)]
    groups = [seller_group(s, (0.2, 0.2), seed=42) for s in sellers]
    assert groups == [seller_group(s, (0.2, 0.2), seed=42) for s in sellers]
    for name, share in (("train", 0.6), ("validation", 0.2), ("test", 0.2)):
        assert abs(groups.count(name) / len(sellers) - share) < 0.03, name
    assert groups != [seller_group(s, (0.2, 0.2), seed=7) for s in sellers]


def test_too_few_days_to_split_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot be split"):
        time_split(DAYS[:2], 0.2, 0.2, embargo_days=0)


def test_features_never_include_the_label_its_outcomes_or_the_hand_score(spark):
    df = spark.createDataFrame(
        [],
        "seller_id string, label int, weight double, risk_score double, orders_30d long, "
        "cancel_rate_30d double, outcome_late_delivery_share double, gmv_30d decimal(22,2), "
        "feature_as_of_date date, reason_codes array<string>",
    )
    assert numeric_features(df) == ["orders_30d", "cancel_rate_30d", "gmv_30d"]
    assert numeric_features(df, exclude=["gmv_30d"]) == ["orders_30d", "cancel_rate_30d"]
    assert numeric_features(df, exclude=["cancel_rate_*"]) == ["orders_30d", "gmv_30d"]


@pytest.mark.parametrize(
    ("test_auc", "hand", "prev", "positives", "published", "why"),
    [
        (0.80, 0.70, None, 10, True, None),
        (0.80, 0.70, 0.82, 10, False, "published model's 0.8200"),
        (0.65, 0.70, None, 10, False, "hand score's 0.7000"),
        (0.90, 0.70, None, 2, False, "2 test positives"),
        (None, 0.70, None, 0, False, "one class"),
    ],
)
def test_gate_publishes_only_a_model_that_beats_the_hand_score_and_the_last_model(
    test_auc, hand, prev, positives, published, why
):
    ok, notes = gate(ModelParams(), test_auc, hand, prev, positives)
    assert ok is published
    if why:
        assert any(why in n for n in notes), notes
