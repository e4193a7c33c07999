"""How far can implicit ALS go on the MovieLens 100K protocol? The evidence behind issue 4's bar.

    .venv/bin/python benchmarks/als_ceiling.py

The shipped default reaches nDCG@10 0.482 / MAP 0.150 against a 0.50 / 0.16
goal. A Spark fit costs ~5 s, so `als_movielens_search.py` could afford ~150
of them. This script re-implements Spark's implicit ALS in numpy (the same
normal equations: confidence 1 + alpha x |r|, preference r > 0, and regParam
multiplied by each row's number of positive entries, as Spark's ALS does), checks it
against one Spark fit, and then, at ~0.5 s a fit:

1. splits: the default on the test part of ten other split seeds (1..10), to
   show how much the split alone moves the figure;
2. grid: 120 configs on the validation part (rank x regParam x alpha, alpha
   down to 0.1, where implicit ALS tends to PureSVD);
3. weighting: strength per user (n_u ** -g), per item (popularity ** b) and
   time decay, each with alpha re-tuned, on the validation part;
4. families: EASE and RP3beta, the strongest simple top-N models, on the
   validation part;
5. what-ifs, on the seed-42 test part, each evaluated once: the best
   weighting from 3 and an ensemble of six ALS fits (z-scored scores summed).

Splits come from the job's own `split_stratified` (Spark); the test part of
seed 42 is read only in steps 0 (the check) and 5.
Results: benchmarks/results/als_ceiling.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from als_movielens_search import DATA, load, local_session, top_k_metrics
from pyspark.ml.recommendation import ALS
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from transforms.recommendations.evaluation import split_stratified

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT = {"rank": 16, "reg": 0.1, "alpha": 1.0, "iters": 10}
ENSEMBLE = [(16, 0.1, 42), (16, 0.1, 7), (24, 0.1, 42), (8, 0.03, 42), (32, 0.3, 42), (48, 0.3, 42)]


class Split:
    """Train / held-out pairs as index arrays, held-out limited to known users and items."""

    def __init__(self, train: pd.DataFrame, held: pd.DataFrame) -> None:
        users = np.sort(train.u.unique())
        items = np.sort(train.i.unique())
        self.users, self.items = users, items
        self.u = np.searchsorted(users, train.u.to_numpy())
        self.i = np.searchsorted(items, train.i.to_numpy())
        self.ts = train.ts.to_numpy()
        held = held[held.u.isin(users) & held.i.isin(items)]
        hu = np.searchsorted(users, held.u.to_numpy())
        hi = np.searchsorted(items, held.i.to_numpy())
        self.relevant = pd.Series(hi).groupby(hu).apply(set)
        self.shape = (len(users), len(items))
        self.seen = self.matrix()

    def matrix(self, strength: np.ndarray | None = None) -> sp.csr_matrix:
        data = np.ones(len(self.u)) if strength is None else strength
        return sp.csr_matrix((data, (self.u, self.i)), shape=self.shape)


def spark_als(r: sp.csr_matrix, rank: int, reg: float, alpha: float, iters: int, seed: int = 42):
    """Spark's implicit ALS normal equations, solved exactly per row."""
    rng = np.random.default_rng(seed)

    def init(n: int) -> np.ndarray:
        m = rng.normal(size=(n, rank))
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    def half(m: sp.csr_matrix, other: np.ndarray) -> np.ndarray:
        gram = other.T @ other
        out = np.zeros((m.shape[0], rank))
        for row in range(m.shape[0]):
            lo, hi = m.indptr[row], m.indptr[row + 1]
            if lo == hi:
                continue
            f = other[m.indices[lo:hi]]
            v = m.data[lo:hi]
            c1 = alpha * np.abs(v)
            a = gram + (f * c1[:, None]).T @ f + reg * (v > 0).sum() * np.eye(rank)
            out[row] = np.linalg.solve(a, ((1.0 + c1) * (v > 0)) @ f)
        return out

    x, y = init(r.shape[0]), init(r.shape[1])
    rt = r.T.tocsr()
    for _ in range(iters):
        x = half(r, y)
        y = half(rt, x)
    return x, y


def metrics(scores: np.ndarray, s: Split) -> dict[str, float]:
    """The protocol's nDCG@10 and MAP (transforms/recommendations/evaluation.py) over users with held-out items."""
    scores = np.array(scores, dtype=float)
    scores[s.seen.nonzero()] = -np.inf
    m = top_k_metrics(scores, s.relevant.to_dict())
    return {"ndcg_at_10": round(m["ndcg_at_10"], 4), "map": round(m["map"], 4)}


def als_metrics(s: Split, strength=None, **cfg) -> dict[str, float]:
    c = {**DEFAULT, **cfg}
    x, y = spark_als(s.matrix(strength), c["rank"], c["reg"], c["alpha"], c["iters"])
    return metrics(x @ y.T, s)


def ensemble(s: Split) -> dict[str, float]:
    """Six ALS fits (rank, regParam, init seed), each user's scores z-scored, then summed."""
    total = 0.0
    for rank, reg, seed in ENSEMBLE:
        x, y = spark_als(s.matrix(), rank, reg, 1.0, 10, seed)
        m = x @ y.T
        total = total + (m - m.mean(1, keepdims=True)) / (m.std(1, keepdims=True) + 1e-9)
    return metrics(total, s)


