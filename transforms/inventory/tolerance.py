"""Tolerances per ABC class and the MATCH / SHRINK / OVERAGE classification.

A count is within tolerance when |counted - book| <= max(min_units, pct x |book|).
The percentage is held in basis points and compared in integers
(|variance| x 10,000 <= bp x |book|), so a variance exactly on the boundary is
always MATCH: no float rounding decides a count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

STATUSES = ("MATCH", "SHRINK", "OVERAGE")
BASIS_POINTS = 10_000


@dataclass(frozen=True)
class Tolerance:
    pct: float = field(metadata={"ge": 0, "le": 1})  # 0.01 = 1% of |book|
    min_units: int = field(metadata={"ge": 0})

    @property
    def basis_points(self) -> int:
        """The percentage in whole basis points (100 = 1%): compared in integers."""
        return round(self.pct * BASIS_POINTS)


def _col(c: str | Column) -> Column:
    return F.col(c) if isinstance(c, str) else c


def is_outside(
    variance: str | Column, book: str | Column, bp: str | Column, min_units: str | Column
) -> Column:
    """|variance| > min_units and |variance| > bp/10,000 x |book|, in integers."""
    v, b = F.abs(_col(variance)).cast("long"), F.abs(_col(book)).cast("long")
    return (v > _col(min_units)) & (v * BASIS_POINTS > _col(bp) * b)


def tolerance_units(book: str | Column, bp: str | Column, min_units: str | Column) -> Column:
    """The tolerance in units, for the report (the decision is `is_outside`)."""
    pct_units = F.abs(_col(book)).cast("double") * _col(bp) / BASIS_POINTS
    return F.greatest(_col(min_units).cast("double"), pct_units)


def status(
    variance: str | Column, book: str | Column, bp: str | Column, min_units: str | Column
) -> Column:
    outside = is_outside(variance, book, bp, min_units)
    return (
        F.when(outside.isNull(), F.lit(None).cast("string"))  # no tolerance: no verdict
        .when(~outside, F.lit("MATCH"))
        .when(_col(variance) < 0, F.lit("SHRINK"))
        .otherwise(F.lit("OVERAGE"))
    )


def with_tolerance(counts: DataFrame, tolerances: Mapping[str, Tolerance]) -> DataFrame:
    """`tol_bp` and `tol_min` from the count's `abc_class` (null for an unknown class)."""
    bp, units = F.lit(None).cast("long"), F.lit(None).cast("long")
    for klass, tol in tolerances.items():
        is_class = F.col("abc_class") == klass
        bp = F.when(is_class, F.lit(tol.basis_points).cast("long")).otherwise(bp)
        units = F.when(is_class, F.lit(tol.min_units).cast("long")).otherwise(units)
    return counts.withColumns({"tol_bp": bp, "tol_min": units})
