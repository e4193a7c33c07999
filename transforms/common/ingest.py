"""Typing and validation of landing rows (pure DataFrame -> DataFrame).

Input rows carry raw string columns plus `_raw_record`, `_corrupt_record`,
`_source_file` and `_row_order`. Output adds the typed canonical columns and
`_errors` (array of reasons); `select_clean` and `select_quarantine` separate
the clean rows from the quarantine rows. Nothing is dropped: every input row ends in exactly one side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from catalog.tables import TableSchema

NULL_TOKENS = ("", "NA", "N/A", "NULL", "null", "NaN", "nan", "None")
ERRORS = "_errors"
LINEAGE = ("_corrupt_record", "_source_file", "_row_order", "_raw_record")

QUARANTINE_COLUMNS = (
    "table",
    "source",
    "source_file",
    "reason",
    "reasons",
    "record_key",
    "raw_record",
)


def normalize_null(col: Column) -> Column:
    """Trim; the usual spellings of 'missing' become NULL."""
    trimmed = F.trim(col)
    return F.when(trimmed.isin(*NULL_TOKENS), F.lit(None)).otherwise(trimmed)


# A plain decimal number, as landing files write them ("12.50", "-3", "1e-2", ".5").
NUMBER = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
DOUBLE_MAX = 1.7976931348623157e308


def _wide(dtype: T.DecimalType) -> T.DecimalType:
    """The same integer digits as `dtype`, all remaining precision as scale: a number
    that fits `dtype`'s range parses here without losing a decimal place it could have."""
    return T.DecimalType(38, 38 - (dtype.precision - dtype.scale))


def parse_value(
    col: Column, dtype: T.DataType, ts_formats: Sequence[str], date_formats: Sequence[str]
) -> Column:
    """String to `dtype`, NULL where the text does not parse exactly (never an exception).

    Decimals (money) are exact: a value beyond the precision or with more decimal places
    than the scale is NULL (quarantined), never rounded. Doubles must be finite.
    """
    if isinstance(dtype, T.StringType):
        return col
    if isinstance(dtype, T.TimestampType):
        return F.coalesce(*[F.try_to_timestamp(col, F.lit(f)) for f in ts_formats])
    if isinstance(dtype, T.DateType):
        return F.coalesce(*[F.to_date(F.try_to_timestamp(col, F.lit(f))) for f in date_formats])
    if isinstance(dtype, T.BooleanType):
        return F.lower(col).try_cast("boolean")
    if isinstance(dtype, (T.IntegerType, T.LongType)):
        # "3.0" is a valid integer in real exports; "3.5" is not.
        as_decimal = col.try_cast("decimal(38,6)")
        whole = F.when(as_decimal == F.floor(as_decimal), F.floor(as_decimal))
        return whole.try_cast(dtype)
    if isinstance(dtype, T.DecimalType):
        value = col.try_cast(dtype)
        # Equal to the wide parse (no decimal place dropped within 38 digits) and, as a
        # double, to the text's own double (no tiny value such as 1e-320 rounded to 0).
        exact = (value == col.try_cast(_wide(dtype))) & (
            value.cast("double") == col.try_cast("double")
        )
        return F.when(exact, value)
    if isinstance(dtype, T.DoubleType):
        value = col.try_cast("double")
        return F.when(F.abs(value) <= F.lit(DOUBLE_MAX), value)  # not NaN, not +-Infinity
    raise TypeError(f"unsupported canonical type {dtype}")


def type_reason(text: Column, dtype: T.DataType) -> Column:
    """Why non-null `text` did not parse as `dtype`: `bad_scale` for a number with more
    decimal places than the type holds (a fraction in an integer column, a fraction of a
    cent in a money column), `out_of_range` for a number beyond the type, `bad_type` else."""
    if isinstance(dtype, (T.IntegerType, T.LongType, T.DecimalType)):
        is_number = text.rlike(NUMBER)
        if isinstance(dtype, T.DecimalType):
            # within the integer digits, so it failed on its decimal places
            too_precise = text.try_cast(_wide(dtype)).isNotNull()
        else:
            as_decimal = text.try_cast("decimal(38,6)")
            too_precise = as_decimal.isNotNull() & (as_decimal != F.floor(as_decimal))
        return (
            F.when(is_number & too_precise, F.lit("bad_scale"))
            .when(is_number, F.lit("out_of_range"))
            .otherwise(F.lit("bad_type"))
        )
    if isinstance(dtype, T.DoubleType):
        return F.when(text.try_cast("double").isNotNull(), F.lit("out_of_range")).otherwise(
            F.lit("bad_type")
        )
    return F.lit("bad_type")


def with_mapped_columns(df: DataFrame, expressions: Mapping[str, str]) -> DataFrame:
    """Canonical columns as normalized strings (`_s_<col>`); raw columns are dropped."""
    return df.select(
        *LINEAGE,
        *[
            normalize_null(F.expr(e).cast("string")).alias(f"_s_{c}")
            for c, e in expressions.items()
        ],
    )


