"""Event messages on a topic: JSON values in Kafka's row shape, parsed with an explicit schema.

Shared by every stream (seller events, inventory ledger events) and by the jobs
that publish them. A raw message has Kafka's columns (key, value, topic,
partition, offset, timestamp); its value is one JSON object whose fields are a
`StructType`. Parsing never drops a message: each one comes out once with its
fields, its position and a `reason` (null when the event is valid).

Any byte string can arrive (a producer is not trusted), and Spark runs with ANSI
mode on, where an arithmetic overflow or a cast out of range fails the query. So a
field is usable only within limits that keep every later step of a stream exact
and exception-free: text up to MAX_TEXT_CHARS characters, event times in
[EVENT_TIME_MIN, EVENT_TIME_MAX), decimals without digits beyond their scale (money
is never rounded) and the numeric bounds a stream declares. A message outside them
is quarantined like one of the wrong type, and its typed field is null.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

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
# A text field longer than this is refused: ids and codes are short, and what a stream
# writes to Kafka (seller_risk_alerts: the key and the alert quote seller and event ids)
# must stay far below a record's size limit (1 MB by default).
MAX_TEXT_CHARS = 1024
# Event times outside [1970, 9999) are refused: later steps move them by windows and
# lateness (Spark would overflow near its own limits, years -290308 and +294247) and
# the driver reads them as Python datetimes (years 1 to 9999 only).
EVENT_TIME_MIN = datetime(1970, 1, 1, tzinfo=UTC)
EVENT_TIME_MAX = datetime(9999, 1, 1, tzinfo=UTC)
# An event time more than this after the broker received the message is refused.
MAX_AHEAD_MINUTES = 60


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
    usable: Mapping[str, Column] | None = None,
) -> Column:
    """Why a message is not a valid event (first reason wins), or null when it is.

    In order: `empty_value`, `invalid_utf8` (JSON text is UTF-8), `malformed_json`
    (not exactly one JSON object: also trailing text or a second object after the
    first), `missing_<field>` for each required field, `unknown_<field>` for a value
    outside `allowed[field]`, `invalid_<field>` for a field present in the JSON but
    not of its type (`from_json` would null it silently) or outside its limits.
    `parsed` is the value parsed with `schema`, `as_text` with the same fields as
    strings (any JSON value but null reads as a string), so a field is invalid when
    only the typed parse lost it; `usable[field]` is false when a parsed value breaks
    the field's limits (`field_limits`).
    """
    usable = usable or {}
    checks = [
        (value.isNull(), "empty_value"),
        (~F.is_valid_utf8(value), "invalid_utf8"),
        (~is_one_object(value), "malformed_json"),
    ]
    checks += [(parsed[c].isNull(), f"missing_{c}") for c in required]
    checks += [(~parsed[c].isin(*values), f"unknown_{c}") for c, values in allowed.items()]
    for field in schema.fields:
        present = as_text[field.name].isNotNull()
        lost = parsed[field.name].isNull() | ~usable.get(field.name, F.lit(True))
        checks.append((present & lost, f"invalid_{field.name}"))
    reason = F.lit(None).cast("string")
    for condition, name in reversed(checks):
        reason = F.when(condition, F.lit(name)).otherwise(reason)
    return reason


def as_strings(schema: T.StructType) -> T.StructType:
    """`schema` with every field a string: what the JSON holds, before type conversion."""
    return T.StructType([T.StructField(f.name, T.StringType()) for f in schema.fields])


def as_parsed(schema: T.StructType) -> T.StructType:
    """`schema` as the JSON is read: a decimal keeps its integer digits and gains
    fraction digits, so a value with more places than its scale is seen, not rounded."""

    def wide(t: T.DataType) -> T.DataType:
        if isinstance(t, T.DecimalType):
            return T.DecimalType(38, 38 - (t.precision - t.scale))
        return t

    return T.StructType([T.StructField(f.name, wide(f.dataType)) for f in schema.fields])


def field_limits(
    parsed: Column, schema: T.StructType, bounds: Mapping[str, tuple[object, object]]
) -> dict[str, Column]:
    """Per field with limits: true when its parsed value (`as_parsed`) is within them.

    Text: at most MAX_TEXT_CHARS characters. Timestamps: in [EVENT_TIME_MIN,
    EVENT_TIME_MAX). Decimals: no digit beyond the field's scale and within its
    precision. `bounds[field]`: inclusive (low, high). True for a null value (a missing
    value is the required fields' check, not a limit's).
    """
    lo_time = F.timestamp_micros(F.lit(int(EVENT_TIME_MIN.timestamp()) * 1_000_000))
    hi_time = F.timestamp_micros(F.lit(int(EVENT_TIME_MAX.timestamp()) * 1_000_000))
    limits: dict[str, Column] = {}
    for field in schema.fields:
        c, kind = parsed[field.name], field.dataType
        checks = []
        if isinstance(kind, T.StringType):
            checks.append(F.length(c) <= MAX_TEXT_CHARS)
        elif isinstance(kind, T.TimestampType):
            checks.append((c >= lo_time) & (c < hi_time))
        elif isinstance(kind, T.DecimalType):
            checks.append(c.try_cast(kind) == c)  # try_cast: null past the precision
        if field.name in bounds:
            low, high = bounds[field.name]
            checks.append(c.between(F.lit(low), F.lit(high)))
        if checks:
            ok = checks[0]
            for check in checks[1:]:
                ok = ok & check
            limits[field.name] = F.coalesce(ok, F.lit(False)) | c.isNull()
    return limits


def parse_messages(
    raw: DataFrame,
    schema: T.StructType,
    required: Sequence[str],
    allowed: Mapping[str, Sequence[str]],
    bounds: Mapping[str, tuple[object, object]] | None = None,
) -> DataFrame:
    """Every raw message once: its fields, source position, `received_at`, `value` and `reason`.

    A field outside its limits (`field_limits`, with `bounds`: inclusive numeric
    bounds per field) makes the message `invalid_<field>` and is null in the output.
    `value` is the message as text; bytes that are not UTF-8 (reason `invalid_utf8`)
    become U+FFFD in it, so no table holds a string its readers cannot decode (the
    raw bytes stay in the topic, at the message's position).
    """
    value = F.col("value").cast("string")
    parsed = F.col("e")
    usable = field_limits(parsed, schema, bounds or {})
    for field in schema.fields:
        if isinstance(field.dataType, T.TimestampType):
            # From the future: a producer's wrong clock or a forged time would move the
            # watermark ahead and make every later event of the stream late.
            limit = F.col("received_at") + F.make_interval(mins=F.lit(MAX_AHEAD_MINUTES))
            ahead = parsed[field.name] > limit
            usable[field.name] = usable[field.name] & ~F.coalesce(ahead, F.lit(False))

    def typed(field: T.StructField) -> Column:
        c = parsed[field.name]
        if field.name in usable:  # within limits, the cast neither rounds nor overflows
            c = F.when(usable[field.name], c.try_cast(field.dataType))
        return c.alias(field.name)

    return (
        raw.select(
            value.alias("value"),
            *SOURCE_COLUMNS,
            F.col("timestamp").alias("received_at"),
        )
        .select(
            "*",
            F.from_json("value", as_parsed(schema)).alias("e"),
            F.from_json("value", as_strings(schema)).alias("t"),
        )
        .select(
            *[typed(f) for f in schema.fields],
            *SOURCE_COLUMNS,
            "received_at",
            F.make_valid_utf8("value").alias("value"),
            message_reason(
                F.col("value"), parsed, F.col("t"), schema, required, allowed, usable
            ).alias("reason"),
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
