"""Reading landing files (CSV, CSV.gz, TSV, JSON lines, Parquet) as raw strings.

Every row comes back with `_source_file`, `_row_order` (file order), the raw
record (`_raw_record`, or `_corrupt_record` for a line that does not parse)
and the raw columns as strings, so validation sees exactly what was landed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
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
MAX_PROBE_CHARS = 1 << 16  # what a file's probe reads of it, at most


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


def first_lines(spark: SparkSession, path: str, encoding: str = "UTF-8", n: int = 2) -> list[str]:
    """Up to `n` first lines of a landing file (decompressed), read through Hadoop's file
    system, so a local path and an s3a:// URI read the same way, without a Spark job.
    A zero-byte file (also a zero-byte `.gz`) has no lines."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    stream = None
    try:
        if _size(spark, path) == 0:
            return []
        hpath = jvm.org.apache.hadoop.fs.Path(path)
        stream = hpath.getFileSystem(conf).open(hpath)
        codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf).getCodec(hpath)
        if codec is not None:
            stream = codec.createInputStream(stream)  # closing it closes the file too
        reader = jvm.java.io.InputStreamReader(stream, encoding)
        # The first MAX_PROBE_CHARS characters at most: a file without line breaks is
        # not read whole into the driver (a longer first line is checked by its start).
        chars = spark.sparkContext._gateway.new_array(jvm.char, MAX_PROBE_CHARS)
        got, text = 0, ""
        while got < MAX_PROBE_CHARS:
            k = reader.read(chars, got, MAX_PROBE_CHARS - got)
            if k < 0:
                break
            got += k
        text = jvm.java.lang.String(chars, 0, got) if got else ""
        # Blank lines carry no record: a header followed by blank lines is a header only.
        lines = [line.rstrip("\r") for line in text.split("\n")]
        return [line for line in lines if line.strip()][:n]
    except LandingError:
        raise
    except Exception as e:  # py4j: a corrupt .gz header, a missing or unreadable object...
        cause = getattr(e, "java_exception", None)
        raise LandingError(f"{path}: cannot be read: {cause or e}") from None
    finally:
        if stream is not None:
            stream.close()


def _size(spark: SparkSession, path: str) -> int:
    hpath = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return fs.getFileStatus(hpath).getLen()


def _split_header(line: str, sep: str) -> list[str]:
    return [c.strip().strip('"').lstrip("\ufeff") for c in line.split(sep)]


@dataclass(frozen=True)
class CsvFile:
    """What the first lines of a CSV/TSV landing file say: its header (if the source
    has one) and whether any data line follows."""

    path: str
    header: tuple[str, ...]
    empty: bool  # no data line: zero bytes, or a header only


def probe_csv(
    spark: SparkSession,
    path: str,
    st: LandingSpec,
    options: Mapping[str, str],
    required: Sequence[str],
) -> CsvFile:
    """Check a CSV/TSV file's first lines before reading it, and fail naming the file when
    its header cannot be mapped: a header without a required column, a header with a
    field count other than the source's positional columns, a UTF-16 file."""
    has_header = options.get("header", "true") == "true"
    encoding = options.get("encoding", "UTF-8")
    lines = first_lines(spark, path, encoding)
    if lines and ("\x00" in lines[0] or lines[0].startswith(("\ufffd\ufffd", "\ufeff\x00"))):
        raise LandingError(
            f"{path}: looks like UTF-16 (NUL bytes in its first line); "
            f"the source reads {encoding}: convert the file"
        )
    if not has_header:
        return CsvFile(path, (), not lines)
    if not lines:
        return CsvFile(path, (), True)
    header = tuple(_split_header(lines[0], options.get("sep", ",")))
    if st.raw_columns:
        if len(header) != len(st.raw_columns):
            raise LandingError(
                f"{path}: header has {len(header)} columns, the {st.table} source expects "
                f"{len(st.raw_columns)} ({', '.join(st.raw_columns)}); found: {', '.join(header)}"
            )
        # Read by position: a file with the same columns in another order would put one
        # column's values into another.
        if [c.lower() for c in header] != [c.lower() for c in st.raw_columns]:
            raise LandingError(
                f"{path}: header ({', '.join(header)}) is not the {st.table} source's "
                f"columns in order ({', '.join(st.raw_columns)})"
            )
    else:
        missing = [c for c in required if c not in header]
        if missing:
            raise LandingError(
                f"{path}: header lacks required column(s) {', '.join(missing)} of {st.table} "
                f"(found: {', '.join(header)})"
            )
    return CsvFile(path, header, len(lines) < 2)


def _read_csv(
    spark: SparkSession, files: list[str], st: LandingSpec, columns: Sequence[str], sep: str
) -> DataFrame:
    # multiLine: a quoted field may hold a line break (RFC 4180; review texts do), and a
    # line-by-line reader would split that record in two malformed ones.
    options = _csv_options(st, sep)
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


def _csv_options(st: LandingSpec, sep: str) -> dict[str, str]:
    return {
        "header": "true",
        "mode": "PERMISSIVE",
        "multiLine": "true",
        "sep": sep,
        **st.csv_options,
    }


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
    required: Sequence[str] = (),
    empty: list[str] | None = None,
) -> DataFrame:
    """The landing rows of one source table (all its files, or `files`), raw, with
    lineage columns. CSV/TSV files are checked first (`probe_csv`: fails naming the
    file); files without a data line are appended to `empty` and not read."""
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
            sep = "\t" if fmt == "tsv" else ","
            # Files grouped by header, each group read with its own column names: a
            # file may order (or omit optional) columns differently from the others.
            groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
            for f in fmt_files:
                probe = probe_csv(spark, f, st, _csv_options(st, sep), required)
                if probe.empty:
                    if empty is not None:
                        empty.append(f)
                    continue
                groups[probe.header].append(f)
            frames = [
                _read_csv(spark, group, st, list(st.raw_columns) or list(header), sep)
                for header, group in sorted(groups.items())
            ]
        else:
            kept = []
            for f in fmt_files:
                no_data = not first_lines(spark, f, n=1) if fmt == "json" else _size(spark, f) == 0
                if no_data:
                    if empty is not None:
                        empty.append(f)
                else:
                    kept.append(f)
            if not kept:
                frames = []
            elif fmt == "json":
                frames = [_read_json(spark, kept, raw_columns)]
            else:
                frames = [_read_parquet(spark, kept)]
        for df in frames:
            for c in raw_columns:  # a source may lack optional columns: they are NULL
                if c not in df.columns:
                    df = df.withColumn(c, F.lit(None).cast("string"))
            data_cols = [c for c in df.columns if c != CORRUPT]
            parts.append(
                df.select(
                    *data_cols,
                    CORRUPT,
                    F.col("_metadata.file_path").alias("_source_file"),
                    F.monotonically_increasing_id().alias("_row_order"),
                    F.to_json(F.struct(*[F.col(f"`{c}`") for c in data_cols])).alias("_raw_record"),
                )
            )
    if not parts:  # every file was empty
        schema = ", ".join(f"`{c}` string" for c in raw_columns)
        return spark.createDataFrame(
            [],
            f"{schema}, {CORRUPT} string, _source_file string, _row_order long, _raw_record string",
        )
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p, allowMissingColumns=True)
    return out
