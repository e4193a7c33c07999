"""seller_risk_training_set: labels + gold.seller_risk_features -> gold.seller_risk_training_<name>.

A risk team's labels, joined point in time with the feature snapshots (Feast's
`get_historical_features`): each label gets the latest snapshot of a day strictly
before the day of `label_ts - lag_days` (transforms.seller_risk.training), so no
feature value from the label's future can reach it. Labels come from:

- `lake`: outcomes derived from silver (a seller's next-`horizon_days` share of
  late deliveries, 1-star reviews, cancellations, chargebacks... above a
  threshold; transforms.seller_risk.labels), so the pipeline trains without
  outside labels;
- `truth`: the demo's truth.fraudulent_sellers, for every active seller on the
  label days;
- `table` / `file`: any label source with (seller_id, label_ts, label[, weight]).

Outside labels are checked row by row: a row without a seller or a time, a label
other than 0/1 or a negative weight goes to quarantine.seller_risk_training with
its reason. A label with no usable snapshot is kept (null features) and counted.
The table is rewritten whole when its rows change: a training set is a snapshot
of what the labels and features say today, and its Delta version names it in
the model registry. Unchanged rows are not rewritten (NO_OP).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from pydantic import Field, model_validator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakecore.config import ConfigError, JobConfig, StrictModel
from lakecore.io import content_hash
from lakecore.job import JobContext, JobSpec
from transforms.common.quarantine import quarantine_rows
from transforms.seller_risk.facts import build_case_facts, build_seller_orders
from transforms.seller_risk.labels import (
    CASE_OUTCOMES,
    OUTCOMES,
    future_outcomes,
    outcome_labels,
)
from transforms.seller_risk.training import build_training_set

NAME = "seller_risk_training_set"
FEATURES = "gold.seller_risk_features"
TRUTH = "truth.fraudulent_sellers"
QUARANTINE = "quarantine.seller_risk_training"
PREFIX = "gold.seller_risk_training_"
LABEL_COLUMNS = ("seller_id", "label_ts", "label", "weight")


class LakeLabels(StrictModel):
    # Orders placed in (D, D + horizon_days] decide D's label.
    horizon_days: int = Field(default=30, ge=1)
    # Deliveries, reviews and cases come after the order: a day is labelled only when
    # D + horizon_days + maturity_days is within the lake, so its outcomes are known.
    maturity_days: int = Field(default=14, ge=0)
    # A share over fewer orders than this is no outcome at all.
    min_support: int = Field(default=3, ge=1)
    # outcome -> share at or above which the seller-day is labelled 1.
    thresholds: dict[str, float] = Field(default_factory=lambda: {"late_delivery": 0.2})

    @model_validator(mode="after")
    def _known(self) -> LakeLabels:
        if not self.thresholds:
            raise ValueError("thresholds: name at least one outcome")
        for k, v in self.thresholds.items():
            if k not in OUTCOMES:
                raise ValueError(f"thresholds.{k}: unknown outcome; known: {list(OUTCOMES)}")
            if not 0 < v <= 1:
                raise ValueError(f"thresholds.{k}: a share in (0, 1], got {v}")
        return self


class TrainingSetParams(StrictModel):
    # Writes gold.seller_risk_training_<name>.
    name: str = Field(default="outcomes", pattern=r"^[a-z][a-z0-9_]{0,40}$")
    # lake | truth: labels made here; table | file: labels from elsewhere.
    source: Literal["lake", "truth", "table", "file"] = "lake"
    table: str | None = None  # source: table, e.g. gold.analyst_labels
    path: str | None = None  # source: file (local or s3a)
    format: Literal["csv", "parquet", "json", "delta"] = "csv"
    # A label at label_ts may use the snapshot of a day strictly before label_ts - lag.
    lag_days: int = Field(default=0, ge=0)
    # ... and not one older than this before the label's day (a seller back after
    # months would carry features of another time): null features instead, counted.
    max_snapshot_age_days: int = Field(default=7, ge=0)
    # lake/truth: label days every `every_days` days, counted back from the last one.
    every_days: int = Field(default=7, ge=1)
    start: date | None = None
    end: date | None = None
    lake: LakeLabels = LakeLabels()

    @model_validator(mode="after")
    def _source(self) -> TrainingSetParams:
        if self.source == "table" and not self.table:
            raise ValueError("source: table needs `table` (a lake table, e.g. gold.labels)")
        if self.source == "file" and not self.path:
            raise ValueError("source: file needs `path`")
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        if self.source != "table" and self.table:
            raise ValueError(f"`table` is only read with source: table (source is {self.source})")
        if self.source != "file" and self.path:
            raise ValueError(f"`path` is only read with source: file (source is {self.source})")
        if self.source in ("table", "file") and (self.start or self.end):
            raise ValueError("start/end choose the label days of source lake or truth only")
        return self


class TrainingSetConfig(JobConfig):
    seller_risk_training_set: TrainingSetParams = TrainingSetParams()


def label_days(ctx: JobContext, last_usable: date) -> list[date]:
    """Every `every_days`-th snapshot day back from `last_usable`, within start/end."""
    p = ctx.job.seller_risk_training_set
    days = [
        r[0]
        for r in ctx.lake.read(FEATURES).select("as_of_date").distinct().collect()
        if r[0] <= last_usable
        and (p.start is None or r[0] >= p.start)
        and (p.end is None or r[0] <= p.end)
    ]
    if not days:
        return []
    last = max(days)
    return sorted(d for d in days if (last - d).days % p.every_days == 0)


def lake_labels(ctx: JobContext) -> DataFrame:
    p = ctx.job.seller_risk_training_set
    read = ctx.lake.read
    seller_orders = build_seller_orders(
        read("silver.order_items"), read("silver.orders"), read("silver.customers")
    )
    # The lake's end: the last purchase of an order row (an item's shipping-limit
    # fallback can lie years ahead, as in Olist).
    latest = seller_orders.agg(
        F.max(F.when(F.col("has_order_row"), F.col("ordered_at"))), F.max("ordered_at")
    ).first()
    end = latest[0] or latest[1]
    if end is None:
        raise ValueError("silver.order_items has no dated rows: no outcome to label")
    # Only days whose horizon has happened and matured: a half-seen future looks too good.
    wait = p.lake.horizon_days + p.lake.maturity_days
    days = label_days(ctx, end.date() - timedelta(days=wait))
    ctx.run.extra["label_days"] = [str(d) for d in days]
    if not days:
        raise ValueError(
            f"no feature snapshot is {wait} days (horizon_days + maturity_days) older than "
            f"the last order ({end:%Y-%m-%d}): nothing can be labelled yet"
        )
    cases = None
    if ctx.lake.exists("silver.after_sales"):
        cases = build_case_facts(read("silver.after_sales"), seller_orders)
    else:
        unjudged = sorted(set(p.lake.thresholds) & set(CASE_OUTCOMES))
        if unjudged:
            raise ConfigError(
                f"{ctx.cfg.job_file}: seller_risk_training_set.lake.thresholds.{unjudged[0]}: "
                "silver.after_sales does not exist (Olist has none), so no seller-day can "
                f"be judged on {unjudged}; remove them"
            )
    reviews = read("silver.reviews") if ctx.lake.exists("silver.reviews") else None
    if reviews is None:
        reviews = ctx.spark.createDataFrame([], "order_id string, score int")
    outcomes = future_outcomes(seller_orders, reviews, cases, days, p.lake.horizon_days)
    return outcome_labels(outcomes, p.lake.thresholds, p.lake.min_support).withColumns(
        {
            "weight": F.lit(None).cast("double"),
            # How far past its day a label looks: the model job purges that much.
            "label_reach_days": F.lit(p.lake.horizon_days + p.lag_days),
        }
    )


def truth_labels(ctx: JobContext) -> DataFrame:
    if not ctx.lake.exists(TRUTH):
        raise ConfigError(
            f"{ctx.cfg.job_file}: seller_risk_training_set.source is truth but {TRUTH} does "
            "not exist (only the demo generator writes it); use source: lake, table or file"
        )
    last = ctx.lake.read(FEATURES).agg(F.max("as_of_date")).first()[0]
    days = label_days(ctx, last) if last else []
    ctx.run.extra["label_days"] = [str(d) for d in days]
    fraud = ctx.lake.read(TRUTH).select("seller_id", F.lit(1).alias("fraud")).distinct()
    on_days = ctx.lake.read(FEATURES).where(F.col("as_of_date").isin(days))
    return (
        on_days.select("seller_id", "as_of_date")
        .join(fraud, on="seller_id", how="left")
        .select(
            "seller_id",
            F.to_timestamp(F.date_add("as_of_date", 1)).alias("label_ts"),
            F.coalesce("fraud", F.lit(0)).cast("int").alias("label"),
            F.lit(None).cast("double").alias("weight"),
        )
    )


def outside_labels(ctx: JobContext) -> DataFrame:
    p = ctx.job.seller_risk_training_set
    if p.source == "table":
        if not ctx.lake.exists(p.table):
            raise ConfigError(
                f"{ctx.cfg.job_file}: seller_risk_training_set.table: {p.table} does not exist"
            )
        raw = ctx.lake.read(p.table)
    else:
        reader = ctx.spark.read.format(p.format)
        if p.format == "csv":
            reader = reader.option("header", True)
        try:
            raw = reader.load(p.path)
        except Exception as exc:  # a missing path or a file that is not `format`
            raise ConfigError(
                f"{ctx.cfg.job_file}: seller_risk_training_set.path: cannot read {p.path} "
                f"as {p.format}: {str(exc).splitlines()[0]}"
            ) from exc
    missing = [c for c in ("seller_id", "label_ts", "label") if c not in raw.columns]
    if missing:
        key = "table" if p.source == "table" else "path"
        raise ConfigError(
            f"{ctx.cfg.job_file}: seller_risk_training_set.{key}: {p.table or p.path} lacks "
            f"the label columns {missing} (needs seller_id, label_ts, label[, weight]); "
            f"present: {raw.columns}"
        )
    weight = F.col("weight") if "weight" in raw.columns else F.lit(None)
    label = F.col("label")
    if dict(raw.dtypes)["label"] == "boolean":  # is_fraud true/false is a 1/0 label
        label = label.cast("int")
    return raw.select(
        F.col("seller_id").cast("string").alias("seller_id"),
        F.col("label_ts").cast("string").alias("_label_ts"),
        label.cast("string").alias("_label"),
        weight.cast("string").alias("_weight"),
    )


def checked_labels(raw: DataFrame) -> DataFrame:
    """Outside labels typed, with a `reasons` array (empty when the row is usable)."""
    ts = F.try_to_timestamp(F.col("_label_ts"))
    label = F.col("_label").try_cast("double")
    weight = F.col("_weight").try_cast("double")
    checks = [
        (F.col("seller_id").isNull() | (F.trim("seller_id") == ""), "missing:seller_id"),
        (ts.isNull(), "bad_type:label_ts"),
        (label.isNull() | ~label.isin(0.0, 1.0), "bad_label:label (0 or 1)"),
        (
            F.col("_weight").isNotNull()
            & (weight.isNull() | (weight < 0) | F.isnan(weight) | (weight == float("inf"))),
            "bad_weight:weight (a number >= 0)",
        ),
    ]
    reasons = F.filter(F.array(*[F.when(c, F.lit(r)) for c, r in checks]), lambda x: x.isNotNull())
    return raw.select(
        "seller_id",
        ts.alias("label_ts"),
        label.cast("int").alias("label"),
        weight.alias("weight"),
        "_label_ts",
        "_label",
        "_weight",
        reasons.alias("reasons"),
    )


def quarantine_slice(
    ctx: JobContext, bad: DataFrame | None, table: str, source: str
) -> tuple[int, bool]:
    """Replace this training set's slice of the quarantine (emptied for lake and truth
    labels); unchanged rows are not rewritten. Returns (rows quarantined, written?)."""
    predicate = f"`table` = '{table}'"
    exists = ctx.lake.exists(QUARANTINE)
    if bad is None:
        if exists and ctx.lake.read(QUARANTINE).where(predicate).count():
            ctx.lake.overwrite_where(ctx.lake.read(QUARANTINE).limit(0), QUARANTINE, predicate)
            return 0, True
        return 0, False
    rows = quarantine_rows(bad, table, ["seller_id", "label_ts"], NAME, source_file=source)
    rows = rows.cache()
    try:
        n = rows.count()
        held = ctx.lake.read(QUARANTINE).where(predicate) if exists else None
        if (held is None and n == 0) or (
            held is not None and content_hash(held) == content_hash(rows)
        ):
            return n, False
        ctx.lake.overwrite_where(rows, QUARANTINE, predicate)
        return n, True
    finally:
        rows.unpersist()


def run(ctx: JobContext) -> None:
    p = ctx.job.seller_risk_training_set
    output = PREFIX + p.name
    ctx.lake.read(FEATURES)  # raises TableNotFoundError naming it
    source_name = {"lake": "silver outcomes", "truth": TRUTH}.get(p.source, p.table or p.path)
    bad = None
    if p.source == "lake":
        labels = lake_labels(ctx)
    elif p.source == "truth":
        labels = truth_labels(ctx)
    else:
        checked = checked_labels(outside_labels(ctx)).cache()
        bad = checked.where(F.size("reasons") > 0).select(
            "seller_id",
            F.col("_label_ts").alias("label_ts"),
            F.col("_label").alias("label"),
            F.col("_weight").alias("weight"),
            "reasons",
        )
        labels = checked.where(F.size("reasons") == 0).select(*LABEL_COLUMNS)
    if "label_reach_days" not in labels.columns:  # a label about D itself looks no further
        labels = labels.withColumn("label_reach_days", F.lit(p.lag_days))
    labels = labels.cache()
    n_labels = labels.count()
    if n_labels == 0:
        raise ValueError(f"{source_name}: no usable label: nothing to train on")
    features = ctx.lake.read(FEATURES)
    feature_version = features.select("feature_version").distinct().collect()
    training = (
        build_training_set(labels, features, p.lag_days, max_age_days=p.max_snapshot_age_days)
        .withColumns({"training_set": F.lit(p.name), "label_source": F.lit(p.source)})
        .cache()
    )
    try:
        unmatched = training.where(F.col("feature_as_of_date").isNull()).count()
        ctx.run.extra.update(
            {
                "labels": n_labels,
                "labels_without_snapshot": unmatched,
                "positives": training.where(F.col("label") == 1).count(),
                "feature_versions": sorted(r[0] for r in feature_version),
            }
        )
        if unmatched:
            ctx.log.warning(
                "%s: %d of %d labels have no feature snapshot in the %d days before their "
                "day: kept with null features", NAME, unmatched, n_labels, p.max_snapshot_age_days
            )  # fmt: skip
        same = ctx.lake.exists(output) and content_hash(ctx.lake.read(output)) == content_hash(
            training
        )
        if same:
            # Same rows as the table holds: no new version, so the model job that
            # trains on it finds its model trained and is a no-op too.
            ctx.log.info("%s: %s already holds these %d rows", NAME, output, n_labels)
            written = ctx.lake.count(output)
        else:
            with ctx.step(f"{n_labels} labels -> {output}"):
                written = ctx.lake.overwrite(training, output)
        quarantined, rewrote = quarantine_slice(ctx, bad, output.split(".", 1)[1], source_name)
        ctx.run.noop = same and not rewrote
        ctx.run.add(source_name, read=n_labels + quarantined, quarantined=quarantined)
        ctx.run.add(source_name, written=written)
        ctx.run.check_balanced(source_name)
    finally:
        labels.unpersist()
        training.unpersist()


SPEC = JobSpec(
    name=NAME,
    description="labels joined point in time with the seller risk feature snapshots",
    config_model=TrainingSetConfig,
    run=run,
    reads=(
        FEATURES,
        "silver.order_items",
        "silver.orders",
        "silver.customers",
        "silver.reviews",
        "silver.after_sales",
        TRUTH,
    ),
    writes=("gold.seller_risk_training_<name>", QUARANTINE),
    in_demo=False,
)
