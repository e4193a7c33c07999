"""Reading landing files (CSV, CSV.gz, TSV, JSON lines, Parquet) as raw strings.

Every row comes back with `_source_file`, `_row_order` (file order), the raw
record (`_raw_record`, or `_corrupt_record` for a line that does not parse)
and the raw columns as strings, so validation sees exactly what was landed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

FORMATS = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".tsv": "tsv",  # CSV with tabs, unless the source says otherwise
    ".tsv.gz": "tsv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json.gz": "json",
    ".jsonl.gz": "json",
    ".parquet": "parquet",
    ".snappy.parquet": "parquet",
    ".data": "csv",  # MovieLens u.data / u.item / u.user
    ".item": "csv",
    ".user": "csv",
}
CORRUPT = "_corrupt_record"


class LandingSpec(Protocol):
    """What reading one table's landing files needs (`catalog.sources.SourceTable` is one)."""

    @property
    def table(self) -> str: ...
    @property
    def files(self) -> tuple[str, ...]: ...  # glob patterns relative to the source folder
    @property
    def raw_columns(self) -> tuple[str, ...]: ...  # CSV/TSV columns by position
    @property
    def csv_options(self) -> Mapping[str, str]: ...


class LandingError(Exception):
    pass


def file_format(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1]
    if name.startswith(("_", ".")):
        return None  # _SUCCESS, .crc and other writer artefacts
    for ext in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return FORMATS[ext]
    return None


@dataclass(frozen=True)
class LandingFile:
    """One landing file as the file system lists it: what identifies a version of it."""

    path: str
    size: int
    modified_ms: int  # modification time, epoch milliseconds


def list_landing_files(
    spark: SparkSession, folder: str, patterns: tuple[str, ...]
) -> list[LandingFile]:
    """Readable files (known formats) matching the glob patterns, local paths or s3a://
    URIs, sorted by path; writer artefacts (`_SUCCESS`, `.crc`) are left out."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    found: dict[str, LandingFile] = {}
    for pattern in patterns:
        glob_path = jvm.org.apache.hadoop.fs.Path(f"{folder.rstrip('/')}/{pattern}")
        fs = glob_path.getFileSystem(conf)
        for status in fs.globStatus(glob_path) or []:
            path = status.getPath().toString()
            if status.isFile() and file_format(path):
                found[path] = LandingFile(path, status.getLen(), status.getModificationTime())
    return [found[p] for p in sorted(found)]


def list_files(spark: SparkSession, folder: str, patterns: tuple[str, ...]) -> list[str]:
    """Paths of the readable files matching the glob patterns, sorted."""
    return [f.path for f in list_landing_files(spark, folder, patterns)]


def _csv_header(spark: SparkSession, path: str, options: dict[str, str]) -> list[str]:
    first = spark.read.option("encoding", options.get("encoding", "UTF-8")).text(path).first()
    if first is None:
        return []
    sep = options.get("sep", ",")
    return [c.strip().strip('"').lstrip("\ufeff") for c in first[0].split(sep)]


def _read_csv(spark: SparkSession, files: list[str], st: LandingSpec, sep: str = ",") -> DataFrame:
    # multiLine: a quoted field may hold a line break (RFC 4180; review texts do), and a
    # line-by-line reader would split that record in two malformed ones.
    options = {
        "header": "true",
        "mode": "PERMISSIVE",
        "multiLine": "true",
        "sep": sep,
        **st.csv_options,
    }
    columns = list(st.raw_columns) or _csv_header(spark, files[0], options)
    schema = T.StructType(
        [T.StructField(c, T.StringType()) for c in columns]
        + [T.StructField(CORRUPT, T.StringType())]
    )
    return (
        spark.read.options(**options)
        .option("columnNameOfCorruptRecord", CORRUPT)
        .option("enforceSchema", "true")
        .schema(schema)
        .csv(files)
    )


def _read_json(spark: SparkSession, files: list[str], columns: list[str]) -> DataFrame:
    schema = T.StructType(
        [T.StructField(c, T.StringType()) for c in columns]
        + [T.StructField(CORRUPT, T.StringType())]
    )
    return (
        spark.read.option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .schema(schema)
        .json(files)
    )


def _read_parquet(spark: SparkSession, files: list[str]) -> DataFrame:
    df = spark.read.parquet(*files)
    as_text = [F.col(f"`{c}`").cast("string").alias(c) for c in df.columns]
    return df.select(*as_text, F.lit(None).cast("string").alias(CORRUPT))


def read_source_table(
    spark: SparkSession,
    folder: str,
    st: LandingSpec,
    canonical_columns: list[str],
    files: list[str] | None = None,
) -> DataFrame:
    """The landing rows of one source table (all its files, or `files`), raw, with
    lineage columns."""
    files = list_files(spark, folder, st.files) if files is None else files
    by_format: dict[str, list[str]] = defaultdict(list)
    for f in files:
        fmt = file_format(f)
        if fmt:
            by_format[fmt].append(f)
    if not by_format:
        raise LandingError(f"no landing files for {st.table} in {folder} (patterns {st.files})")
    raw_columns = list(st.raw_columns) or canonical_columns
    parts = []
    for fmt, fmt_files in sorted(by_format.items()):
        log.info("reading %d %s file(s) for %s", len(fmt_files), fmt, st.table)
        if fmt in ("csv", "tsv"):
            df = _read_csv(spark, fmt_files, st, sep="\t" if fmt == "tsv" else ",")
        elif fmt == "json":
            df = _read_json(spark, fmt_files, raw_columns)
        else:
            df = _read_parquet(spark, fmt_files)
        for c in raw_columns:  # a source may lack optional columns: they are NULL
            if c not in df.columns:
                df = df.withColumn(c, F.lit(None).cast("string"))
        data_cols = [c for c in df.columns if c != CORRUPT]
        df = df.select(
            *data_cols,
            CORRUPT,
            F.col("_metadata.file_path").alias("_source_file"),
            F.monotonically_increasing_id().alias("_row_order"),
            F.to_json(F.struct(*[F.col(f"`{c}`") for c in data_cols])).alias("_raw_record"),
        )
        parts.append(df)
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p, allowMissingColumns=True)
    return out
