"""Tolerance per ABC class at its boundaries: inclusive, in exact integer arithmetic."""

from __future__ import annotations

from chispa import assert_df_equality

from transforms.inventory.tolerance import Tolerance, status, tolerance_units, with_tolerance

TOLERANCES = {"A": Tolerance(0.01, 1), "B": Tolerance(0.03, 1), "C": Tolerance(0.05, 2)}


def test_tolerance_of_config_in_basis_points():
    assert {k: t.basis_points for k, t in TOLERANCES.items()} == {"A": 100, "B": 300, "C": 500}
    assert Tolerance(0.0001, 0).basis_points == 1 and Tolerance(0.07, 0).basis_points == 700


def test_classification_at_the_boundaries(spark):
    rows = [
        ("A", 300, -3, "MATCH"),  # 1% of 300 = 3: on the boundary
        ("A", 300, -4, "SHRINK"),
        ("A", 300, 4, "OVERAGE"),
        ("A", 50, 1, "MATCH"),  # 1% of 50 = 0.5 < min 1 unit
        ("A", 50, -2, "SHRINK"),
        ("A", -200, 2, "MATCH"),  # negative book: % of |book|
        ("A", -200, 3, "OVERAGE"),
        ("B", 100, 3, "MATCH"),  # 3% of 100
        ("B", 100, -4, "SHRINK"),
        ("C", 60, 3, "MATCH"),  # 0.05 * 60 is 3.0000000000000004 in floats: still exact here
        ("C", 20, 2, "MATCH"),  # min units 2 > 5% of 20
        ("C", 20, 3, "OVERAGE"),
        ("C", 0, -2, "MATCH"),
        ("A", 0, 0, "MATCH"),
        ("Z", 10, 5, None),  # unknown class: no tolerance, no status
    ]
    counts = spark.createDataFrame(
        [r[:3] for r in rows], "abc_class string, book_qty long, variance_units long"
    )
    got = counts.transform(with_tolerance, TOLERANCES).select(
        "abc_class",
        "book_qty",
        "variance_units",
        status("variance_units", "book_qty", "tol_bp", "tol_min").alias("status"),
    )
    expected = spark.createDataFrame(
        rows, "abc_class string, book_qty long, variance_units long, status string"
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_tolerance_units_for_the_report(spark):
    df = spark.createDataFrame(
        [(300, 100, 1), (50, 100, 1), (-200, 300, 1), (None, 100, 1)],
        "book long, bp long, units long",
    )
    got = df.select(tolerance_units("book", "bp", "units").alias("t"))
    expected = spark.createDataFrame([(3.0,), (1.0,), (6.0,), (1.0,)], "t double")
    assert_df_equality(got, expected, ignore_nullable=True)
