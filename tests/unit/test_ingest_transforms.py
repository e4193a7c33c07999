"""Typing and validation of landing rows: every row ends clean or quarantined, with reasons."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from catalog.tables import TABLES, TableSchema
from transforms.common.ingest import (
    parse_value,
    select_clean,
    select_quarantine,
    with_duplicate_errors,
    with_mapped_columns,
    with_typed_columns,
)

SCHEMA = TableSchema(
    "things",
    (("thing_id", T.StringType()), ("qty", T.IntegerType()), ("at", T.TimestampType())),
    keys=("thing_id",),
    required=("qty",),
    rules={"qty": "qty >= 0"},
)
TS_FORMATS = ("yyyy-MM-dd HH:mm:ss", "M/d/yyyy H:mm")
RAW = T.StructType(
    [
        T.StructField("id", T.StringType()),
        T.StructField("qty", T.StringType()),
        T.StructField("at", T.StringType()),
        T.StructField("_corrupt_record", T.StringType()),
        T.StructField("_source_file", T.StringType()),
        T.StructField("_row_order", T.LongType()),
        T.StructField("_raw_record", T.StringType()),
    ]
)


def _raw(spark, rows):
    return spark.createDataFrame([(*r[:4], "f.csv", i, f"raw{i}") for i, r in enumerate(rows)], RAW)


def _with_lineage(raw, source_file: str):
    """Raw string columns as the landing reader returns them: with its lineage columns."""
    return raw.select(
        "*",
        F.lit(None).cast("string").alias("_corrupt_record"),
        F.lit(source_file).alias("_source_file"),
        F.monotonically_increasing_id().alias("_row_order"),
        F.lit("{}").alias("_raw_record"),
    )


def _validated(spark, rows):
    mapping = {"thing_id": "id", "qty": "qty", "at": "at"}
    return (
        _raw(spark, rows)
        .transform(with_mapped_columns, mapping)
        .transform(with_typed_columns, SCHEMA, TS_FORMATS, ("yyyy-MM-dd",))
        .transform(with_duplicate_errors, SCHEMA.keys)
    )


@pytest.mark.parametrize(
    ("text", "dtype", "expected"),
    [
        ("2017-10-02 10:56:00", T.TimestampType(), dt.datetime(2017, 10, 2, 10, 56)),
        ("10/2/2017 10:56", T.TimestampType(), dt.datetime(2017, 10, 2, 10, 56)),
        ("2017-10-02T10:56", T.TimestampType(), None),
        ("3", T.IntegerType(), 3),
        ("3.0", T.IntegerType(), 3),
        ("3.5", T.IntegerType(), None),
        ("abc", T.LongType(), None),
        ("-1.25", T.DoubleType(), -1.25),
        ("1e400", T.DoubleType(), None),  # Infinity is not a measurement
        ("12.50", T.DecimalType(18, 2), Decimal("12.50")),
        ("1E+2", T.DecimalType(18, 2), Decimal("100.00")),
        ("-0", T.DecimalType(18, 2), Decimal("0.00")),
        ("12.345", T.DecimalType(18, 2), None),  # never rounded to 12.35
        ("9999999999999999.99", T.DecimalType(18, 2), Decimal("9999999999999999.99")),
        ("10000000000000000", T.DecimalType(18, 2), None),
        ("1e-320", T.DecimalType(18, 2), None),  # not 0.00
        ("1e308", T.DecimalType(18, 2), None),
        ("TRUE", T.BooleanType(), True),
        ("2012-02-10", T.DateType(), dt.date(2012, 2, 10)),
        (None, T.IntegerType(), None),
    ],
)
def test_parse_value(spark, text, dtype, expected):
    df = spark.createDataFrame([(text,)], "v string")
    got = df.select(parse_value(F.col("v"), dtype, TS_FORMATS, ("yyyy-MM-dd",)).alias("v")).first()
    assert got["v"] == expected


def test_errors_per_row(spark):
    rows = [
        ("a", "1", "2025-01-01 00:00:00", None),  # clean
        ("b", "x", "2025-01-01 00:00:00", None),  # wrong type
        (None, "1", None, None),  # null key
        ("c", "-5", None, None),  # impossible value
        ("d", "NA", "soon", None),  # missing required + wrong type
        ("e", "1", None, "e,1,,extra"),  # malformed line
        ("a", "2", None, None),  # duplicate of a clean row
    ]
    got = {
        r["_row_order"]: r["_errors"]
        for r in _validated(spark, rows).select("_row_order", "_errors").collect()
    }
    assert got == {
        0: [],
        1: ["bad_type:qty"],
        2: ["null_key:thing_id"],
        3: ["impossible_value:qty"],
        4: ["bad_type:at", "missing_value:qty"],
        5: ["malformed_record"],
        6: ["duplicate_key"],
    }


def test_first_clean_row_wins_duplicates(spark):
    rows = [
        ("a", "oops", None, None),  # first in file order, but invalid
        ("a", "1", None, None),  # first clean one: kept
        ("a", "2", None, None),  # duplicate
    ]
    df = _validated(spark, rows)
    clean = select_clean(df, SCHEMA, "demo")
    expected = spark.createDataFrame(
        [("a", 1, None, "demo", "f.csv")],
        "thing_id string, qty int, at timestamp, _source string not null, _source_file string",
    )
    assert_df_equality(clean, expected, ignore_nullable=True)
    reasons = sorted(r["reason"] for r in select_quarantine(df, SCHEMA, "demo").collect())
    assert reasons == ["bad_type:qty", "duplicate_key"]


def test_nothing_is_lost(spark):
    rows = [
        ("a", "1", None, None),
        ("a", "1", None, None),
        (None, None, None, "x"),
        ("b", "z", None, None),
    ]
    df = _validated(spark, rows)
    clean = select_clean(df, SCHEMA, "s").count()
    bad = select_quarantine(df, SCHEMA, "s")
    assert clean + bad.count() == len(rows)
    assert clean == 1
    raw = {r["raw_record"] for r in bad.collect()}
    assert raw == {"raw1", "x", "raw3"}


def test_movielens_timestamps_out_of_range_are_quarantined_not_fatal(spark):
    from catalog.sources import SOURCES

    st = next(t for t in SOURCES["movielens"].tables if t.table == "interactions")
    schema = TABLES["interactions"]
    rows = [
        ("1", "10", "4", "881250949"),  # 1997-12-04 15:55:49
        ("2", "20", "3", "99999999999999999"),  # year ~3e9: past 9999
        ("3", "30", "5", "-99999999999"),  # before year 1
        ("4", "40", "2", "soon"),
    ]
    raw = spark.createDataFrame(
        rows, "user_id string, item_id string, rating_raw string, unix_ts string"
    )
    raw = _with_lineage(raw, "u.data")
    parsed = raw.transform(
        with_mapped_columns, {c: st.expression(c) for c in schema.names}
    ).transform(with_typed_columns, schema, st.timestamp_formats, st.date_formats)
    got = {r.user_id: (r.event_ts, list(r._errors)) for r in parsed.collect()}
    assert got["1"] == (dt.datetime(1997, 12, 4, 15, 55, 49), [])
    for user in ("2", "3", "4"):
        assert got[user] == (None, ["bad_type:event_ts"]), user


def test_numbers_that_do_not_fit_are_quarantined_with_why(spark):
    schema = TableSchema(
        "priced",
        (("id", T.StringType()), ("price", T.DecimalType(18, 2)), ("qty", T.IntegerType())),
        keys=("id",),
    )
    raw = spark.createDataFrame(
        [
            ("a", "19.99", "2"),
            ("b", "1e308", "99999999999999999999999"),
            ("c", "0.001", "2.5"),
            ("d", "Infinity", "two"),
            ("e", "99999999999999999999999999999999999999999", "1e40"),
            ("f", "100.01", "1"),  # above the business bound
            ("g", "0.0000000000000000000000001", "1"),
        ],
        "id string, price string, qty string",
    ).transform(_with_lineage, "f.csv")
    parsed = raw.transform(
        with_mapped_columns, {"id": "id", "price": "price", "qty": "qty"}
    ).transform(with_typed_columns, schema, TS_FORMATS, ("yyyy-MM-dd",), {"price": 100.0})
    got = {r.id: (r.price, list(r._errors)) for r in parsed.collect()}
    assert got == {
        "a": (Decimal("19.99"), []),
        "b": (None, ["out_of_range:price", "out_of_range:qty"]),
        "c": (None, ["bad_scale:price", "bad_scale:qty"]),
        "d": (None, ["bad_type:price", "bad_type:qty"]),
        "e": (None, ["out_of_range:price", "out_of_range:qty"]),
        "f": (Decimal("100.01"), ["implausible_value:price"]),
        "g": (None, ["bad_scale:price"]),
    }
