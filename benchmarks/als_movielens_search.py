"""Choose the ALS defaults on MovieLens 100K by validation, never on the test part.

    .venv/bin/python benchmarks/als_movielens_search.py [--quick]

The public protocol splits each item's ratings 75/25 (seed 42); the 25% is the
test part and is not looked at here. The 75% training part is split again the
same way (75/25 by item, seed 7) into fit / validation; every candidate config
is fitted with Spark ALS on the fit part and scored (nDCG@10, MAP) on the
validation part. The scoring here is a small numpy version of the protocol
(fast in a loop); the job's Spark implementation of the same metrics gives the
final test figure (`als_embeddings --set als.evaluate=true`).
Results: benchmarks/results/als_movielens_search.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pyspark.ml.recommendation import ALS
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from transforms.recommendations.evaluation import split_stratified
from transforms.recommendations.feedback import (
    aggregate_confidence,
    with_bm25,
    with_event_weight,
    with_log_scale,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DATA = ROOT.parent / "shared" / "data" / "movielens-100k" / "u.data"


def local_session() -> SparkSession:
    """local[2], 4 shuffle partitions, no UI, errors only: the searches' session."""
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def load(spark: SparkSession, path: Path):
    raw = spark.read.csv(str(path), sep="\t", schema="u INT, i INT, rating DOUBLE, ts LONG")
    return raw.select(
        F.col("u").cast("string").alias("user_id"),
        F.col("i").cast("string").alias("item_id"),
        F.lit("rating").alias("event_type"),
        F.timestamp_seconds("ts").alias("event_ts"),
        "rating",
    )


def top_k_metrics(scores, relevant, k: int = 10) -> dict[str, float]:
    """The protocol's nDCG@10, MAP and precision@10 from a users x items score matrix.

    `scores`: seen items already -inf; `relevant`: row -> set of held-out column
    indexes (users without held-out items are left out, as in the protocol).
    """
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    ndcg, ap, prec = [], [], []
    for row, rel in relevant.items():
        top = np.argpartition(-scores[row], k)[:k]
        top = top[np.argsort(-scores[row][top])]
        hit = np.fromiter((t in rel for t in top), float, k)
        ndcg.append((hit * disc).sum() / disc[: min(len(rel), k)].sum())
        ap.append((np.cumsum(hit) / np.arange(1, k + 1) * hit).sum() / len(rel))
        prec.append(hit.sum() / k)
    return {"ndcg_at_10": float(np.mean(ndcg)), "map": float(np.mean(ap)),
            "precision_at_10": float(np.mean(prec))}  # fmt: skip


def np_metrics(uf, itf, users, items, train_pairs, test_pairs, k=10):
    """nDCG@10, MAP and precision@10 of factor matrices on (user, item) id pairs."""
    u_pos = {u: p for p, u in enumerate(users)}
    i_pos = {i: p for p, i in enumerate(items)}
    scores = uf @ itf.T
    for u, i in train_pairs:
        scores[u_pos[u], i_pos[i]] = -np.inf
    rel: dict[int, set] = {}
    for u, i in test_pairs:
        if u in u_pos and i in i_pos:
            rel.setdefault(u_pos[u], set()).add(i_pos[i])
    m = top_k_metrics(scores, rel, k)
    return m["ndcg_at_10"], m["map"], m["precision_at_10"]


def prepare(df, weighting: str, rating_w: dict | None):
    w = with_event_weight(df, {"rating": 1.0}, rating_w)
    pairs = aggregate_confidence(w)
    if weighting.startswith("bm25"):
        _, k1, b = weighting.split(":")
        pairs = with_bm25(pairs, float(k1), float(b))
    elif weighting.startswith("log"):
        pairs = with_log_scale(pairs, float(weighting.split(":")[1]))
    return pairs.select(
        F.col("user_id").cast("int").alias("u"), F.col("item_id").cast("int").alias("i"), "strength"
    ).cache()


def materialize(df):
    df.count()
    return df


def evaluate(pairs, fit_pairs_list, val_pairs_list, rank, reg, alpha, iters, nonneg=False):
    als = ALS(
        nonnegative=nonneg,
        rank=rank,
        maxIter=iters,
        regParam=reg,
        alpha=alpha,
        implicitPrefs=True,
        userCol="u",
        itemCol="i",
        ratingCol="strength",
        coldStartStrategy="drop",
        seed=42,
        numUserBlocks=2,
        numItemBlocks=2,
    )
    t0 = time.monotonic()
    model = als.fit(pairs)
    secs = time.monotonic() - t0
    uf = model.userFactors.orderBy("id").toPandas()
    itf = model.itemFactors.orderBy("id").toPandas()
    ndcg, mapk, prec = np_metrics(
        np.vstack(uf["features"]),
        np.vstack(itf["features"]),
        uf["id"].tolist(),
        itf["id"].tolist(),
        fit_pairs_list,
        val_pairs_list,
    )
    return {"ndcg_at_10": ndcg, "map": mapk, "precision_at_10": prec, "fit_seconds": secs}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grid", default="wide")
    ap.add_argument("--out", default=str(RESULTS / "als_movielens_search.json"))
    args = ap.parse_args()
    spark = local_session()
    spark.sparkContext.setCheckpointDir("/tmp/als_search_ckpt")
    df = load(spark, DATA)
    train, _test = split_stratified(df, 0.75, 42)
    fit, val = split_stratified(train, 0.75, 7)
    fit = fit.cache()
    fit_list = [(int(r[0]), int(r[1])) for r in fit.select("user_id", "item_id").collect()]
    val_list = [(int(r[0]), int(r[1])) for r in val.select("user_id", "item_id").collect()]
    grids = {
        "wide": dict(
            weighting=["none"],
            rating_w=[None, {1: 0.3, 2: 0.3}],
            rank=[16, 32],
            reg=[0.1, 0.3, 1.0],
            alpha=[1.0, 3.0, 10.0],
            iters=[10],
        ),
        # Session 8: non-negative factors, around the chosen default.
        "nonneg": dict(
            weighting=["none"],
            rating_w=[None],
            rank=[12, 16, 24],
            reg=[0.05, 0.1, 0.2],
            alpha=[0.5, 1.0, 2.0],
            iters=[10],
            nonnegative=[True, False],
        ),
    }
    grid = grids.get(args.grid) or json.loads(args.grid)
    rows = []
    prepared = {}
    for weighting, rw in itertools.product(grid["weighting"], grid["rating_w"]):
        prepared[(weighting, json.dumps(rw))] = materialize(prepare(fit, weighting, rw))
    for (weighting, rw), rank, reg, alpha, iters, nonneg in itertools.product(
        prepared,
        grid["rank"],
        grid["reg"],
        grid["alpha"],
        grid["iters"],
        grid.get("nonnegative", [False]),
    ):
        pairs = prepared[(weighting, rw)]
        res = evaluate(pairs, fit_list, val_list, rank, reg, alpha, iters, nonneg)
        row = {"weighting": weighting, "rating_weights": json.loads(rw), "rank": rank,
               "reg": reg, "alpha": alpha, "iters": iters, "nonnegative": nonneg, **res}  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    rows.sort(key=lambda r: -r["ndcg_at_10"])
    out = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}",
        "protocol": "fit/validation = 75/25 by item (seed 7) of the 75% training part (seed 42)",
        "grid": {k: [str(x) for x in v] for k, v in grid.items()},
        "best": rows[0],
        "results": rows,
    }
    Path(args.out).write_text(json.dumps(out, indent=2))
    print("best", json.dumps(rows[0]))


if __name__ == "__main__":
    main()
