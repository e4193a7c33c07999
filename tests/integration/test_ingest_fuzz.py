"""Fuzzed landing rows: every row ends in bronze or quarantine exactly once, with a reason.

Each example writes one landing file for one canonical table in one format (CSV,
CSV.gz, TSV, JSON lines, Parquet): rows built from a valid row with fields
replaced by hostile values (numbers beyond 64 bits, 1e308, -0, NaN, Infinity,
epoch and calendar values out of range, empty and blank strings, control
characters, NUL, a BOM, quotes, delimiters and line breaks inside a field, long
strings, latin-1 bytes in a UTF-8 file, duplicate keys with other content). It
is read and parsed by the real ingest path (lakecore.landing +
transforms.common.ingest), and the property is checked: no exception, rows
written = rows read, each kept once (bronze unique on its key) or quarantined
with at least one reason.

Sized for the suite: FUZZ_EXAMPLES (default 12) files of 1-6 rows, each a few
Spark queries on the test session; a long local run sets FUZZ_EXAMPLES=300.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F
from pyspark.sql import types as T

from catalog.sources import SOURCES
from catalog.tables import TABLES
from lakecore.landing import read_source_table
from transforms.common.ingest import (
    select_clean,
    select_quarantine,
    with_duplicate_errors,
    with_mapped_columns,
    with_typed_columns,
)

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
DEMO = {st.table: st for st in SOURCES["demo"].tables}
FORMATS = ("csv", "csv.gz", "tsv", "jsonl", "parquet")
# Canonical tables no demo file lands: Walmart's, in its own positional CSV layout.
WALMART = {st.table: st for st in SOURCES["walmart"].tables if st.table not in DEMO}
WALMART_FILES = {"store_sales": "train.csv", "store_features": "features.csv"}

HOSTILE = [
    "",
    "   ",
    "\x00",
    "a\x00b",
    "\x01\x1f",
    "NaN",
    "-NaN",
    "Infinity",
    "-Infinity",
    "-0",
    "-0.0",
    "1e308",
    "-1e308",
    "1e-320",
    "0.005",  # a fraction of a cent
    "12.345",
    "99999999999999999999999999999999",
    "-9223372036854775809",
    "9223372036854775808",
    "253402300800",  # 10000-01-01 in epoch seconds
    "253402300800000",  # the same in milliseconds
    "-62135596801",
    "0000-12-31 23:59:59",
    "0001-01-01 00:00:00",
    "9999-12-31 23:59:59",
    "10000-01-01 00:00:00",
    "2025-02-30 00:00:00",
    "2025-13-01",
    'quo"te',
    '"',
    "a,b",
    "a\tb",
    "line\nbreak",
    "cr\r\nlf",
    "\ufeffbom",
    "mid\ufeffdle",
    "é😀",
    "x" * 5000,
]
VALID = {
    T.StringType: "v",
    T.LongType: "7",
    T.IntegerType: "3",
    T.DoubleType: "1.5",
    T.DecimalType: "12.50",
    T.BooleanType: "true",
    T.TimestampType: "2025-01-02 03:04:05",
    T.DateType: "2025-01-02",
}


def canonical_of(spec, raw: str) -> str:
    """The canonical column a raw column feeds (a rename, or an expression over it)."""
    for column, expression in spec.mapping.items():
        if raw in expression:
            return column
    return raw


@st.composite
def landing_case(draw):
    table = draw(st.sampled_from(sorted({**DEMO, **WALMART})))
    schema = TABLES[table]
    spec = DEMO.get(table) or WALMART[table]
    fmt = draw(st.sampled_from(FORMATS if table in DEMO else ("csv", "csv.gz")))
    columns = list(spec.raw_columns) or schema.names
    n = draw(st.integers(min_value=1, max_value=6))
    rows = []
    for i in range(n):
        row = {}
        for col in columns:
            canonical = canonical_of(spec, col)
            dtype = schema.type_of(canonical)
            if canonical in schema.keys:
                row[col] = {T.StringType: f"k{i}", T.DateType: f"2025-01-{i + 1:02d}"}.get(
                    type(dtype), str(i + 1)
                )
            else:
                row[col] = VALID[type(dtype)]
        for col in draw(st.sets(st.sampled_from(columns), max_size=4)):
            row[col] = draw(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12)))
        rows.append(row)
    keys = [c for c in columns if canonical_of(spec, c) in schema.keys]
    if n > 1 and draw(st.booleans()):  # the same key twice, other content
        rows[-1] = {**rows[-1], **{k: rows[0][k] for k in keys}}
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        rows[0][columns[-1]] = "y" * 1_000_000  # a 1 MB field
    return table, fmt, rows


def write_landing(folder: Path, table: str, fmt: str, rows: list[dict]) -> Path:
    names = list(rows[0])
    target = folder / table if table in DEMO else folder
    target.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        cols = {c: [r[c] for r in rows] for c in names}
        pq.write_table(pa.table(cols), target / "part-0.parquet")
    elif fmt == "jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (target / "part-0.jsonl").write_text(text, encoding="utf-8")
    else:
        buf = io.StringIO()
        writer = csv.DictWriter(
            buf, fieldnames=names, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
        data = buf.getvalue().encode("utf-8")
        name = {"csv": "part-0.csv", "csv.gz": "part-0.csv.gz", "tsv": "part-0.tsv"}[fmt]
        if table in WALMART:
            name = WALMART_FILES[table] + (".gz" if fmt == "csv.gz" else "")
        (target / name).write_bytes(gzip.compress(data) if fmt == "csv.gz" else data)
    return target


def parse(spark, folder: Path, table: str):
    st_ = DEMO.get(table) or WALMART[table]
    schema = TABLES[table]
    raw = read_source_table(spark, str(folder), st_, schema.names)
    return (
        raw.transform(with_mapped_columns, {c: st_.expression(c) for c in schema.names})
        .transform(with_typed_columns, schema, st_.timestamp_formats, st_.date_formats)
        .transform(with_duplicate_errors, schema.keys)
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=landing_case())
# Walmart's tables on every run (random draws pick 2 of 16 tables only now and then).
@example(
    case=(
        "store_sales",
        "csv.gz",
        [
            {
                "Store": "1",
                "Dept": "2",
                "Date": "2010-02-05",
                "Weekly_Sales": "24924.50",
                "IsHoliday": "FALSE",
            },
            {
                "Store": "1",
                "Dept": "2",
                "Date": "2010-02-05",
                "Weekly_Sales": "1e308",
                "IsHoliday": "x",
            },
            {
                "Store": "",
                "Dept": "3.5",
                "Date": "2010-13-01",
                "Weekly_Sales": "0.001",
                "IsHoliday": "TRUE",
            },
        ],
    )
)
@example(case=("store_features", "csv", [
    {"Store": "1", "Date": "2010-02-05", "Temperature": "42.31", "Fuel_Price": "2.572",
     "MarkDown1": "NA", "MarkDown2": "-0", "MarkDown3": "Infinity", "MarkDown4": "a,b",
     "MarkDown5": "99999999999999999999", "CPI": "211.0963582", "Unemployment": "8.106",
     "IsHoliday": "FALSE"},
]))  # fmt: skip
def test_every_fuzzed_row_is_kept_or_quarantined_once(spark, tmp_path_factory, case):
    table, fmt, rows = case
    folder = tmp_path_factory.mktemp("fuzz")
    write_landing(folder, table, fmt, rows)
    parsed = parse(spark, folder, table).persist()
    try:
        schema = TABLES[table]
        clean = select_clean(parsed, schema, "demo")
        bad = select_quarantine(parsed, schema, "demo")
        n_read, n_clean, n_bad = parsed.count(), clean.count(), bad.count()
        assert n_read == len(rows), (fmt, n_read, len(rows))
        assert n_clean + n_bad == n_read
        assert bad.where(F.size("reasons") == 0).count() == 0
        assert clean.select(*schema.keys).distinct().count() == n_clean
    finally:
        parsed.unpersist()


def test_a_latin1_file_declared_utf8_is_read_row_for_row(spark, tmp_path):
    """Invalid UTF-8 (latin-1 bytes) does not lose or split rows; values are replaced."""
    target = tmp_path / "sellers"
    target.mkdir()
    text = "seller_id,city\ns1,S\xe3o Paulo\ns2,Bras\xedlia\n"
    (target / "part-0.csv").write_bytes(text.encode("latin-1"))
    parsed = parse(spark, tmp_path, "sellers")
    assert sorted(r.seller_id for r in parsed.collect()) == ["s1", "s2"]
    assert parsed.where(F.size("_errors") > 0).count() == 0
