"""Per-row reason codes for the seller-risk classifier: each feature's share of the margin.

A score an analyst cannot question is a score nobody acts on, so every row
gets additive feature contributions that sum (with a bias) to the model's
raw margin, and `top_reasons` names the features pushing it up.

- Logistic regression on standardised features: margin = intercept +
  sum_i coef_i * (x_i - mean_i) / std_i, so contribution_i is that term and
  the intercept is the bias (Spark: rawPrediction = [-margin, margin],
  probability[1] = 1 / (1 + exp(-margin))).
- Gradient-boosted trees (Saabas path attribution): walking a row down a tree,
  each split on feature f moves the node value from value(node) to
  value(child) and f gets weight_t * (value(child) - value(node)); the bias is
  sum_t weight_t * value(root). Spark keeps a prediction on internal nodes too
  (the mean target of the rows that reached it), so the sums telescope to the
  margin exactly: margin = sum_t weight_t * leaf_t(x). Checked on Spark 4.2's
  GBTClassificationModel (logistic loss): rawPrediction = [-margin, margin]
  and probability[1] = 1 / (1 + exp(-2 * margin)) (labels are fit as -1/+1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def linear_contributions(
    df: DataFrame,
    feature_cols: Sequence[str],
    coefficients: Sequence[float],
    means: Sequence[float],
    stds: Sequence[float],
    out: str = "contributions",
) -> DataFrame:
    """Adds `out`: map feature -> coef * (x - mean) / std (0 when std is 0 or x is null).

    A null x counts as the mean: it moves the margin neither way. The
    intercept is the bias (not added here): intercept + sum(values) = margin.
    """
    sizes = {len(feature_cols), len(coefficients), len(means), len(stds)}
    if len(sizes) != 1:
        raise ValueError(
            f"feature_cols, coefficients, means and stds differ in length: {len(feature_cols)}, "
            f"{len(coefficients)}, {len(means)}, {len(stds)}"
        )
    _check_unique(feature_cols)
    missing = sorted(set(feature_cols) - set(df.columns))
    if missing:
        raise ValueError(f"unknown feature columns {missing}; known: {df.columns}")
    terms = []
    for name, coef, mean, std in zip(feature_cols, coefficients, means, stds, strict=True):
        if std == 0:  # a constant in training: StandardScaler maps it to 0
            term = F.lit(0.0)
        else:
            x = F.col(name).cast("double")
            term = F.coalesce((x - float(mean)) * (float(coef) / float(std)), F.lit(0.0))
        terms += [F.lit(name), term]
    return df.withColumn(out, F.create_map(*terms))


@dataclass(frozen=True)
class Tree:
    """One regression tree as flat node arrays; node 0 is the root, -1 marks no child."""

    weight: float
    feature: tuple[int, ...]  # split feature index, -1 on leaves
    threshold: tuple[float, ...]  # go left when x <= threshold; nan on leaves
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]  # the node's prediction (internal nodes: mean target there)
    is_leaf: tuple[bool, ...]

    @property
    def depth(self) -> int:
        depth = [0] * len(self.value)
        for node in range(len(self.value)):  # parents come before their children
            if not self.is_leaf[node]:
                depth[self.left[node]] = depth[self.right[node]] = depth[node] + 1
        return max(depth)


@dataclass(frozen=True)
class TreeEnsemble:
    """A fitted GBT's trees in plain Python: margin(x) = sum_t weight_t * leaf_t(x)."""

    trees: tuple[Tree, ...]
    num_features: int

    @property
    def bias(self) -> float:
        """The contributions' baseline: sum_t weight_t * value(root_t)."""
        return float(sum(t.weight * t.value[0] for t in self.trees))


def tree_ensemble(model) -> TreeEnsemble:
    """The structure of a fitted GBTClassificationModel, read through py4j (one call per field)."""
    from pyspark.ml.classification import GBTClassificationModel

    if not isinstance(model, GBTClassificationModel):
        raise TypeError(f"expected a fitted GBTClassificationModel, got {type(model).__name__}")
    weights = list(model.treeWeights)
    trees = tuple(
        _read_tree(tree._java_obj.rootNode(), weight)
        for tree, weight in zip(model.trees, weights, strict=True)
    )
    return TreeEnsemble(trees=trees, num_features=int(model.numFeatures))


