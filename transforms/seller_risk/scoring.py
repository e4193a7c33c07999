"""Transparent, config-weighted risk score and reason codes.

contribution(f) = weight(f) * clamp((value - low) / (high - low), 0, 1), or 0
when the value is null or its support count is below the minimum (a share
over 3 orders says little); low > high is an inverse ramp (low is bad, e.g.
the mean review score). risk_score = 100 * sum(contributions) / sum(weights).
Volume is deliberately not scored: a big, fast-growing seller is not risky
for its size; only the shape of its activity (burst ratio) is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


@dataclass(frozen=True)
class ScoreRule:
    feature: str
    weight: float = field(metadata={"gt": 0})
    low: float
    high: float
    support: str | None = None  # count column the feature is computed over
    min_support: int = field(default=0, metadata={"ge": 0})

    def __post_init__(self) -> None:
        if self.low == self.high:
            raise ValueError(f"low and high must differ (both {self.low})")


def contribution(rule: ScoreRule) -> Column:
    value = F.col(rule.feature).cast("double")
    ramp = F.least(F.greatest((value - rule.low) / (rule.high - rule.low), F.lit(0.0)), F.lit(1.0))
    supported = F.lit(True) if rule.support is None else F.col(rule.support) >= rule.min_support
    return F.when(value.isNotNull() & supported, ramp * rule.weight).otherwise(F.lit(0.0))


def with_risk_score(df: DataFrame, rules: Sequence[ScoreRule], reasons: int = 3) -> DataFrame:
    """Adds `score_contributions` (map feature -> points), `risk_score` (0-100), `reason_codes`.

    Reason codes are the features of the `reasons` largest positive
    contributions, ties broken by feature name.
    """
    missing = sorted({r.feature for r in rules} - set(df.columns))
    if missing:
        raise ValueError(f"score rules name unknown features {missing}; known: {df.columns}")
    contribs = {r.feature: contribution(r) for r in rules}
    total_weight = sum(r.weight for r in rules)
    # Sorting (-points, name) ascending puts the largest first, ties by name.
    ranked = F.array_sort(
        F.array(*[F.struct((-c).alias("neg"), F.lit(f).alias("name")) for f, c in contribs.items()])
    )
    positive = F.filter(ranked, lambda x: x["neg"] < 0)
    points, scale = F.array(*contribs.values()), 100.0 / total_weight
    return df.withColumns(
        {
            "score_contributions": F.create_map(
                *[x for f, c in contribs.items() for x in (F.lit(f), c)]
            ),
            "risk_score": F.round(F.aggregate(points, F.lit(0.0), lambda a, x: a + x) * scale, 4),
            "reason_codes": F.transform(F.slice(positive, 1, reasons), lambda x: x["name"]),
        }
    )
