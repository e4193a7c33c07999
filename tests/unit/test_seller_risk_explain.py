"""Reason codes: contributions + bias rebuild the model's margin (GBT and logistic), top reasons."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.feature import StandardScaler
from pyspark.ml.linalg import Vectors, VectorUDT
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.seller_risk.explain import (
    Tree,
    TreeEnsemble,
    linear_contributions,
    saabas,
    top_reasons,
    tree_contributions,
    tree_ensemble,
)

NAMES = ["a", "b", "c", "d"]  # d is always 0: no split uses it, StandardScaler gives it std 0


def _rows(n: int = 200) -> list[tuple]:
    rng = random.Random(28)
    rows = []
    for i in range(n):
        a, b = rng.uniform(0, 1), rng.gauss(0, 1)
        c = 0.0 if i % 3 == 0 else rng.uniform(0, 5)
        label = 1.0 if a + 0.4 * b + 0.1 * c + rng.gauss(0, 0.3) > 0.9 else 0.0
        x = [a, b, c, 0.0]
        nonzero = {j: v for j, v in enumerate(x) if v != 0.0}
        vector = Vectors.sparse(4, nonzero) if i % 3 == 0 else Vectors.dense(x)
        rows.append((f"s{i:03d}", a, b, c, 0.0, vector, label))
    return rows


@pytest.fixture(scope="module")
def data(spark):
    schema = T.StructType(
        [
            *[
                T.StructField(c, T.StringType() if c == "id" else T.DoubleType())
                for c in ["id", *NAMES]
            ],
            T.StructField("features", VectorUDT()),
            T.StructField("label", T.DoubleType()),
        ]
    )
    return spark.createDataFrame(_rows(), schema).cache()


@pytest.fixture(scope="module")
def gbt(data):
    return GBTClassifier(maxIter=5, maxDepth=3, seed=28).fit(data)


@pytest.fixture(scope="module")
def gbt_scored(data, gbt):
    scored = gbt.transform(data)
    explained = tree_contributions(scored, tree_ensemble(gbt), "features", NAMES)
    return explained.select(
        "id",
        "features",
        "rawPrediction",
        "probability",
        "contributions",
        "bias",
        top_reasons("contributions", 3).alias("reasons"),
    ).collect()


def test_some_feature_vectors_are_sparse(gbt_scored):
    kinds = {type(r.features).__name__ for r in gbt_scored}
    assert kinds == {"DenseVector", "SparseVector"}


def test_tree_contributions_plus_bias_is_the_gbt_margin(gbt_scored):
    for r in gbt_scored:
        margin = r.rawPrediction[1]
        assert r.rawPrediction[0] == -margin  # Spark: rawPrediction = [-margin, margin]
        assert sum(r.contributions.values()) + r.bias == pytest.approx(margin, abs=1e-9)


def test_gbt_probability_is_sigmoid_of_twice_the_margin(gbt_scored):
    for r in gbt_scored:
        margin = r.rawPrediction[1]
        assert r.probability[1] == pytest.approx(1 / (1 + math.exp(-2 * margin)), abs=1e-12)


def test_contributions_are_keyed_by_name_and_unused_features_get_zero(gbt_scored):
    assert all(list(r.contributions) == NAMES for r in gbt_scored)
    assert all(r.contributions["d"] == 0.0 for r in gbt_scored)
    assert any(r.contributions["a"] != 0.0 for r in gbt_scored)


def test_ensemble_mirrors_the_model(gbt):
    ensemble = tree_ensemble(gbt)
    assert [t.weight for t in ensemble.trees] == list(gbt.treeWeights)
    assert ensemble.num_features == 4
    for tree, java in zip(ensemble.trees, gbt.trees, strict=True):
        assert len(tree.value) == java.numNodes
        assert tree.depth == java.depth <= 3
        assert tree.value[0] == java._java_obj.rootNode().prediction()
        assert all(tree.left[i] == -1 for i in range(len(tree.value)) if tree.is_leaf[i])
    assert ensemble.bias == pytest.approx(sum(t.weight * t.value[0] for t in ensemble.trees))


def test_null_features_give_null_contributions(spark, gbt):
    schema = T.StructType([T.StructField("id", T.IntegerType()), T.StructField("f", VectorUDT())])
    df = spark.createDataFrame([(1, Vectors.dense([0.9, 1.0, 2.0, 0.0])), (2, None)], schema)
    got = tree_contributions(df, tree_ensemble(gbt), "f", NAMES).orderBy("id").collect()
    assert got[0].contributions is not None and got[1].contributions is None


def test_names_must_match_the_model_width(spark, gbt):
    df = spark.createDataFrame([(1.0,)], "x double")
    with pytest.raises(ValueError, match="3 names for a model of 4 features"):
        tree_contributions(df, tree_ensemble(gbt), "x", NAMES[:3])


def test_only_gbt_classifiers_are_read(data):
    with pytest.raises(TypeError, match="GBTClassificationModel"):
        tree_ensemble(object())


def test_saabas_walk_on_a_hand_built_tree():
    #        0: x0 <= 0.5 (value 1)
    #     1: leaf -1          2: x1 <= 2 (value 3)
    #                       3: leaf 2      4: leaf 5
    tree = Tree(
        weight=0.5,
        feature=(0, -1, 1, -1, -1),
        threshold=(0.5, math.nan, 2.0, math.nan, math.nan),
        left=(1, -1, 3, -1, -1),
        right=(2, -1, 4, -1, -1),
        value=(1.0, -1.0, 3.0, 2.0, 5.0),
        is_leaf=(False, True, False, True, True),
    )
    ensemble = TreeEnsemble(trees=(tree, tree), num_features=2)
    x = np.array([[0.5, 9.0], [0.6, 2.0], [0.6, 2.5], [math.nan, 0.0]])
    got = saabas(ensemble, x)
    # two identical trees of weight 0.5: each row's contributions are one tree's in full
    expected = np.array([[-2.0, 0.0], [2.0, -1.0], [2.0, 2.0], [2.0, -1.0]])  # NaN goes right
    np.testing.assert_allclose(got, expected)
    assert ensemble.bias == 1.0


@pytest.fixture(scope="module")
def logistic(data):
    scaler = StandardScaler(inputCol="features", outputCol="scaled", withMean=True, withStd=True)
    scaler_model = scaler.fit(data)
    scaled = scaler_model.transform(data)
    # The identity holds for any coefficients: a few iterations are enough.
    model = LogisticRegression(featuresCol="scaled", maxIter=5).fit(scaled)
    return scaler_model, model, model.transform(scaled)


def test_linear_contributions_plus_intercept_is_the_logistic_margin(logistic):
    scaler_model, model, scored = logistic
    assert list(scaler_model.std)[3] == 0.0
    got = linear_contributions(
        scored,
        NAMES,
        list(model.coefficients),
        list(scaler_model.mean),
        list(scaler_model.std),
    ).select("rawPrediction", "probability", "contributions")
    for r in got.collect():
        margin = r.rawPrediction[1]
        assert sum(r.contributions.values()) + model.intercept == pytest.approx(margin, abs=1e-9)
        assert r.probability[1] == pytest.approx(1 / (1 + math.exp(-margin)), abs=1e-12)
        assert r.contributions["d"] == 0.0


def test_linear_null_is_the_mean_and_zero_std_is_zero(spark):
    df = spark.createDataFrame([(1, 4.0, 7.0), (2, None, 8.0)], "id int, x double, k double")
    got = linear_contributions(df, ["x", "k"], [2.0, 5.0], [1.0, 7.0], [3.0, 0.0])
    rows = {r.id: r.contributions for r in got.collect()}
    assert rows == {1: {"x": 2.0, "k": 0.0}, 2: {"x": 0.0, "k": 0.0}}


def test_linear_rejects_mismatched_lengths(spark):
    df = spark.createDataFrame([(1.0,)], "x double")
    with pytest.raises(ValueError, match="differ in length"):
        linear_contributions(df, ["x"], [1.0, 2.0], [0.0], [1.0])


def test_top_reasons_largest_positive_first_ties_by_name(spark):
    df = spark.createDataFrame(
        [
            (1, {"a": 0.5, "b": 2.0, "c": 0.5, "d": -3.0, "e": 0.0}),
            (2, {"a": -1.0, "b": 0.0}),
            (3, {"z": 1.0, "y": 1.0, "x": 1.0}),
            (4, None),
        ],
        "id int, contributions map<string, double>",
    )
    got = df.select(
        "id",
        top_reasons("contributions", 2).alias("two"),
        top_reasons(F.col("contributions"), 5).alias("five"),
    ).collect()
    assert {r.id: (r.two, r.five) for r in got} == {
        1: (["b", "a"], ["b", "a", "c"]),
        2: ([], []),
        3: (["x", "y"], ["x", "y", "z"]),
        4: (None, None),
    }


def test_top_reasons_on_tree_contributions_are_its_largest_positive_ones(gbt_scored):
    for r in gbt_scored:
        positive = sorted(((-v, k) for k, v in r.contributions.items() if v > 0))
        assert r.reasons == [k for _, k in positive[:3]]
    assert any(r.reasons for r in gbt_scored)
