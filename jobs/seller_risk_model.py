"""seller_risk_model: gold.seller_risk_training_<set> -> a trained, gated classifier.

Trains Spark MLlib candidates (a standardized logistic regression per
regularization strength, gradient-boosted trees) on a time split of the training
set (transforms.seller_risk.model), keeps the best on the validation days, and
tests it once on the latest days, beside the hand-weighted `risk_score` and the
previously published model on the same test rows. The gate publishes it only
when its test AUC beats both (and the test days hold enough positives to tell).

Every trained model is saved under `<lake>/models/<model_name>/<version>` and
gets one row in gold.model_registry (features, windows, metrics, gate verdict);
`seller_risk_scoring` uses the latest published one. The version is a hash of
the training set's Delta version and the job's config: a re-run on the same
training set trains nothing and records NO_OP.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, model_validator
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakecore.config import ConfigError, JobConfig, StrictModel
from lakecore.job import JobContext, JobSpec
from transforms.seller_risk.model import (
    DATE,
    Split,
    auc,
    gbt_pipeline,
    logistic_pipeline,
    numeric_features,
    part,
    precision_at_k,
    prepared,
    rule_names,
    seller_groups,
    time_split,
    with_probability,
    with_rule_columns,
)

NAME = "seller_risk_model"
REGISTRY = "gold.model_registry"
REGISTRY_SCHEMA = (
    "model_name string, model_version string, trained_at timestamp, algorithm string, "
    "params string, features array<string>, feature_version string, training_set string, "
    "training_set_version long, label_source string, train_start date, train_end date, "
    "validation_start date, validation_end date, test_start date, test_end date, "
    "train_rows long, test_rows long, test_positives long, metrics map<string,double>, "
    "published boolean, gate_notes array<string>, model_path string"
)


class LogisticParams(StrictModel):
    reg_params: list[float] = Field(default_factory=lambda: [0.001, 0.01, 0.1], min_length=1)
    max_iter: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _positive(self) -> LogisticParams:
        if any(r < 0 for r in self.reg_params):
            raise ValueError(f"reg_params must be >= 0, got {self.reg_params}")
        return self


class GbtParams(StrictModel):
    enabled: bool = True
    max_iter: int = Field(default=40, ge=1, le=1000)
    max_depth: int = Field(default=4, ge=1, le=12)
    step_size: float = Field(default=0.1, gt=0, le=1)
    subsampling: float = Field(default=0.8, gt=0, le=1)
    min_instances_per_node: int = Field(default=5, ge=1)


class GateParams(StrictModel):
    # Fewer test positives than this and no AUC means much: the model is not published.
    min_test_positives: int = Field(default=5, ge=1)
    # The test AUC must beat the hand score's (and the published model's) by more than this.
    min_auc_gain: float = Field(default=0.0, ge=0, le=1)


class ModelParams(StrictModel):
    model_name: str = Field(default="seller_risk", pattern=r"^[a-z][a-z0-9_]{0,40}$")
    # Trains on gold.seller_risk_training_<training_set>.
    training_set: str = Field(default="outcomes", pattern=r"^[a-z][a-z0-9_]{0,40}$")
    # Empty: every numeric feature column of the training set.
    features: list[str] = Field(default_factory=list)
    exclude_features: list[str] = Field(
        default_factory=lambda: ["*canceled_orders_*", "*cancel_rate_*"]
    )
    validation_share: float = Field(default=0.2, gt=0, lt=1)
    test_share: float = Field(default=0.2, gt=0, lt=1)
    # Training days this close before the first validation day are purged: their
    # labels' outcome windows reach into it (the lake labels' horizon_days).
    embargo_days: int = Field(default=30, ge=0)
    # Validation and test on sellers the model never trained on (a stable hash of the
    # seller id, on top of the time split): a per-seller label such as fraud truth
    # would otherwise be learnt by heart and the test AUC would flatter the model.
    seller_split: bool = True
    # The hand score's rules (their points per row) as features `rule_<feature>` too:
    # the expert's thresholds, with weights learnt from the labels.
    rule_features: bool = True
    seed: int = 42
    precision_at_k: int = Field(default=10, ge=1)
    logistic: LogisticParams = LogisticParams()
    gbt: GbtParams = GbtParams()
    gate: GateParams = GateParams()

    @model_validator(mode="after")
    def _shares(self) -> ModelParams:
        if self.validation_share + self.test_share >= 0.9:
            raise ValueError("validation_share + test_share must leave >= 10% to train on")
        return self


class ModelConfig(JobConfig):
    seller_risk_model: ModelParams = ModelParams()


def training_table(ctx: JobContext) -> str:
    return f"gold.seller_risk_training_{ctx.job.seller_risk_model.training_set}"


def chosen_features(ctx: JobContext, training: DataFrame) -> list[str]:
    p = ctx.job.seller_risk_model
    available = numeric_features(training, p.exclude_features)
    if not p.features:
        return available
    unknown = [f for f in p.features if f not in available]
    if unknown:
        raise ConfigError(
            f"{ctx.cfg.job_file}: seller_risk_model.features: {unknown} are not numeric "
            f"feature columns of {training_table(ctx)}; known: {available}"
        )
    return list(p.features)


def model_version(ctx: JobContext, table: str) -> str:
    """Same training set version and config -> same version: a re-run is a no-op."""
    blob = f"{table}@{ctx.lake.version(table)}:{ctx.cfg.config_hash}".encode()
    name = ctx.job.seller_risk_model.model_name
    return f"{name}-{hashlib.sha256(blob).hexdigest()[:12]}"


def registry_rows(ctx: JobContext, name: str) -> DataFrame | None:
    if not ctx.lake.exists(REGISTRY):
        return None
    return ctx.lake.read(REGISTRY).where(F.col("model_name") == name)


def published_model(lake, name: str):
    """The registry row of the latest published model called `name`, or None."""
    if not lake.exists(REGISTRY):
        return None
    return (
        lake.read(REGISTRY)
        .where((F.col("model_name") == name) & F.col("published"))
        .orderBy(F.desc("trained_at"), F.desc("model_version"))
        .first()
    )


def usable_features(ctx: JobContext, train: DataFrame, features: list[str]) -> list[str]:
    """Drop features with no value on any training row (Imputer has no median for them)."""
    counts = train.agg(*[F.count(f).alias(f) for f in features]).first().asDict()
    empty = [f for f in features if not counts[f]]
    if empty:
        ctx.log.warning("%s: no training value, not used: %s", NAME, empty)
        ctx.run.extra["features_without_values"] = empty
    kept = [f for f in features if counts[f]]
    if not kept:
        raise ValueError(f"no feature has a value on the training days: {features}")
    return kept


def fit_candidates(ctx: JobContext, train: DataFrame, val: DataFrame, features: list[str]):
    """Each candidate fitted on train and scored on validation: [(name, params, model, auc)]."""
    p = ctx.job.seller_risk_model
    specs: list[tuple[str, dict[str, Any], Any]] = [
        (
            "logistic_regression",
            {"reg_param": r, "max_iter": p.logistic.max_iter},
            logistic_pipeline(features, r, p.logistic.max_iter),
        )
        for r in p.logistic.reg_params
    ]
    if p.gbt.enabled:
        g = p.gbt
        specs.append(
            (
                "gbt",
                g.model_dump(exclude={"enabled"}),
                gbt_pipeline(
                    features,
                    g.max_iter,
                    g.max_depth,
                    g.step_size,
                    g.subsampling,
                    g.min_instances_per_node,
                    p.seed,
                ),
            )
        )
    out = []
    for algo, params, pipeline in specs:
        with ctx.step(f"fit {algo} {params}"):
            model = pipeline.fit(train)
            val_auc = auc(with_probability(model, val), "probability_1")
        ctx.log.info("%s: %s %s: validation AUC %s", NAME, algo, params, val_auc)
        out.append((algo, params, model, val_auc))
    return out


def gate(
    p: ModelParams, test_auc: float | None, hand_auc: float | None, prev_auc, positives: int
) -> tuple[bool, list[str]]:
    notes = []
    if positives < p.gate.min_test_positives:
        notes.append(f"{positives} test positives < min_test_positives {p.gate.min_test_positives}")
    if test_auc is None:
        notes.append("test AUC undefined (one class on the test days)")
        return False, notes
    gain = p.gate.min_auc_gain
    if hand_auc is not None and test_auc <= hand_auc + gain:
        notes.append(f"test AUC {test_auc:.4f} does not beat the hand score's {hand_auc:.4f}")
    if prev_auc is not None and test_auc <= prev_auc + gain:
        notes.append(f"test AUC {test_auc:.4f} does not beat the published model's {prev_auc:.4f}")
    return not notes, notes


def previous_auc(ctx: JobContext, test_rows: DataFrame) -> tuple[Any, float | None, str | None]:
    """The published model's AUC on the same test rows: (its registry row, AUC, why not)."""
    prev = published_model(ctx.lake, ctx.job.seller_risk_model.model_name)
    if prev is None:
        return None, None, None
    missing = [f for f in prev["features"] if f not in test_rows.columns]
    if missing:
        why = f"the published {prev['model_version']} is not compared: it needs {missing}"
        ctx.log.warning("%s: %s", NAME, why)
        return prev, None, why
    model = PipelineModel.load(prev["model_path"])
    scored = with_probability(model, prepared(test_rows, list(prev["features"])))
    return prev, auc(scored, "probability_1"), None


