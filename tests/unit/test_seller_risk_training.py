"""Point-in-time training set: the latest snapshot strictly before the day of label_ts - lag."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality

from transforms.seller_risk.training import build_training_set

FEATURES = "seller_id string, as_of_date date, risk_score double"
LABELS = "seller_id string, label_ts timestamp, label int"
OUT = "seller_id string, feature_as_of_date date, label_ts timestamp, label int, risk_score double"


def _features(spark):
    # Each later snapshot has a different value: using one too late shows in the output.
    return spark.createDataFrame(
        [
            ("s1", dt.date(2025, 6, 8), 1.0),
            ("s1", dt.date(2025, 6, 9), 2.0),
            ("s1", dt.date(2025, 6, 10), 3.0),
            ("s1", dt.date(2025, 6, 11), 4.0),
            ("s3", dt.date(2025, 6, 1), 9.0),
        ],
        FEATURES,
    )


def test_as_of_join_never_uses_a_snapshot_at_or_after_the_cutoff(spark):
    labels = spark.createDataFrame(
        [
            ("s1", dt.datetime(2025, 6, 10, 12, 0), 1),  # snapshot of 06-10 ends after the label
            (
                "s1",
                dt.datetime(2025, 6, 10, 0, 0),
                0,
            ),  # edge: 06-09's snapshot ends at this instant
            ("s1", dt.datetime(2025, 6, 8, 23, 59), 0),  # before any complete snapshot
            ("s2", dt.datetime(2025, 6, 10, 0, 0), 1),  # no snapshots at all
            ("s1", None, 1),  # null row: no label time
        ],
        LABELS,
    )
    got = build_training_set(labels, _features(spark), lag_days=0).drop("label_date")
    expected = spark.createDataFrame(
        [
            ("s1", dt.date(2025, 6, 9), dt.datetime(2025, 6, 10, 12, 0), 1, 2.0),
            ("s1", dt.date(2025, 6, 9), dt.datetime(2025, 6, 10, 0, 0), 0, 2.0),
            ("s1", None, dt.datetime(2025, 6, 8, 23, 59), 0, None),
            ("s2", None, dt.datetime(2025, 6, 10, 0, 0), 1, None),
            ("s1", None, None, 1, None),
        ],
        OUT,
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_lag_moves_the_cutoff_back(spark):
    labels = spark.createDataFrame(
        [
            ("s1", dt.datetime(2025, 6, 12, 6, 0), 1),  # cut-off 06-10 06:00: snapshot 06-09
            ("s3", dt.datetime(2025, 6, 20, 0, 0), 0),  # long before: still the only one
        ],
        LABELS,
    )
    got = build_training_set(labels, _features(spark), lag_days=2).drop("label_date")
    expected = spark.createDataFrame(
        [
            ("s1", dt.date(2025, 6, 9), dt.datetime(2025, 6, 12, 6, 0), 1, 2.0),
            ("s3", dt.date(2025, 6, 1), dt.datetime(2025, 6, 20, 0, 0), 0, 9.0),
        ],
        OUT,
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_label_date_is_the_day_asked_on_and_stale_snapshots_are_not_used(spark):
    labels = spark.createDataFrame(
        [
            ("s1", dt.datetime(2025, 6, 12, 6, 0), 1),  # asked on 06-11: 06-11's snapshot
            ("s3", dt.datetime(2025, 6, 20, 0, 0), 0),  # asked on 06-19: 06-01's is 18 days old
        ],
        LABELS,
    )
    got = build_training_set(labels, _features(spark), lag_days=0, max_age_days=7)
    rows = {r.seller_id: r for r in got.collect()}
    assert (rows["s1"].label_date, rows["s1"].feature_as_of_date) == (
        dt.date(2025, 6, 11),
        dt.date(2025, 6, 11),
    )
    assert rows["s1"].risk_score == 4.0
    assert (rows["s3"].label_date, rows["s3"].feature_as_of_date) == (dt.date(2025, 6, 19), None)
    assert rows["s3"].risk_score is None
