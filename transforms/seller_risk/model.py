"""A learned seller-risk classifier: time split, candidate pipelines, scoring metrics.

The split is by time, never by random rows: a model is judged on snapshot days
after every day it trained on, as it will be used. Labels look `embargo_days`
ahead (a 30-day outcome), so training rows whose outcome window reaches into the
validation period are dropped (purged), or the model would have seen the
validation period's outcomes.

Candidates are Spark MLlib pipelines on the same inputs: median imputation (a
rate is null when its support is too small), then a standardized logistic
regression per regularization strength, and gradient-boosted trees. The one with
the best validation AUC is tested once, on the test days.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import Imputer, StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

DATE = "label_date"  # the day a label was asked on: the split is by it
# Columns of a training set that are never features: keys, labels, the hand score
# and its explanation, bookkeeping.
NOT_FEATURES = frozenset(
    {
        "seller_id",
        "label_ts",
        "label",
        "weight",
        "as_of_date",
        DATE,
        "feature_as_of_date",
        "label_reach_days",
        "feature_version",
        "risk_score",
        "score_contributions",
        "reason_codes",
        "training_set",
        "label_source",
        "computed_at",
    }
)
NUMERIC = (T.IntegerType, T.LongType, T.DoubleType, T.FloatType, T.DecimalType, T.ShortType)


@dataclass(frozen=True)
class Split:
    """Snapshot-day ranges of the three parts (inclusive)."""

    train: tuple[date, date]
    validation: tuple[date, date]
    test: tuple[date, date]


def numeric_features(df: DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """Every numeric column of a training set that can be a feature, in column order;
    `exclude` holds names or shell patterns (`cancel_rate_*`)."""
    return [
        f.name
        for f in df.schema.fields
        # outcome_*: what a lake label was made of (the future), never a feature
        if f.name not in NOT_FEATURES
        and isinstance(f.dataType, NUMERIC)
        and not f.name.startswith("outcome_")
        and not any(fnmatch.fnmatchcase(f.name, x) for x in exclude)
    ]


def time_split(
    days: Sequence[date], validation_share: float, test_share: float, embargo_days: int
) -> Split:
    """Train on the earliest days, validate on the next, test on the latest.

    Raises when a part would be empty: a model judged on nothing is not judged.
    """
    days = sorted(set(days))
    n = len(days)
    n_test = max(1, round(n * test_share))
    n_val = max(1, round(n * validation_share))
    if n - n_test - n_val < 1:
        raise ValueError(
            f"{n} snapshot days cannot be split into train, validation ({n_val}) and "
            f"test ({n_test}) days: label more days"
        )
    val0, test0 = days[n - n_test - n_val], days[n - n_test]
    gap = timedelta(days=embargo_days)
    # Purged on both boundaries: model selection must not see test-period outcomes either.
    train = [d for d in days if d < val0 and d + gap < val0]
    val = [d for d in days if val0 <= d < test0 and d + gap < test0]
    if not train or not val:
        part = "training" if not train else "validation"
        raise ValueError(
            f"no {part} day is more than embargo_days={embargo_days} before the next part "
            f"(validation from {val0}, test from {test0}): label a longer period"
        )
    return Split(train=(train[0], train[-1]), validation=(val[0], val[-1]), test=(test0, days[-1]))


def seller_group(seller: str, shares: tuple[float, float], seed: int) -> str:
    """train / validation / test for a seller, by a stable hash: with a seller split,
    a model is judged on sellers it never saw (a per-seller label, as fraud truth is,
    would otherwise be learnt by heart)."""
    import hashlib

    h = int.from_bytes(hashlib.sha256(f"{seed}:{seller}".encode()).digest()[:8], "big") / 2**64
    val, test = shares
    return "test" if h < test else "validation" if h < test + val else "train"


def seller_groups(df: DataFrame, shares: tuple[float, float], seed: int) -> DataFrame:
    """(seller_id, _group) for every seller of `df` (a small table, built on the driver)."""
    sellers = [r[0] for r in df.select("seller_id").distinct().collect()]
    rows = [(s, seller_group(s, shares, seed)) for s in sellers]
    return df.sparkSession.createDataFrame(rows, "seller_id string, _group string")


def part(df: DataFrame, span: tuple[date, date]) -> DataFrame:
    return df.where(F.col(DATE).between(F.lit(span[0]), F.lit(span[1])))


def imputed(features: Sequence[str]) -> list[str]:
    return [f"_imp_{f}" for f in features]


def as_doubles(df: DataFrame, features: Sequence[str]) -> DataFrame:
    """Features as doubles (Imputer takes no decimals or longs), NaN as null."""
    return df.withColumns(
        {f: F.nanvl(F.col(f).cast("double"), F.lit(None).cast("double")) for f in features}
    )


def logistic_pipeline(features: Sequence[str], reg_param: float, max_iter: int) -> Pipeline:
    return Pipeline(
        stages=[
            Imputer(inputCols=list(features), outputCols=imputed(features), strategy="median"),
            VectorAssembler(inputCols=imputed(features), outputCol="_raw"),
            StandardScaler(inputCol="_raw", outputCol="features", withMean=True, withStd=True),
            LogisticRegression(
                featuresCol="features",
                labelCol="label",
                weightCol="_weight",
                regParam=reg_param,
                maxIter=max_iter,
            ),
        ]
    )


def gbt_pipeline(
    features: Sequence[str],
    max_iter: int,
    max_depth: int,
    step_size: float,
    subsampling: float,
    min_instances: int,
    seed: int,
) -> Pipeline:
    return Pipeline(
        stages=[
            Imputer(inputCols=list(features), outputCols=imputed(features), strategy="median"),
            VectorAssembler(inputCols=imputed(features), outputCol="features"),
            GBTClassifier(
                featuresCol="features",
                labelCol="label",
                weightCol="_weight",
                maxIter=max_iter,
                maxDepth=max_depth,
                stepSize=step_size,
                subsamplingRate=subsampling,
                minInstancesPerNode=min_instances,
                seed=seed,
            ),
        ]
    )


RULE_PREFIX = "rule_"


def rule_names(df: DataFrame) -> list[str]:
    """The hand score's rules present in `score_contributions` (one small collect)."""
    keys = df.select(F.explode(F.map_keys("score_contributions"))).distinct().collect()
    return sorted(r[0] for r in keys)


