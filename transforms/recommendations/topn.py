"""Top-N scoring of factor vectors: recommendations and similar items.

Spark's `recommendForAllUsers` cannot leave out the items a user already has,
so scoring is a `mapInPandas` (nothing native does a filtered top-N over a dense
product): each batch of users is one matrix product against all item vectors,
which travel to the executors inside the function (items x rank floats: 4 MB
at 20,000 items and rank 50).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import types as T

TOPN_SCHEMA = T.StructType(
    [
        T.StructField("idx", T.IntegerType(), False),
        T.StructField("rank", T.IntegerType(), False),
        T.StructField("other_idx", T.IntegerType(), False),
        T.StructField("score", T.DoubleType(), False),
    ]
)


def _top_rows(keys: np.ndarray, scores: np.ndarray, candidates: np.ndarray, n: int) -> pd.DataFrame:
    """The n best columns of each row of `scores` (-inf = excluded), ties by column index."""
    n = min(n, scores.shape[1])
    if n == 0 or len(keys) == 0:
        empty = {c: pd.Series(dtype="int32") for c in ("idx", "rank", "other_idx")}
        return pd.DataFrame({**empty, "score": pd.Series(dtype="float64")})
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    part_scores = np.take_along_axis(scores, part, axis=1)
    # lexsort: last key first; stable ties on the candidate index keep runs identical.
    order = np.lexsort((candidates[part], -part_scores), axis=1)
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(scores, best, axis=1)
    rows = np.repeat(np.arange(len(keys)), n)
    flat_scores = best_scores.ravel()
    keep = np.isfinite(flat_scores)
    return pd.DataFrame(
        {
            "idx": keys[rows][keep].astype("int32"),
            "rank": np.tile(np.arange(1, n + 1), len(keys))[keep].astype("int32"),
            "other_idx": candidates[best.ravel()][keep].astype("int32"),
            "score": flat_scores[keep].astype("float64"),
        }
    )


def recommend_top_n(
    users: DataFrame, item_idx: np.ndarray, item_vectors: np.ndarray, n: int
) -> DataFrame:
    """users (idx int, vector array<float>, exclude array<int>) -> TOPN_SCHEMA rows.

    Score = dot(user, item) (the implicit-ALS preference); the items in
    `exclude` (and any item not in `item_idx`) are never recommended.
    """
    position = {int(i): p for p, i in enumerate(item_idx)}
    matrix = item_vectors.astype(np.float32).T

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            if pdf.empty:
                continue
            u = np.vstack(pdf["vector"].to_numpy()).astype(np.float32)
            scores = (u @ matrix).astype(np.float64)
            for row, excluded in enumerate(pdf["exclude"]):
                cols = [
                    position[i] for i in (excluded if excluded is not None else ()) if i in position
                ]
                scores[row, cols] = -np.inf
            yield _top_rows(pdf["idx"].to_numpy(), scores, item_idx, n)

    return users.select("idx", "vector", "exclude").mapInPandas(score, TOPN_SCHEMA)


def similar_top_k(
    items: DataFrame, item_idx: np.ndarray, item_vectors: np.ndarray, k: int
) -> DataFrame:
    """items (idx int, vector array<float>) -> the k most cosine-similar other items.

    A zero vector has no direction: it gets no similar items and is nobody's.
    """
    norms = np.linalg.norm(item_vectors, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    unit = (item_vectors / safe[:, None]).astype(np.float32)
    unit[norms == 0] = 0.0
    matrix = unit.T
    zero = set(item_idx[norms == 0].tolist())
    position = {int(i): p for p, i in enumerate(item_idx)}

    def score(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            pdf = pdf[~pdf["idx"].isin(zero)]
            if pdf.empty:
                continue
            v = np.vstack(pdf["vector"].to_numpy()).astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            sims = np.clip((v @ matrix).astype(np.float64), -1.0, 1.0)
            sims[:, norms == 0] = -np.inf
            for row, i in enumerate(pdf["idx"].to_numpy()):
                if int(i) in position:
                    sims[row, position[int(i)]] = -np.inf
            yield _top_rows(pdf["idx"].to_numpy(), sims, item_idx, k)

    return items.select("idx", "vector").mapInPandas(score, TOPN_SCHEMA)
