"""seller_risk_scoring: gold.seller_risk_features + the published model -> gold.seller_risk_scores.

For each day of the run, every seller's hand-weighted `risk_score` and its
reason codes sit beside `risk_probability` from the latest published model in
gold.model_registry (jobs/seller_risk_model.py) and the model's own reason
codes: the features that pushed the probability up most (logistic coefficient x
standardized value, or the trees' path contributions; transforms.seller_risk.explain).
Without a published model the probability is null and the run says so.

Drift: per feature, the population stability index of the day against the
model's training days (transforms.seller_risk.drift) goes to
gold.seller_risk_drift; a feature above `drift.psi_alert` raises one alert per
day in ops.alerts. Both tables are replaced on the run's days: a re-run gives the
same rows and raises no second alert.
"""

from __future__ import annotations

from pydantic import Field
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.seller_risk_model import published_model
from lakecore.alerts import ALERTS, record_alert
from lakecore.config import JobConfig, StrictModel
from lakecore.job import JobContext, JobSpec
from transforms.seller_risk.drift import bin_edges, psi
from transforms.seller_risk.explain import (
    linear_contributions,
    top_reasons,
    tree_contributions,
    tree_ensemble,
)
from transforms.seller_risk.model import RULE_PREFIX, as_doubles, imputed, with_rule_columns

NAME = "seller_risk_scoring"
FEATURES = "gold.seller_risk_features"
SCORES = "gold.seller_risk_scores"
DRIFT = "gold.seller_risk_drift"
SCORE_COLUMNS = (
    "seller_id string, as_of_date date, feature_version string, risk_score double, "
    "reason_codes array<string>, risk_probability double, model_reason_codes array<string>, "
    "model_contributions map<string,double>, model_name string, model_version string"
)
DRIFT_COLUMNS = (
    "as_of_date date, model_version string, feature string, psi double, "
    "reference_rows long, current_rows long, breached boolean"
)


class DriftParams(StrictModel):
    enabled: bool = True
    bins: int = Field(default=10, ge=2, le=100)
    # PSI above this is a shift worth a look (0.1-0.25 moderate, > 0.25 large).
    psi_alert: float = Field(default=0.25, gt=0)
    # Days with fewer scored sellers than this are not judged (a PSI over a handful
    # of rows is noise).
    min_rows: int = Field(default=30, ge=1)
    # Features that grow with time by definition (ages, running totals): they drift
    # against any past window, so they are measured but never alert.
    no_alert: list[str] = Field(
        default_factory=lambda: ["account_age_days", "days_since_first_sale", "listings_total"]
    )


class ScoringParams(StrictModel):
    model_name: str = Field(default="seller_risk", pattern=r"^[a-z][a-z0-9_]{0,40}$")
    reason_codes: int = Field(default=3, ge=1)
    drift: DriftParams = DriftParams()


class ScoringConfig(JobConfig):
    seller_risk_scoring: ScoringParams = ScoringParams()


def explained(model: PipelineModel, algorithm: str, rows: DataFrame, features: list[str]):
    """The model's output with `risk_probability` and `model_contributions` (feature -> margin)."""
    out = model.transform(as_doubles(rows, features))
    out = out.withColumn("risk_probability", vector_to_array(F.col("probability"))[1])
    if algorithm == "logistic_regression":
        scaler, lr = model.stages[2], model.stages[3]
        # Contributions of the imputed values, keyed by the feature's own name.
        named = out.drop(*features).withColumnsRenamed(
            dict(zip(imputed(features), features, strict=True))
        )
        return linear_contributions(
            named,
            features,
            lr.coefficients.toArray().tolist(),
            scaler.mean.toArray().tolist(),
            scaler.std.toArray().tolist(),
            out="model_contributions",
        )
    if algorithm == "gbt":
        ensemble = tree_ensemble(model.stages[-1])
        return tree_contributions(
            out, ensemble, "features", features, out="model_contributions", bias="_bias"
        )
    raise ValueError(f"unknown algorithm {algorithm!r} in gold.model_registry")


def scores(ctx: JobContext, day_rows: DataFrame, published) -> DataFrame:
    s = ctx.job.seller_risk_scoring
    base = ["seller_id", "as_of_date", "feature_version", "risk_score", "reason_codes"]
    if published is None:
        nulls = {
            "risk_probability": F.lit(None).cast("double"),
            "model_reason_codes": F.lit(None).cast("array<string>"),
            "model_contributions": F.lit(None).cast("map<string,double>"),
            "model_name": F.lit(None).cast("string"),
            "model_version": F.lit(None).cast("string"),
        }
        return day_rows.select(*base).withColumns(nulls)
    features = list(published["features"])
    rules = [f.removeprefix(RULE_PREFIX) for f in features if f.startswith(RULE_PREFIX)]
    day_rows = with_rule_columns(day_rows, rules)
    missing = [f for f in features if f not in day_rows.columns]
    if missing:
        raise ValueError(
            f"the published model {published['model_version']} needs features {FEATURES} "
            f"does not have: {missing} (feature_version {published['feature_version']}); "
            "retrain it (seller_risk_training_set, seller_risk_model)"
        )
    model = PipelineModel.load(published["model_path"])
    out = explained(model, published["algorithm"], day_rows, features)
    return out.select(
        *base,
        "risk_probability",
        top_reasons("model_contributions", s.reason_codes).alias("model_reason_codes"),
        "model_contributions",
        F.lit(ctx.job.seller_risk_scoring.model_name).alias("model_name"),
        F.lit(published["model_version"]).alias("model_version"),
    )