def with_rule_columns(df: DataFrame, rules: Sequence[str]) -> DataFrame:
    """Each hand-score rule's points as a column `rule_<feature>`: the expert's ramps
    (thresholds and minimum support) as features, so a model can learn their weights
    from labels, and combine them, instead of taking the YAML's."""
    return df.withColumns(
        {f"{RULE_PREFIX}{r}": F.col("score_contributions")[r].cast("double") for r in rules}
    )


def prepared(df: DataFrame, features: Sequence[str]) -> DataFrame:
    """Rows a model can learn from or be judged on: a snapshot and a label; weight 1 by default."""
    return (
        as_doubles(df, features)
        .where(F.col(DATE).isNotNull() & F.col("label").isNotNull())
        .withColumns(
            {
                "label": F.col("label").cast("double"),
                "_weight": F.coalesce(F.col("weight").cast("double"), F.lit(1.0)),
            }
        )
    )


def with_probability(model: PipelineModel, df: DataFrame) -> DataFrame:
    """Adds `probability_1` (the positive class) to the model's output."""
    return model.transform(df).withColumn("probability_1", vector_to_array(F.col("probability"))[1])


def auc(df: DataFrame, score: str) -> float | None:
    """Weighted ROC AUC of a score column against `label`; None with one class only."""
    counts = df.agg(F.count_if(F.col("label") == 1), F.count_if(F.col("label") == 0)).first()
    if not counts[0] or not counts[1]:
        return None
    # numBins=0: the exact curve (the default 1000 bins approximate it, and the gate
    # compares AUCs strictly).
    evaluator = BinaryClassificationEvaluator(
        rawPredictionCol=score,
        labelCol="label",
        weightCol="_weight",
        metricName="areaUnderROC",
        numBins=0,
    )
    return float(evaluator.evaluate(df.withColumn(score, F.col(score).cast("double"))))


def precision_at_k(df: DataFrame, score: str, k: int) -> float | None:
    """Share of positives among the k highest scores per snapshot day, pooled over days:
    what a review team with k cases a day would find."""
    from pyspark.sql import Window

    ranked = df.withColumn(
        "_rank",
        F.row_number().over(Window.partitionBy(DATE).orderBy(F.desc(score), F.col("seller_id"))),
    ).where(F.col("_rank") <= k)
    row = ranked.agg(F.count(F.lit(1)), F.count_if(F.col("label") == 1)).first()
    return None if not row[0] else row[1] / row[0]