def with_typed_columns(
    df: DataFrame,
    schema: TableSchema,
    ts_formats: Sequence[str],
    date_formats: Sequence[str],
    maximums: Mapping[str, float] | None = None,
) -> DataFrame:
    """Typed canonical columns and `_errors`: malformed, bad types, null keys, impossible
    values (the schema's rules) and implausible ones (`maximums`: column -> the largest
    value a business accepts, from the ingest config)."""
    typed = df.select(
        "*",
        *[
            parse_value(F.col(f"_s_{c}"), t, ts_formats, date_formats).alias(c)
            for c, t in schema.columns
        ],
    )
    checks: list[Column] = []
    for c, t in schema.columns:
        is_bad_type = F.col(f"_s_{c}").isNotNull() & F.col(c).isNull()
        reason = F.concat(type_reason(F.col(f"_s_{c}"), t), F.lit(f":{c}"))
        checks.append(F.when(is_bad_type, reason))
    for c in schema.keys:
        checks.append(F.when(F.col(f"_s_{c}").isNull(), F.lit(f"null_key:{c}")))
    for c in schema.required:
        checks.append(F.when(F.col(f"_s_{c}").isNull(), F.lit(f"missing_value:{c}")))
    for c, rule in schema.rules.items():
        is_impossible = F.col(c).isNotNull() & ~F.coalesce(F.expr(rule), F.lit(False))
        checks.append(F.when(is_impossible, F.lit(f"impossible_value:{c}")))
    for c, top in (maximums or {}).items():
        # A decimal literal: compared exactly with money, never through a double.
        is_implausible = F.col(c) > F.expr(f"{Decimal(str(top)):f}BD")
        checks.append(F.when(is_implausible, F.lit(f"implausible_value:{c}")))
    is_malformed = F.col("_corrupt_record").isNotNull()
    # A line that did not parse fails everything else as a consequence: one reason.
    errors = F.when(is_malformed, F.array(F.lit("malformed_record"))).otherwise(
        F.array_compact(F.array(*checks))
    )
    return typed.withColumn(ERRORS, errors)


def with_duplicate_errors(df: DataFrame, keys: Sequence[str]) -> DataFrame:
    """Mark all but the first clean row of each key as `duplicate_key`.

    "First" is file order (`_source_file`, `_row_order`); rows that already
    failed another check do not compete, so a bad row never shadows a good one.
    """
    is_clean = F.size(F.col(ERRORS)) == 0
    w = Window.partitionBy(*[F.col(k) for k in keys]).orderBy(
        F.when(is_clean, 0).otherwise(1), F.col("_source_file"), F.col("_row_order")
    )
    rank = F.row_number().over(w)
    is_duplicate = is_clean & (rank > 1)
    return df.withColumn(
        ERRORS,
        F.when(is_duplicate, F.array(F.lit("duplicate_key"))).otherwise(F.col(ERRORS)),
    )


def select_clean(df: DataFrame, schema: TableSchema, source: str) -> DataFrame:
    """Rows that passed every check, as the canonical table plus lineage."""
    return df.where(F.size(F.col(ERRORS)) == 0).select(
        *schema.names,
        F.lit(source).alias("_source"),
        F.col("_source_file"),
    )


def select_quarantine(df: DataFrame, schema: TableSchema, source: str) -> DataFrame:
    """Rows that failed, with every reason, the source file and the raw record."""
    key_json = F.to_json(F.struct(*[F.col(f"_s_{k}").alias(k) for k in schema.keys]))
    return df.where(F.size(F.col(ERRORS)) > 0).select(
        F.lit(schema.name).alias("table"),
        F.lit(source).alias("source"),
        F.col("_source_file").alias("source_file"),
        F.array_join(F.col(ERRORS), ";").alias("reason"),
        F.col(ERRORS).alias("reasons"),
        key_json.alias("record_key"),
        F.coalesce(F.col("_corrupt_record"), F.col("_raw_record")).alias("raw_record"),
    )


def with_earlier_duplicates(df: DataFrame, existing: DataFrame, keys: Sequence[str]) -> DataFrame:
    """Mark clean rows whose key is already held by a row of an earlier file as
    `duplicate_key`, as if every file had been read at once (file order decides).

    `existing` has the keys and `_source_file` of the rows already in bronze. A row
    from the same file (a re-read file) or from a file sorting before the holder's
    replaces it: an incremental ingest keeps what a full one would.
    """
    holders = existing.select(*keys, F.col("_source_file").alias("_held_by"))
    joined = df.join(holders, on=list(keys), how="left")
    is_clean = F.size(F.col(ERRORS)) == 0
    is_later = F.col("_held_by").isNotNull() & (F.col("_held_by") < F.col("_source_file"))
    return joined.withColumn(
        ERRORS,
        F.when(is_clean & is_later, F.array(F.lit("duplicate_key"))).otherwise(F.col(ERRORS)),
    ).drop("_held_by")