def spark_check(spark: SparkSession, fit_df, s: Split) -> dict[str, float]:
    """The shipped default fitted by Spark itself, scored with the same numpy metrics."""
    pairs = fit_df.select(
        F.col("user_id").cast("int").alias("u"),
        F.col("item_id").cast("int").alias("i"),
        F.lit(1.0).alias("strength"),
    ).cache()
    model = ALS(
        rank=16, maxIter=10, regParam=0.1, alpha=1.0, implicitPrefs=True, userCol="u",
        itemCol="i", ratingCol="strength", seed=42, numUserBlocks=2, numItemBlocks=2,
    ).fit(pairs)  # fmt: skip

    def ordered(factors, ids):
        pdf = factors.toPandas().set_index("id").reindex(ids)
        return np.vstack(pdf["features"].to_numpy())

    x = ordered(model.userFactors, s.users)
    y = ordered(model.itemFactors, s.items)
    return metrics(x @ y.T, s)


def families(s: Split) -> list[dict]:
    dense = s.seen.toarray()
    gram = dense.T @ dense
    rows = []
    for lam in (100, 300, 500, 800, 1500):
        p = np.linalg.inv(gram + lam * np.eye(gram.shape[0]))
        w = -p / np.diag(p)
        np.fill_diagonal(w, 0.0)
        rows.append({"model": "EASE", "lambda": lam, **metrics(dense @ w, s)})
    p_ui = dense / np.maximum(dense.sum(1, keepdims=True), 1)
    p_iu = dense.T / np.maximum(dense.T.sum(1, keepdims=True), 1)
    pop = np.maximum(dense.sum(0), 1)
    for a in (0.5, 1.0):
        for b in (0.2, 0.4, 0.6):
            w = (p_iu**a) @ (p_ui**a) / pop**b
            np.fill_diagonal(w, 0.0)
            rows.append({"model": "RP3beta", "alpha": a, "beta": b, **metrics(dense @ w, s)})
    return rows


def weightings(s: Split) -> list[dict]:
    n_u = np.bincount(s.u)[s.u].astype(float)
    n_i = np.bincount(s.i)[s.i].astype(float)
    age_days = (s.ts.max() - s.ts) / 86400.0
    schemes = {f"user n_u^-{g}": n_u**-g for g in (0.25, 0.5, 1.0)}
    schemes |= {f"item popularity^{b}": n_i**b for b in (0.25, 0.5, 1.0)}
    schemes |= {f"time decay {h} d": 0.5 ** (age_days / h) for h in (30, 60, 120)}
    rows = []
    for name, w in schemes.items():
        for alpha in (0.5, 1.0, 2.0):
            m = als_metrics(s, w / w.mean(), alpha=alpha)
            rows.append({"weighting": name, "alpha": alpha, **m})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(RESULTS / "als_ceiling.json"))
    args = ap.parse_args()
    spark = local_session()
    t0 = time.monotonic()
    df = load(spark, DATA)

    def pdf(d) -> pd.DataFrame:
        cols = [F.col(c).cast("int").alias(c[0]) for c in ("user_id", "item_id")]
        return d.select(*cols, F.unix_timestamp("event_ts").alias("ts")).toPandas()

    train_df, test_df = split_stratified(df, 0.75, 42)
    fit_df, val_df = split_stratified(train_df, 0.75, 7)
    val = Split(pdf(fit_df), pdf(val_df))
    test = Split(pdf(train_df), pdf(test_df))
    out: dict = {"default": DEFAULT}
    out["check"] = {
        "validation_spark": spark_check(spark, fit_df, val),
        "validation_numpy": als_metrics(val),
        "test_numpy": als_metrics(test),
    }
    print(json.dumps(out["check"]), flush=True)

    out["splits"] = []
    for seed in range(1, 11):
        tr, te = split_stratified(df, 0.75, seed)
        out["splits"].append({"seed": seed, **als_metrics(Split(pdf(tr), pdf(te)))})
        print(json.dumps(out["splits"][-1]), flush=True)
    nd = np.array([r["ndcg_at_10"] for r in out["splits"]])
    out["splits_summary"] = {
        "ndcg_mean": round(float(nd.mean()), 4), "ndcg_min": float(nd.min()),
        "ndcg_max": float(nd.max()), "ndcg_sd": round(float(nd.std()), 4),
    }  # fmt: skip

    out["grid"] = []
    for rank in (8, 16, 24, 32, 48, 64):
        for reg in (0.01, 0.03, 0.1, 0.3, 1.0):
            for alpha in (0.1, 0.25, 0.5, 1.0):
                m = als_metrics(val, rank=rank, reg=reg, alpha=alpha)
                out["grid"].append({"rank": rank, "reg": reg, "alpha": alpha, **m})
    out["grid"].sort(key=lambda r: -r["ndcg_at_10"])
    print("grid best", json.dumps(out["grid"][:3]), flush=True)
    out["weighting"] = sorted(weightings(val), key=lambda r: -r["ndcg_at_10"])
    out["families"] = [*families(val), {"model": "ALS ensemble", **ensemble(val)}]
    print(json.dumps(out["families"]), flush=True)

    best = out["weighting"][0]
    n_u = np.bincount(test.u)[test.u].astype(float)
    g = float(best["weighting"].split("^-")[1]) if "n_u^-" in best["weighting"] else None
    what_if = {}
    if g is not None:
        w = n_u**-g
        what_if["best weighting on validation: " + best["weighting"]] = als_metrics(
            test, w / w.mean(), alpha=best["alpha"]
        )
    what_if["ensemble of six ALS fits (rank, reg, seed): " + str(ENSEMBLE)] = ensemble(test)
    out["what_if_test"] = what_if
    print(json.dumps(what_if), flush=True)

    out["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    out["machine"] = f"{platform.node()} {platform.processor() or platform.machine()}"
    out["seconds"] = round(time.monotonic() - t0, 1)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
