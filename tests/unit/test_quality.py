"""The data-quality gate: GE 1.x on Spark, exact failures, enforce, Data Docs."""

from __future__ import annotations

import json
import logging
from datetime import date

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from lakecore.quality import (
    Check,
    FailedCheck,
    GateResult,
    QualityGateError,
    enforce,
    run_gate,
)

TABLE = "gold.seller_risk_features"
D1 = date(2025, 6, 30)
D0 = date(2025, 6, 29)
TIERS = {"low", "medium", "high"}

SCHEMA = T.StructType(
    [
        T.StructField("seller_id", T.StringType(), True),
        T.StructField("as_of_date", T.DateType(), True),
        T.StructField("risk_score", T.DoubleType(), True),
        T.StructField("tier", T.StringType(), True),
    ]
)
GOOD_ROWS = [
    ("s1", D1, 0.0, "low"),  # edge: lower bound
    ("s2", D1, 100.0, "high"),  # edge: upper bound
    ("s1", D0, None, None),  # null row: same seller, other date; nullable values null
    ("s3", D1, 55.5, "medium"),
]
ALL_KINDS = [
    Check.not_null("seller_id"),
    Check.not_null("as_of_date"),
    Check.unique("seller_id", "as_of_date"),
    Check.between("risk_score", 0, 100),
    Check.in_set("tier", TIERS),
    Check.row_count_equals(4),
    Check.row_count_between(1, 10),
]
# Passes on every input below: shows that only the failing check is reported.
CONTROL = Check.not_null("as_of_date")


def frame(spark, extra_rows=()) -> DataFrame:
    return spark.createDataFrame([*GOOD_ROWS, *extra_rows], SCHEMA)


