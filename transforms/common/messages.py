"""Event messages on a topic: JSON values in Kafka's row shape, parsed with an explicit schema.

Shared by every stream (seller events, inventory ledger events) and by the jobs
that publish them. A raw message has Kafka's columns (key, value, topic,
partition, offset, timestamp); its value is one JSON object whose fields are a
`StructType`. Parsing never drops a message: each one comes out once with its
fields, its position and a `reason` (null when the event is valid).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

SOURCE_COLUMNS = ("topic", "partition", "offset")
TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"

# Spark's JSON functions parse the first JSON value of a string and ignore what
# follows it: '{"a":1} xyz' and '{"a":1}{"a":2}' would both read as {"a":1}. A value
# is one object when, its string literals blanked, its braces close only at its end.
# Every repetition is possessive (*+): Java's regex engine recurses once per
# iteration of a group otherwise, and a string field of a few thousand characters
# (or an array of thousands of objects) overflowed the executor's stack.
STRING_LITERAL = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
MAX_DEPTH = 8  # objects nested deeper than this inside an event are refused


def _balanced(depth: int) -> str:
    """Text whose braces are balanced, nested at most `depth` deep (no recursion in Java regex)."""
    inner = r"[^{}]*+"
    for _ in range(depth):
        inner = rf"[^{{}}]*+(?:\{{{inner}\}}[^{{}}]*+)*+"
    return inner


# JSON's own whitespace only, and \z: Java's $ also matches before a final U+2028.
ONE_OBJECT = rf"^[ \t\r\n]*+\{{{_balanced(MAX_DEPTH)}\}}[ \t\r\n]*+\z"


def is_one_object(value: Column) -> Column:
    """True when `value` is exactly one JSON object (nothing before or after it)."""
    blanked = F.regexp_replace(value, STRING_LITERAL, '""')
    return F.try_parse_json(value).isNotNull() & blanked.rlike(ONE_OBJECT)


def message_reason(
    value: Column,
    parsed: Column,
    as_text: Column,
    schema: T.StructType,
    required: Sequence[str],
    allowed: Mapping[str, Sequence[str]],
) -> Column:
    """Why a message is not a valid event (first reason wins), or null when it is.

    In order: `empty_value`, `malformed_json` (not exactly one JSON object: also
    trailing text or a second object after the first), `missing_<field>`
    for each required field, `unknown_<field>` for a value outside `allowed[field]`,
    `invalid_<field>` for a field present in the JSON but not of its type
    (`from_json` would null it silently). `parsed` is the value parsed with
    `schema`, `as_text` with the same fields as strings (any JSON value but null
    reads as a string), so a field is invalid when only the typed parse lost it.
    """
    checks = [(value.isNull(), "empty_value"), (~is_one_object(value), "malformed_json")]
    checks += [(parsed[c].isNull(), f"missing_{c}") for c in required]
    checks += [(~parsed[c].isin(*values), f"unknown_{c}") for c, values in allowed.items()]
    for field in schema.fields:
        present = as_text[field.name].isNotNull()
        checks.append((present & parsed[field.name].isNull(), f"invalid_{field.name}"))
    reason = F.lit(None).cast("string")
    for condition, name in reversed(checks):
        reason = F.when(condition, F.lit(name)).otherwise(reason)
    return reason


def as_strings(schema: T.StructType) -> T.StructType:
    """`schema` with every field a string: what the JSON holds, before type conversion."""
    return T.StructType([T.StructField(f.name, T.StringType()) for f in schema.fields])


def parse_messages(
    raw: DataFrame,
    schema: T.StructType,
    required: Sequence[str],
    allowed: Mapping[str, Sequence[str]],
) -> DataFrame:
    """Every raw message once: its fields, source position, `received_at`, `value` and `reason`."""
    value = F.col("value").cast("string")
    return (
        raw.select(
            value.alias("value"),
            *SOURCE_COLUMNS,
            F.col("timestamp").alias("received_at"),
        )
        .select(
            "*",
            F.from_json("value", schema).alias("e"),
            F.from_json("value", as_strings(schema)).alias("t"),
        )
        .select(
            *[F.col(f"e.{c}").alias(c) for c in schema.fieldNames()],
            *SOURCE_COLUMNS,
            "received_at",
            "value",
            message_reason(F.col("value"), F.col("e"), F.col("t"), schema, required, allowed).alias(
                "reason"
            ),
        )
    )


def first_of_each(events: DataFrame, id_column: str, columns: Sequence[str]) -> DataFrame:
    """Valid events, one row per id: the earliest message (lowest partition, then offset)."""
    first = Window.partitionBy(id_column).orderBy("partition", "offset")
    return (
        events.where(F.col("reason").isNull())
        .withColumn("_n", F.row_number().over(first))
        .where("_n = 1")
        .select(*columns)
    )


def to_messages(
    events: DataFrame,
    schema: T.StructType,
    key: str,
    topic: str,
    partitions: int,
    time_column: str = "event_ts",
    id_column: str = "event_id",
) -> DataFrame:
    """Kafka-shaped rows: key = `key`, a JSON value of `schema`'s fields, the partition the
    key hashes to (one key's events stay in order in one partition) and offsets in
    event-time order, with the event time as the message timestamp."""
    in_order = Window.partitionBy("partition").orderBy(time_column, id_column)
    return (
        events.withColumn("partition", F.pmod(F.hash(key), F.lit(partitions)).cast("int"))
        .withColumn("offset", (F.row_number().over(in_order) - 1).cast("long"))
        .select(
            F.col(key).cast("binary").alias("key"),
            F.to_json(F.struct(*schema.fieldNames()), {"timestampFormat": TIMESTAMP_FORMAT})
            .cast("binary")
            .alias("value"),
            F.lit(topic).alias("topic"),
            "partition",
            "offset",
            F.col(time_column).alias("timestamp"),
        )
    )