def drift_rows(ctx: JobContext, features: DataFrame, day_rows: DataFrame, published) -> DataFrame:
    """PSI per feature and day against the published model's training days."""
    d = ctx.job.seller_risk_scoring.drift
    names = list(published["features"])
    rules = [f.removeprefix(RULE_PREFIX) for f in names if f.startswith(RULE_PREFIX)]
    features = with_rule_columns(features, rules)
    day_rows = with_rule_columns(day_rows, rules)
    reference = as_doubles(
        features.where(
            F.col("as_of_date").between(
                F.lit(published["train_start"]), F.lit(published["train_end"])
            )
        ),
        names,
    ).cache()
    edges = bin_edges(reference, names, bins=d.bins)  # once for every day of the run
    parts = []
    for day in ctx.dates():
        current = as_doubles(day_rows.where(F.col("as_of_date") == F.lit(day)), names)
        rows = psi(reference, current, names, bins=d.bins, edges=edges).withColumns(
            {"as_of_date": F.lit(day), "model_version": F.lit(published["model_version"])}
        )
        parts.append(rows)
    reference.unpersist()  # psi's rows are built on the driver: nothing reads it again
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    breached = (
        (F.col("psi") > d.psi_alert)
        & (F.col("current_rows") >= d.min_rows)
        & ~F.col("feature").isin(list(d.no_alert) or [""])
    )
    return out.select(
        F.col("as_of_date").cast("date"),
        "model_version",
        "feature",
        F.col("psi").cast("double"),
        F.col("reference_rows").cast("long"),
        F.col("current_rows").cast("long"),
        breached.alias("breached"),
    )


def raise_drift_alerts(ctx: JobContext, drift: DataFrame) -> int:
    """One ops.alerts row per day and model with breached features, never a second one."""
    d = ctx.job.seller_risk_scoring.drift
    breaches = drift.where("breached").orderBy("as_of_date", F.desc("psi")).collect()
    by_day: dict = {}
    for r in breaches:
        by_day.setdefault((r["as_of_date"], r["model_version"]), []).append(r)
    known = set()
    if by_day and ctx.lake.exists(ALERTS):
        attrs = F.col("attributes")
        known = {
            (r[0], r[1])
            for r in ctx.lake.read(ALERTS)
            .where(F.col("source") == NAME)
            .select(attrs["as_of_date"], attrs["model_version"])
            .collect()
        }
    raised = 0
    for (day, version), rows in sorted(by_day.items()):
        if (str(day), version) in known:  # raised by an earlier run of this day and model
            continue
        subject = f"seller risk feature drift on {day}: {len(rows)} feature(s) PSI > {d.psi_alert}"
        detail = ", ".join(f"{r['feature']} {r['psi']:.3f}" for r in rows)
        record_alert(
            ctx.lake, NAME, "warning", subject,
            f"against the training days of {version}: {detail}",
            {"as_of_date": str(day), "model_version": version,
             "features": ",".join(r["feature"] for r in rows)},
        )  # fmt: skip
        raised += 1
    return raised


def run(ctx: JobContext) -> None:
    s = ctx.job.seller_risk_scoring
    features = ctx.lake.read(FEATURES)
    predicate = f"as_of_date >= '{ctx.start}' AND as_of_date <= '{ctx.end}'"
    day_rows = features.where(predicate).cache()
    try:
        n = day_rows.count()
        ctx.run.add(FEATURES, read=n)
        published = published_model(ctx.lake, s.model_name)
        if published is None:
            ctx.log.warning(
                "%s: no published %s model in gold.model_registry: risk_probability is null "
                "(train one with seller_risk_training_set and seller_risk_model)", NAME, s.model_name
            )  # fmt: skip
        ctx.run.extra["model_version"] = published["model_version"] if published else None
        with ctx.step(f"score {n} seller-days {ctx.start}..{ctx.end} -> {SCORES}"):
            written = ctx.lake.overwrite_where(
                scores(ctx, day_rows, published).repartition("as_of_date"),
                SCORES,
                predicate,
                partition_by=("as_of_date",),
            )
        ctx.run.add(FEATURES, written=written)
        ctx.run.check_balanced(FEATURES)
        if published is None or not s.drift.enabled:
            return
        with ctx.step(f"drift of {len(published['features'])} features -> {DRIFT}"):
            drift = drift_rows(ctx, features, day_rows, published).cache()
            ctx.lake.overwrite_where(drift, DRIFT, predicate, partition_by=("as_of_date",))
            raised = raise_drift_alerts(ctx, drift)
            ctx.run.extra["drift_alerts"] = raised
            drift.unpersist()
    finally:
        day_rows.unpersist()


def default_date(ctx: JobContext):
    latest = ctx.lake.read(FEATURES).agg(F.max("as_of_date")).first()[0]
    if latest is None:
        raise ValueError(f"{FEATURES} is empty: nothing to score")
    return latest


SPEC = JobSpec(
    name=NAME,
    description="seller risk probability from the published model, reason codes and drift",
    config_model=ScoringConfig,
    run=run,
    reads=(FEATURES, "gold.model_registry"),
    writes=(SCORES, DRIFT, ALERTS),
    dated=True,
    default_date=default_date,
)
