"""What the analyst notebooks compute: small summaries of the gold tables, for plotting.

The notebooks only open the lake (`open_lake`), call these and plot. Heavy work
(filters, aggregations, percentiles, joins) runs in Spark; what comes back to
pandas is a few hundred rows at most. Nothing here writes.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakecore.config import JobConfig, load_run_config
from lakecore.io import Lakehouse
from lakecore.session import get_spark

RANKING_METRICS = ("precision_at_10", "recall_at_10", "ndcg_at_10", "map")

# Published figures on MovieLens 100K (random 75/25 split, top 10), from the
# benchmark table of the microsoft/recommenders README: a yardstick for the
# order of magnitude, not a like-for-like comparison (our split is by time).
PUBLIC_BENCHMARKS = pd.DataFrame(
    [
        ("Spark ALS (recommenders)", 0.048462, 0.017796, 0.044239, 0.004732),
        ("SAR (recommenders)", 0.333828, 0.183179, 0.388321, 0.113028),
    ],
    columns=["model", *RANKING_METRICS],
).assign(source="published: MovieLens 100K")


def open_lake(app_name: str = "notebook", env_name: str | None = None) -> Lakehouse:
    """The lake of the environment (`LAKEHOUSE_ENV`, `LAKEHOUSE_ROOT` apply), read-only use;
    its tables are registered as `layer.table`, so `spark.sql("select * from gold.x")`
    works in a notebook."""
    cfg = load_run_config("query", JobConfig, env_name=env_name)
    lake = Lakehouse(get_spark(cfg, app_name), cfg.lake_root)
    lake.register_catalog()
    return lake


def latest_date(df: DataFrame, column: str) -> date:
    value = df.agg(F.max(column)).first()[0]
    if value is None:
        raise ValueError(f"no rows: the table has no {column}")
    return value


# --------------------------------------------------------------------------- seller risk


def scores_on(features: DataFrame, day: date, truth: DataFrame | None = None) -> pd.DataFrame:
    """Every active seller's score on `day`; with `truth`, `is_fraud` from the demo's labels."""
    scores = features.where(F.col("as_of_date") == F.lit(day)).select("seller_id", "risk_score")
    if truth is not None:
        labels = truth.select("seller_id", F.lit(True).alias("is_fraud")).distinct()
        scores = scores.join(labels, "seller_id", how="left").fillna(False, ["is_fraud"])
    return scores.orderBy("seller_id").toPandas()


def riskiest_sellers(features: DataFrame, day: date, n: int = 10) -> pd.DataFrame:
    """The `n` highest scores on `day` with their reason codes (ties by seller id)."""
    return (
        features.where(F.col("as_of_date") == F.lit(day))
        .orderBy(F.desc("risk_score"), F.asc("seller_id"))
        .limit(n)
        .select(
            "seller_id",
            "risk_score",
            F.array_join("reason_codes", ", ").alias("reason_codes"),
        )
        .toPandas()
    )


def feature_over_time(
    features: DataFrame, feature: str, quantiles: tuple[float, ...] = (0.5, 0.9)
) -> pd.DataFrame:
    """Per as-of day: sellers with a value, its mean and exact quantiles (drift at a glance)."""
    if feature not in features.columns:
        raise ValueError(f"no column {feature!r} in the features table")
    qs = F.percentile(F.col(feature), list(quantiles))
    daily = (
        features.groupBy("as_of_date")
        .agg(
            F.count(feature).alias("sellers"),
            F.mean(feature).alias("mean"),
            qs.alias("_q"),
        )
        .orderBy("as_of_date")
    )
    cols = [F.col("_q")[i].alias(f"p{round(q * 100)}") for i, q in enumerate(quantiles)]
    return daily.select("as_of_date", "sellers", "mean", *cols).toPandas()


def model_registry(registry: DataFrame) -> pd.DataFrame:
    """Every trained seller-risk model, newest first: its verdict and its test AUC beside
    the hand score's on the same test days."""
    m = F.col("metrics")
    return (
        registry.select(
            "model_name",
            "model_version",
            "trained_at",
            "algorithm",
            "published",
            F.concat_ws(
                " .. ", F.col("test_start").cast("string"), F.col("test_end").cast("string")
            ).alias("test_days"),
            "test_positives",
            F.round(m["test_auc"], 3).alias("test_auc"),
            F.round(m["hand_score_test_auc"], 3).alias("hand_score_auc"),
            F.array_join("gate_notes", "; ").alias("gate_notes"),
        )
        .orderBy(F.desc("trained_at"))
        .toPandas()
    )


def most_probable_sellers(scores: DataFrame, day: date, n: int = 10) -> pd.DataFrame:
    """The `n` highest model probabilities on `day`, with both sets of reason codes."""
    return (
        scores.where((F.col("as_of_date") == F.lit(day)) & F.col("risk_probability").isNotNull())
        .orderBy(F.desc("risk_probability"), F.asc("seller_id"))
        .limit(n)
        .select(
            "seller_id",
            F.round("risk_probability", 3).alias("risk_probability"),
            F.array_join("model_reason_codes", ", ").alias("model_reasons"),
            "risk_score",
            F.array_join("reason_codes", ", ").alias("score_reasons"),
        )
        .toPandas()
    )