def label_reach(ctx: JobContext, training: DataFrame, table: str) -> int:
    """How far past their day the labels look; the embargo must cover it."""
    if "label_reach_days" not in training.columns:
        return 0
    reach = training.agg(F.max("label_reach_days")).first()[0] or 0
    p = ctx.job.seller_risk_model
    if p.embargo_days < reach:
        raise ConfigError(
            f"{ctx.cfg.job_file}: seller_risk_model.embargo_days={p.embargo_days} is shorter "
            f"than the {reach} days the labels of {table} look past their day (their horizon "
            f"and lag): training rows would know validation outcomes; set it to >= {reach}"
        )
    return reach


def one_class_check(df: DataFrame, what: str) -> None:
    labels = {r[0] for r in df.select("label").distinct().collect()}
    if len(labels) < 2:
        raise ValueError(
            f"the {what} rows hold one class only ({sorted(labels)}): nothing to learn"
        )


def run(ctx: JobContext) -> None:
    p = ctx.job.seller_risk_model
    table = training_table(ctx)
    training = ctx.lake.read(table)  # raises TableNotFoundError naming it
    version = model_version(ctx, table)
    ctx.run.extra["model_version"] = version
    known = registry_rows(ctx, p.model_name)
    if known is not None and known.where(F.col("model_version") == version).count():
        ctx.log.info("%s: %s is already trained on this training set: nothing to do", NAME, version)
        ctx.run.noop = True
        return
    if p.rule_features:
        training = with_rule_columns(training, rule_names(training))
    features = chosen_features(ctx, training)
    reach = label_reach(ctx, training, table)
    base = training.where(F.col("feature_as_of_date").isNotNull() & F.col("label").isNotNull())
    shares = (p.validation_share, p.test_share)
    if p.seller_split:
        base = base.join(F.broadcast(seller_groups(base, shares, p.seed)), "seller_id")
    rows = prepared(base, features).cache()
    try:
        n_rows = training.count()
        usable = rows.count()
        ctx.run.add(table, read=n_rows)
        ctx.run.extra["rows_without_snapshot_or_label"] = n_rows - usable
        days = [r[0] for r in rows.select(DATE).distinct().collect()]
        split: Split = time_split(days, p.validation_share, p.test_share, p.embargo_days)

        def side(group: str, span) -> DataFrame:
            got = part(rows, span)
            return got.where(F.col("_group") == group) if p.seller_split else got

        train = side("train", split.train)
        val = side("validation", split.validation)
        test = side("test", split.test)
        one_class_check(train, f"training ({split.train[0]}..{split.train[1]})")
        features = usable_features(ctx, train, features)
        ctx.log.info(
            "%s: %d features; train %s..%s, validation %s..%s, test %s..%s%s; labels look "
            "%d days ahead", NAME, len(features), *split.train, *split.validation, *split.test,
            " (disjoint sellers)" if p.seller_split else "", reach,
        )  # fmt: skip
        candidates = fit_candidates(ctx, train, val, features)
        scored = [c for c in candidates if c[3] is not None]
        if not scored:
            raise ValueError(f"validation days {split.validation} hold one class only")
        algo, params, model, val_auc = max(scored, key=lambda c: c[3])
        tested = with_probability(model, test).cache()
        test_auc = auc(tested, "probability_1")
        hand_auc = auc(tested, "risk_score")
        positives = tested.where(F.col("label") == 1).count()
        test_rows = part(base, split.test)
        if p.seller_split:
            test_rows = test_rows.where(F.col("_group") == "test")
        prev, prev_auc, not_compared = previous_auc(ctx, test_rows)
        published, notes = gate(p, test_auc, hand_auc, prev_auc, positives)
        if not_compared:
            notes.append(not_compared)
        metrics = {
            "validation_auc": val_auc,
            "test_auc": test_auc,
            "hand_score_test_auc": hand_auc,
            "previous_model_test_auc": prev_auc,
            f"test_precision_at_{p.precision_at_k}": precision_at_k(
                tested, "probability_1", p.precision_at_k
            ),
            f"hand_score_precision_at_{p.precision_at_k}": precision_at_k(
                tested, "risk_score", p.precision_at_k
            ),
            **{f"validation_auc:{a}:{json.dumps(pa, sort_keys=True)}": v for a, pa, _, v in scored},
        }
        metrics = {k: float(v) for k, v in metrics.items() if v is not None}
        path = f"{ctx.lake.root}/models/{p.model_name}/{version}"
        with ctx.step(f"save {algo} -> {path}"):
            model.write().overwrite().save(path)
        feature_version = [r[0] for r in training.select("feature_version").distinct().collect()]
        row = (
            p.model_name, version, datetime.now(UTC).replace(tzinfo=None), algo,
            json.dumps(
                {**params, "seller_split": p.seller_split, "embargo_days": p.embargo_days},
                sort_keys=True,
            ),
            features, ",".join(sorted(map(str, feature_version))),
            table, ctx.lake.version(table), training.select("label_source").first()[0],
            *split.train, *split.validation, *split.test, train.count(), tested.count(),
            positives, metrics, published, notes, path,
        )  # fmt: skip
        written = ctx.lake.append(ctx.spark.createDataFrame([row], REGISTRY_SCHEMA), REGISTRY)
        ctx.run.add(REGISTRY, written=written)
        ctx.run.extra.update(
            {"algorithm": algo, "published": published, "gate_notes": notes, "metrics": metrics,
             "previous_model": prev["model_version"] if prev else None}
        )  # fmt: skip
        verdict = "published" if published else "not published: " + "; ".join(notes)
        ctx.log.info(
            "%s: %s (%s) test AUC %s vs hand score %s: %s",
            NAME, version, algo, test_auc, hand_auc, verdict,
        )  # fmt: skip
        tested.unpersist()
    finally:
        rows.unpersist()


SPEC = JobSpec(
    name=NAME,
    description="trains, tests and gates a seller risk classifier on a training set",
    config_model=ModelConfig,
    run=run,
    reads=("gold.seller_risk_training_<name>", REGISTRY),
    writes=(REGISTRY, "models/<model_name>/<version>"),
    in_demo=False,
)
