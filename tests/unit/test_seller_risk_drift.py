"""PSI per feature: no drift is 0, a shift is large, nulls are a bin, a hand-worked example."""

from __future__ import annotations

import math
import random

import pytest

from transforms.seller_risk.drift import bin_edges, psi, psi_of_shares


def _psi(reference, current, features, **kwargs) -> dict[str, dict]:
    return {r.feature: r.asDict() for r in psi(reference, current, features, **kwargs).collect()}


def test_psi_of_shares_formula():
    ref, cur = {"x": 0.5, "y": 0.5}, {"x": 0.25, "y": 0.75}
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi_of_shares(ref, cur, 1e-4) == pytest.approx(expected, rel=1e-15)
    assert psi_of_shares(cur, ref, 1e-4) == pytest.approx(psi_of_shares(ref, cur, 1e-4))
    assert psi_of_shares(ref, ref, 1e-4) == 0.0


def test_psi_of_shares_floors_empty_bins_at_epsilon():
    # "z" is missing on the reference side: its share counts as epsilon, not 0.
    got = psi_of_shares({"x": 1.0}, {"x": 0.9, "z": 0.1}, epsilon=0.01)
    expected = (0.9 - 1.0) * math.log(0.9) + (0.1 - 0.01) * math.log(0.1 / 0.01)
    assert got == pytest.approx(expected, rel=1e-15)


@pytest.fixture(scope="module")
def samples(spark):
    rng = random.Random(28)
    base = [(rng.gauss(10, 2), rng.expovariate(1.0)) for _ in range(1000)]
    schema = "x double, y double"
    reference = spark.createDataFrame(base, schema)
    same = spark.createDataFrame(list(reversed(base)), schema)
    shifted = spark.createDataFrame([(x + 2.0, y) for x, y in base], schema)
    return reference, same, shifted


def test_identical_distributions_have_zero_psi(samples):
    reference, same, _ = samples
    got = _psi(reference, same, ["x", "y"])
    assert got["x"] == {
        "feature": "x",
        "psi": pytest.approx(0.0, abs=1e-12),
        "reference_rows": 1000,
        "current_rows": 1000,
        "bins": 10,
    }
    assert got["y"]["psi"] == pytest.approx(0.0, abs=1e-12)


def test_a_shifted_feature_has_large_psi_the_other_none(samples):
    reference, _, shifted = samples
    got = _psi(reference, shifted, ["x", "y"])
    assert got["x"]["psi"] > 0.25
    assert got["y"]["psi"] == pytest.approx(0.0, abs=1e-12)


def test_hand_worked_example(spark):
    # Reference 1, 2, 3, 4: the median 2 is the one edge, bins (-inf, 2] and (2, inf).
    reference = spark.createDataFrame([(1.0,), (2.0,), (3.0,), (4.0,)], "v double")
    current = spark.createDataFrame([(1.0,), (3.0,), (3.0,), (9.0,), (None,)], "v double")
    assert bin_edges(reference, ["v"], bins=2) == {"v": [2.0]}
    got = _psi(reference, current, ["v"], bins=2, epsilon=1e-4)["v"]
    ref = {0: 0.5, 1: 0.5, "null": 0.0}
    cur = {0: 0.2, 1: 0.6, "null": 0.2}
    by_hand = (
        (0.2 - 0.5) * math.log(0.2 / 0.5)
        + (0.6 - 0.5) * math.log(0.6 / 0.5)
        + (0.2 - 1e-4) * math.log(0.2 / 1e-4)
    )
    assert psi_of_shares(ref, cur, 1e-4) == pytest.approx(by_hand, rel=1e-15)
    assert got == {
        "feature": "v",
        "psi": psi_of_shares(ref, cur, 1e-4),
        "reference_rows": 4,
        "current_rows": 5,
        "bins": 2,
    }


def test_given_edges_skip_the_quantiles(spark):
    reference = spark.createDataFrame([(1.0,), (2.0,), (3.0,), (4.0,)], "v double")
    current = spark.createDataFrame([(1.0,), (3.0,), (3.0,), (9.0,), (None,)], "v double")
    computed = _psi(reference, current, ["v"], bins=2)["v"]
    assert _psi(reference, current, ["v"], edges={"v": [2.0]}) == {"v": computed}
    with pytest.raises(ValueError, match=r"no edges for features \['v'\]"):
        psi(reference, current, ["v"], edges={})


def test_nulls_are_a_bin_of_their_own(spark):
    values = [(float(i),) for i in range(100)]
    reference = spark.createDataFrame(values, "v double")
    more_nulls = spark.createDataFrame(values + [(None,)] * 50, "v double")
    got = _psi(reference, more_nulls, ["v"])["v"]
    assert got["current_rows"] == 150 and got["psi"] > 0.25
    # The same share of nulls on both sides is no drift.
    assert _psi(more_nulls, more_nulls, ["v"])["v"]["psi"] == pytest.approx(0.0, abs=1e-12)


def test_constant_and_all_null_features_do_not_crash(spark):
    reference = spark.createDataFrame([(5.0, None)] * 20, "k double, n double")
    current = spark.createDataFrame([(5.0, None)] * 10 + [(6.0, 1.0)] * 10, "k double, n double")
    got = _psi(reference, current, ["k", "n"])
    assert got["k"]["bins"] == 2  # one edge: (-inf, 5] and (5, inf)
    assert got["n"]["bins"] == 1  # no edges: one value bin beside the null bin
    assert got["k"]["psi"] > 0.25 and got["n"]["psi"] > 0.25
    same = _psi(reference, reference, ["k", "n"])
    assert same["k"]["psi"] == 0.0 and same["n"]["psi"] == 0.0


def test_empty_current_gives_null_psi(spark):
    reference = spark.createDataFrame([(1.0,), (2.0,)], "v double")
    got = _psi(reference, reference.limit(0), ["v"])["v"]
    assert got["psi"] is None and (got["reference_rows"], got["current_rows"]) == (2, 0)


def test_unknown_feature_fails(spark):
    df = spark.createDataFrame([(1.0,)], "v double")
    with pytest.raises(ValueError, match=r"reference lacks features \['w'\]"):
        psi(df, df, ["w"])
    with pytest.raises(ValueError, match=r"current lacks features \['w'\]"):
        psi(df.withColumn("w", df.v), df, ["w"])