def psi_over_time(drift: DataFrame, top: int = 5) -> pd.DataFrame:
    """PSI per day (rows) of the `top` features that drifted most on the latest day (columns)."""
    latest = drift.agg(F.max("as_of_date")).first()[0]
    worst = [
        r["feature"]
        for r in drift.where(F.col("as_of_date") == F.lit(latest))
        .orderBy(F.desc("psi"), "feature")
        .limit(top)
        .collect()
    ]
    table = (
        drift.where(F.col("feature").isin(worst))
        .groupBy("as_of_date")
        .pivot("feature", worst)
        .agg(F.first("psi"))
        .orderBy("as_of_date")
    )
    return table.toPandas()


# --------------------------------------------------------------------------- inventory


def accuracy_heatmap(accuracy: DataFrame) -> pd.DataFrame:
    """Record accuracy by location (rows) and count day (columns); NaN where nothing was counted."""
    rows = (
        accuracy.where(F.col("grain") == "location")
        .select(F.col("grain_key").alias("location_id"), "metric_date", "accuracy")
        .toPandas()
    )
    table = rows.pivot(index="location_id", columns="metric_date", values="accuracy")
    return table.sort_index().sort_index(axis=1)


def top_drifting_skus(accuracy: DataFrame, day: date | None = None) -> pd.DataFrame:
    """The job's top drifting SKUs of `day` (default: the latest day), by rank."""
    skus = accuracy.where(F.col("grain") == "sku")
    day = day or latest_date(skus, "metric_date")
    return (
        skus.where(F.col("metric_date") == F.lit(day))
        .orderBy("rank")
        .select(
            "rank",
            F.col("grain_key").alias("sku"),
            "counts",
            "variance_units",
            "abs_variance_value",
            "shrink_value",
        )
        .toPandas()
    )


def drifting_skus_over_period(accuracy: DataFrame, n: int = 10) -> pd.DataFrame:
    """SKUs that made the daily top-drift lists most: days listed, summed variance, shrink."""
    return (
        accuracy.where(F.col("grain") == "sku")
        .groupBy(F.col("grain_key").alias("sku"))
        .agg(
            F.count("*").alias("days_in_top"),
            F.sum("variance_units").alias("variance_units"),
            F.sum("abs_variance_value").cast("double").alias("abs_variance_value"),
            F.sum("shrink_value").cast("double").alias("shrink_value"),
        )
        .orderBy(F.desc("abs_variance_value"), F.asc("sku"))
        .limit(n)
        .toPandas()
    )


def shrink_over_time(accuracy: DataFrame) -> pd.DataFrame:
    """Network shrink value and rate per day."""
    return (
        accuracy.where(F.col("grain") == "network")
        .orderBy("metric_date")
        .select(
            "metric_date",
            F.col("shrink_value").cast("double").alias("shrink_value"),
            "shrink_rate",
            "accuracy",
        )
        .toPandas()
    )


# --------------------------------------------------------------------------- recommendations


def metrics_against_baselines(metrics: DataFrame) -> pd.DataFrame:
    """The latest published model version's ALS and popularity rows, then the public figures."""
    published = metrics.where(F.col("published"))
    version = (
        published.orderBy(F.desc("evaluated_at"), F.desc("model_version"))
        .select("model_version")
        .first()
    )
    if version is None:
        raise ValueError("no published model version in gold.model_metrics")
    ours = (
        metrics.where(F.col("model_version") == version[0])
        .orderBy("model")
        .select("model", *RANKING_METRICS, "coverage", "dataset")
        .toPandas()
        .assign(source=lambda d: "ours: " + d.pop("dataset").astype(str))
    )
    return pd.concat([ours, PUBLIC_BENCHMARKS], ignore_index=True)


def user_history_and_recommendations(
    interactions: DataFrame,
    products: DataFrame,
    recommendations: DataFrame,
    user_id: str,
    history: int = 10,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A user's latest interactions and current recommendations, with item titles."""
    titles = products.select(F.col("product_id").alias("item_id"), "title", "category").distinct()
    seen = (
        interactions.where(F.col("user_id") == user_id)
        .join(titles, "item_id", how="left")
        .orderBy(F.desc("event_ts"), F.asc("item_id"))
        .limit(history)
        .select("event_ts", "event_type", "rating", "item_id", "title", "category")
        .toPandas()
    )
    recs = recommendations.where(F.col("user_id") == user_id)
    if "as_of_date" in recommendations.columns:
        recs = recs.where(F.col("as_of_date") == F.lit(latest_date(recs, "as_of_date")))
    recs = (
        recs.join(titles, "item_id", how="left")
        .orderBy("rank")
        .select("rank", "item_id", "title", "category", "score")
        .toPandas()
    )
    return seen, recs


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """Project row vectors on their two first principal components (centred SVD).

    Signs are fixed so the largest loading of each component is positive: the
    same vectors always give the same picture.
    """
    x = np.asarray(vectors, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"need at least 2 vectors of 2 dimensions, got shape {x.shape}")
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    components = vt[:2]
    flip = np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])
    return x @ (components * flip[:, None]).T


def item_projection(
    item_embeddings: DataFrame, products: DataFrame, limit: int = 2000
) -> pd.DataFrame:
    """Latest item vectors projected to 2-D (x, y) with each item's category and title."""
    latest = item_embeddings.where(
        F.col("as_of_date") == F.lit(latest_date(item_embeddings, "as_of_date"))
    )
    items = (
        latest.join(
            products.select(F.col("product_id").alias("item_id"), "title", "category"),
            "item_id",
            how="left",
        )
        .orderBy("item_id")
        .limit(limit)
        .toPandas()
    )
    xy = pca_2d(np.stack(items["vector"].to_numpy()))
    return items.drop(columns=["vector"]).assign(x=xy[:, 0], y=xy[:, 1])