@pytest.fixture
def no_pandas(monkeypatch):
    """The gate must validate on Spark: converting the DataFrame to pandas fails the test."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("the quality gate converted the DataFrame to pandas")

    monkeypatch.setattr(DataFrame, "toPandas", refuse)


def test_gate_passes_on_good_data_with_null_and_edge_rows(spark, no_pandas):
    df = frame(spark)

    result = run_gate(df, TABLE, ALL_KINDS, docs_root=None)

    assert (result.table, result.success, result.failed, result.docs_index) == (
        TABLE,
        True,
        (),
        None,
    )
    assert result.statistics["evaluated_expectations"] == 7
    assert result.statistics["successful_expectations"] == 7
    assert enforce(result) is result
    assert not df.is_cached  # the gate unpersists what it cached


# One bad row per column check; 8 rows also break both row-count checks.
BAD_ROWS = [
    (None, D1, 10.0, "low"),  # null key (ignored by unique: nulls are not_null's business)
    ("s1", D1, 10.0, "low"),  # duplicates ("s1", D1) of GOOD_ROWS
    ("s4", D1, 100.5, "low"),  # just above the range
    ("s5", D1, 10.0, "extreme"),  # not an allowed tier
]
FAILING = [
    CONTROL,
    Check.not_null("seller_id"),
    Check.unique("seller_id", "as_of_date"),
    Check.between("risk_score", 0, 100),
    Check.in_set("tier", TIERS),
    Check.row_count_equals(4),
    Check.row_count_between(1, 5),
]


@pytest.fixture(scope="module")
def failed_gate(spark) -> GateResult:
    """One gate run shared by the tests that read its failures (GE runs ~20 Spark jobs)."""
    return run_gate(frame(spark, BAD_ROWS), TABLE, FAILING, docs_root=None)


def test_each_kind_reports_exactly_its_failure(failed_gate):
    assert failed_gate.failed == (
        FailedCheck("not_null(seller_id)", "not_null", True, "1 null value(s)", 1, None, (None,)),
        FailedCheck(
            "unique(seller_id, as_of_date)",
            "unique",
            True,
            "2 row(s) with a duplicated key, e.g. ('s1', 2025-06-30)",
            2,
            None,
            (("s1", D1),),
        ),
        FailedCheck(
            "between(risk_score, 0, 100)",
            "between",
            True,
            "1 unexpected value(s), e.g. 100.5",
            1,
            None,
            (100.5,),
        ),
        FailedCheck(
            "in_set(tier)",
            "in_set",
            True,
            "1 unexpected value(s), e.g. 'extreme'",
            1,
            None,
            ("extreme",),
        ),
        FailedCheck("row_count_equals(4)", "row_count_equals", True, "observed 8 rows", None, 8),
        FailedCheck(
            "row_count_between(1, 5)", "row_count_between", True, "observed 8 rows", None, 8
        ),
    )
    assert failed_gate.success is False
    assert failed_gate.statistics["evaluated_expectations"] == 7
    assert failed_gate.statistics["successful_expectations"] == 1


def test_enforce_lists_every_critical_failure_with_observed_values(failed_gate):
    with pytest.raises(QualityGateError) as raised:
        enforce(failed_gate)

    assert str(raised.value) == (
        "gold.seller_risk_features failed 6 critical expectation(s): "
        "not_null(seller_id): 1 null value(s); "
        "unique(seller_id, as_of_date): 2 row(s) with a duplicated key, e.g. ('s1', 2025-06-30); "
        "between(risk_score, 0, 100): 1 unexpected value(s), e.g. 100.5; "
        "in_set(tier): 1 unexpected value(s), e.g. 'extreme'; "
        "row_count_equals(4): observed 8 rows; "
        "row_count_between(1, 5): observed 8 rows"
    )


def test_non_critical_failure_is_reported_but_does_not_raise(spark, caplog):
    checks = [CONTROL, Check.in_set("tier", TIERS, critical=False)]
    result = run_gate(frame(spark, [("s4", D1, 1.0, "extreme")]), TABLE, checks, docs_root=None)

    with caplog.at_level(logging.WARNING, logger="lakecore.quality"):
        assert enforce(result) is result

    assert result.success is True
    assert result.failed_names == ["in_set(tier)"]
    assert [f.name for f in result.warnings] == ["in_set(tier)"]
    assert "in_set(tier): 1 unexpected value(s), e.g. 'extreme'" in caplog.text


def test_data_docs_are_built_under_docs_root_for_every_gated_table(spark, tmp_path):
    first = run_gate(frame(spark), TABLE, [CONTROL], docs_root=tmp_path, run_name="run-1")
    second = run_gate(
        frame(spark), "silver.sellers", [Check.unique("seller_id")], docs_root=tmp_path
    )

    index = tmp_path / "site" / "index.html"
    assert first.docs_index == second.docs_index == str(index)
    html = index.read_text()
    assert TABLE in html and "silver.sellers" in html
    suite = json.loads(
        (tmp_path / "expectations" / "gold" / "seller_risk_features.json").read_text()
    )
    assert [e["meta"]["check"] for e in suite["expectations"]] == ["not_null(as_of_date)"]
    results = sorted(p.relative_to(tmp_path) for p in (tmp_path / "validations").rglob("*.json"))
    assert [p.parts[:4] for p in results] == [
        ("validations", "gold", "seller_risk_features", "run-1"),
        ("validations", "silver", "sellers", "__none__"),
    ]
    assert second.failed == (
        FailedCheck(
            "unique(seller_id)",
            "unique",
            True,
            "2 row(s) with a duplicated key, e.g. ('s1')",
            2,
            None,
            ("s1",),
        ),
    )


# ---------------------------------------------------------------------- spec (no GE run)
def test_check_names_read_like_the_check():
    assert [c.name for c in ALL_KINDS] == [
        "not_null(seller_id)",
        "not_null(as_of_date)",
        "unique(seller_id, as_of_date)",
        "between(risk_score, 0, 100)",
        "in_set(tier)",
        "row_count_equals(4)",
        "row_count_between(1, 10)",
    ]
    assert Check.between("x", None, 2.5, name="small x").name == "small x"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Check("no_such_kind"), "is not one of"),
        (lambda: Check("not_null", ("a", "b")), "exactly one column"),
        (lambda: Check.unique(), "at least one column"),
        (lambda: Check.between("x"), "needs min_value, max_value or both"),
        (lambda: Check.in_set("x", []), "at least one value"),
        (lambda: Check.row_count_equals(-1), "value >= 0"),
        (lambda: Check("row_count_between", ("x",), min_value=1), "takes no column"),
    ],
)
def test_bad_check_declarations_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_gate_refuses_missing_columns_and_duplicate_names_before_running(spark):
    df = frame(spark)
    with pytest.raises(ValueError, match=r"\['nope'\] are missing; present: \['as_of_date'"):
        run_gate(df, TABLE, [Check.not_null("nope")], docs_root=None)
    with pytest.raises(ValueError, match="must be unique"):
        run_gate(df, TABLE, [CONTROL, CONTROL], docs_root=None)


def test_enforce_message_counts_only_critical_failures():
    result = GateResult(
        table="gold.t",
        success=False,
        failed=(
            FailedCheck("a", "not_null", True, "3 null value(s)", 3),
            FailedCheck("b", "in_set", False, "1 unexpected value(s), e.g. 'x'", 1),
        ),
    )
    with pytest.raises(
        QualityGateError, match=r"^gold.t failed 1 critical expectation\(s\): a: 3 null value\(s\)$"
    ):
        enforce(result)


def test_all_between_is_one_expectation_that_names_each_offending_column(spark, no_pandas):
    df = spark.createDataFrame(
        [
            ("a", 0.0, 1.0, None),
            ("b", 1.5, 0.5, None),
            ("c", -0.1, 2.0, 0.5),
            ("d", None, None, 1.0),
        ],
        "k string, r1 double, `odd name` double, r3 double",
    )
    check = Check.all_between(["r1", "odd name", "r3"], 0, 1, name="rates in [0, 1]")
    passing = Check.all_between(["r3"], 0, 1)
    result = run_gate(df, TABLE, [check, passing], docs_root=None)
    assert result.success is False
    assert result.statistics["evaluated_expectations"] == 2
    (failure,) = result.failed
    assert failure == FailedCheck(
        name="rates in [0, 1]",
        kind="all_between",
        critical=True,
        detail="2 row(s) outside [0, 1]: r1 (2), odd name (1)",
        observed_value=2,
        examples=("r1", "odd name"),
    )
    assert passing.name == "all_between(1 columns, 0, 1)"
    with pytest.raises(ValueError, match="all_between takes at least one column"):
        Check.all_between([], 0, 1)
    with pytest.raises(ValueError, match="needs min_value, max_value or both"):
        Check.all_between(["r1"])