def _read_tree(root, weight: float) -> Tree:
    feature, threshold, left, right, value, is_leaf = [], [], [], [], [], []
    queue = [root]  # breadth first: a node's id is its place in the queue
    while len(value) < len(queue):
        node = queue[len(value)]
        kind = node.getClass().getSimpleName()
        value.append(float(node.prediction()))
        if kind == "LeafNode":
            feature.append(-1)
            threshold.append(float("nan"))
            left.append(-1)
            right.append(-1)
            is_leaf.append(True)
            continue
        if kind != "InternalNode":
            raise ValueError(f"unexpected tree node type {kind}")
        split = node.split()
        split_kind = split.getClass().getSimpleName()
        if split_kind != "ContinuousSplit":
            raise ValueError(
                f"{split_kind} on feature {split.featureIndex()}: only continuous splits are "
                "supported (fit on numeric features, no categorical metadata)"
            )
        feature.append(int(split.featureIndex()))
        threshold.append(float(split.threshold()))
        left.append(len(queue))
        right.append(len(queue) + 1)
        queue += [node.leftChild(), node.rightChild()]
        is_leaf.append(False)
    return Tree(
        weight=float(weight),
        feature=tuple(feature),
        threshold=tuple(threshold),
        left=tuple(left),
        right=tuple(right),
        value=tuple(value),
        is_leaf=tuple(is_leaf),
    )


def saabas(ensemble: TreeEnsemble, x: np.ndarray) -> np.ndarray:
    """rows x features contributions of `x` (rows x features), walking all rows level by level."""
    rows = np.arange(x.shape[0])
    contrib = np.zeros(x.shape, dtype=np.float64)
    for tree in ensemble.trees:
        feature, threshold = np.asarray(tree.feature), np.asarray(tree.threshold)
        left, right = np.asarray(tree.left), np.asarray(tree.right)
        value, is_leaf = np.asarray(tree.value), np.asarray(tree.is_leaf)
        node = np.zeros(x.shape[0], dtype=np.int64)
        for _ in range(tree.depth):
            moving = ~is_leaf[node]
            f = np.where(moving, feature[node], 0)
            # Spark's ContinuousSplit: left when x <= threshold (NaN goes right there too).
            child = np.where(x[rows, f] <= threshold[node], left[node], right[node])
            child = np.where(moving, child, node)
            # One (row, feature) pair per row on each level: no repeated index to lose.
            contrib[rows, f] += np.where(moving, tree.weight * (value[child] - value[node]), 0.0)
            node = child
    return contrib


def tree_contributions(
    df: DataFrame,
    ensemble: TreeEnsemble,
    features_col: str,
    names: Sequence[str],
    out: str = "contributions",
    bias: str = "bias",
) -> DataFrame:
    """Adds `out` (map feature name -> Saabas contribution) and `bias` (a constant).

    sum(values of `out`) + `bias` = the GBT margin (rawPrediction[1]) up to
    rounding. A null features vector gives a null map. A pandas UDF, not
    mapInPandas: only the feature vector (as an array) goes to Python, in
    Arrow batches, while mapInPandas would carry every column through Python
    and a Vector column cannot make that trip (Spark 4.2 fails to serialise it).
    """
    if len(names) != ensemble.num_features:
        raise ValueError(f"{len(names)} names for a model of {ensemble.num_features} features")
    _check_unique(names)
    if features_col not in df.columns:
        raise ValueError(f"unknown features column {features_col!r}; known: {df.columns}")
    width = ensemble.num_features

    @F.pandas_udf("array<double>")
    def contributions(vectors: pd.Series) -> pd.Series:
        present = np.flatnonzero(vectors.notna().to_numpy())
        result: list[np.ndarray | None] = [None] * len(vectors)
        if len(present):
            x = np.stack(vectors.iloc[present].to_numpy())
            if x.shape[1] != width:
                raise ValueError(f"feature vectors of size {x.shape[1]}, the model takes {width}")
            for i, row in zip(present, saabas(ensemble, x), strict=True):
                result[i] = row
        return pd.Series(result, index=vectors.index, dtype=object)

    vec = F.col(features_col)
    # vector_to_array fails on null input: only convert what is there.
    arr = contributions(F.when(vec.isNotNull(), vector_to_array(vec, "float64")))
    keys = F.array(*[F.lit(n) for n in names])
    return df.withColumns({out: F.map_from_arrays(keys, arr), bias: F.lit(ensemble.bias)})


def top_reasons(contributions: Column | str, k: int = 3) -> Column:
    """The names of the k largest positive contributions in a map, largest first, ties by name."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    col = F.col(contributions) if isinstance(contributions, str) else contributions
    # Sorting (-value, name) ascending puts the largest first, ties by name.
    ranked = F.array_sort(
        F.transform(
            F.map_entries(col),
            lambda e: F.struct((-e["value"]).alias("neg"), e["key"].alias("name")),
        )
    )
    positive = F.filter(ranked, lambda x: x["neg"] < 0)
    return F.transform(F.slice(positive, 1, k), lambda x: x["name"])


def _check_unique(names: Sequence[str]) -> None:
    dupes = sorted({n for n in names if list(names).count(n) > 1})
    if dupes:
        raise ValueError(f"feature names repeat: {dupes}")
