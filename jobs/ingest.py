"""ingest: landing files of one source -> bronze Delta tables, bad rows -> quarantine.

Incremental: only files not read before (or changed since, see
lakecore.ingested) are read; `--reprocess` reads every file again. A table with
nothing new is not written at all. For every table: rows read = rows written +
rows quarantined, checked and recorded in ops.job_runs. Bronze is upserted on
the table's keys; a key already held by a row of an earlier file is a
`duplicate_key` (as if all files were read at once); quarantine rows of the
files read are replaced, so re-ingesting the same files changes nothing.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote

from pydantic import Field, field_validator
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from catalog.sources import SOURCES, Source
from catalog.tables import TABLES
from lakecore.config import PROJECT_ROOT, JobConfig, StrictModel
from lakecore.ingested import IngestedFiles, plan_files
from lakecore.job import JobContext, JobSpec, RunOptions
from lakecore.landing import LandingError, list_landing_files, read_source_table
from transforms.common.ingest import (
    select_clean,
    select_quarantine,
    with_duplicate_errors,
    with_earlier_duplicates,
    with_mapped_columns,
    with_typed_columns,
)

EMPTY_FILE = "empty_file"
NUMERIC = (T.IntegerType, T.LongType, T.DecimalType, T.DoubleType)


class IngestParams(StrictModel):
    # Source name -> folder; "{landing}" is the environment's landing root,
    # relative paths resolve against the project root.
    sources: dict[str, str] = Field(default_factory=dict)
    # Tables ingested at once (1 = one after the other).
    parallel_tables: int = Field(2, ge=1)
    # Business bounds, "table.column" -> the largest plausible value: a larger one is
    # quarantined as `implausible_value:<column>` (the type's own range is checked anyway).
    max_values: dict[str, Annotated[float, Field(allow_inf_nan=False, gt=-1e16, lt=1e16)]] = Field(
        default_factory=dict
    )

    @field_validator("max_values")
    @classmethod
    def _numeric_columns(cls, value: dict[str, float]) -> dict[str, float]:
        for key in value:
            table, _, column = key.partition(".")
            schema = TABLES.get(table)
            if schema is None or column not in schema.names:
                raise ValueError(f"{key!r} is not a canonical table.column")
            if not isinstance(schema.type_of(column), NUMERIC):
                raise ValueError(f"{key!r} is not a numeric column")
        return value

    def maximums(self, table: str) -> dict[str, float]:
        return {
            k.partition(".")[2]: v for k, v in self.max_values.items() if k.split(".")[0] == table
        }


class IngestConfig(JobConfig):
    ingest: IngestParams = IngestParams()


class IngestOptions(RunOptions):
    source: str = Field(
        description="what to ingest", json_schema_extra={"choices": sorted(SOURCES)}
    )
    path: str | None = Field(None, description="folder of the source's files (default: config)")
    tables: str | None = Field(None, description="comma-separated subset of the source's tables")
    reprocess: bool = Field(False, description="read every file again, also those read before")

    @field_validator("source")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in SOURCES:
            raise ValueError(f"unknown source {value!r}; known: {', '.join(sorted(SOURCES))}")
        return value


def source_folder(ctx: JobContext, source: Source) -> str:
    if ctx.options.path:
        folder = ctx.options.path
    else:
        configured = ctx.job.ingest.sources.get(source.name)
        if configured is None:
            raise LandingError(
                f"{ctx.cfg.job_file}: no path for source '{source.name}' under ingest.sources; "
                "pass --path"
            )
        folder = configured.replace("{landing}", ctx.cfg.env.lakehouse.landing)
    if "://" not in folder:
        path = Path(folder)
        path = path if path.is_absolute() else (PROJECT_ROOT / path).resolve()
        if not path.is_dir():
            hint = " (run generate_demo_data first)" if source.name == "demo" else ""
            raise LandingError(f"source folder {path} does not exist{hint}")
        folder = str(path)
    return folder


def _sql_quote(value: str) -> str:
    """A Spark SQL string literal of any file name: backslashes escaped too (Spark reads
    a backslash in a literal as an escape)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ingest_table(ctx: JobContext, ledger: IngestedFiles, source: Source, folder: str, st) -> None:
    schema = TABLES[st.table]
    bronze, quarantine = f"bronze.{st.table}", f"quarantine.{st.table}"
    listed = list_landing_files(ctx.spark, folder, st.files)
    if not listed:
        raise LandingError(f"no landing files for {st.table} in {folder} (patterns {st.files})")
    plan = plan_files(listed, ledger.seen(st.table), ctx.options.reprocess)
    ctx.run.extra.setdefault("files", {})[st.table] = plan.summary()
    for f in plan.changed:
        if not ctx.options.reprocess:
            ctx.log.warning("ingest: %s changed since it was read: reading it again", f.path)
    if not plan.to_read:
        ctx.log.info("ingest: %s: no new files (%d read before)", bronze, len(plan.unchanged))
        ctx.run.add(bronze)
        return
    files = [f.path for f in plan.to_read]
    empty: list[str] = []
    required = (*schema.keys, *schema.required)
    raw = read_source_table(ctx.spark, folder, st, schema.names, files, required, empty)
    parsed = (
        raw.transform(with_mapped_columns, {c: st.expression(c) for c in schema.names})
        .transform(
            with_typed_columns,
            schema,
            st.timestamp_formats,
            st.date_formats,
            ctx.job.ingest.maximums(st.table),
        )
        .transform(with_duplicate_errors, schema.keys)
    )
    parsed = parsed.persist(StorageLevel.MEMORY_AND_DISK)
    holders = None
    try:
        # Counted first: the cached batch then has its real size, by which Spark plans
        # the join below (a batch under the broadcast threshold is broadcast).
        # `_source_file` is the reader's file URI (may be %-encoded), `files` the listing's.
        as_read = {r[0]: r[1] for r in parsed.groupBy("_source_file").count().collect()}
        per_file = {unquote(k): v for k, v in as_read.items()}
        rows_read = sum(as_read.values())
        checked = parsed
        if ctx.lake.exists(bronze):
            # The bronze rows holding a key of this batch, by a semi join: the batch's
            # keys are broadcast and bronze's key columns scanned once, rather than all
            # of bronze shuffled for an outer join (a cost that grows with history).
            existing = ctx.lake.read(bronze).select(*schema.keys, "_source_file")
            holders = existing.join(parsed.select(*schema.keys), list(schema.keys), "left_semi")
            holders = holders.persist(StorageLevel.MEMORY_AND_DISK)
            # Keys held by rows of files still in landing: a file since removed no longer
            # counts as the earlier holder (a full read would not see it either).
            landed = [f.path for f in listed]
            held = holders.where(
                F.col("_source_file").isin(landed) | F.url_decode("_source_file").isin(landed)
            )
            checked = parsed.transform(with_earlier_duplicates, held, schema.keys)
        clean = select_clean(checked, schema, source.name)
        written = 0
        if rows_read and not clean.isEmpty():
            written = write_bronze(ctx, clean, bronze, schema.keys, holders)
        bad = select_quarantine(checked, schema, source.name)
        names = sorted({*files, *as_read})
        predicate = f"source_file IN ({', '.join(_sql_quote(f) for f in names)})"
        quarantined = bad.count()
        if empty:
            # A file without a data line (zero bytes, an empty .gz, a header only) is
            # quarantined whole: one row naming it, not counted as a data row.
            ctx.log.warning("ingest: %s: no data rows in %s", bronze, ", ".join(empty))
            ctx.run.extra["files"][st.table]["empty"] = empty
            file_rows = [
                (schema.name, source.name, f, EMPTY_FILE, [EMPTY_FILE], None, None) for f in empty
            ]
            nullable = T.StructType([T.StructField(f.name, f.dataType) for f in bad.schema])
            bad = bad.unionByName(ctx.spark.createDataFrame(file_rows, nullable))
        # Quarantine rows of these files are replaced; when there are none to write
        # and none to replace (new files read cleanly, the routine case), no commit.
        if (
            quarantined
            or empty
            or not ctx.lake.exists(quarantine)  # created empty: queryable from the start
            or _holds_rows(ctx, quarantine, predicate)
        ):
            ctx.lake.overwrite_where(bad, quarantine, predicate)
    finally:
        parsed.unpersist()
        if holders is not None:
            holders.unpersist()
    ctx.run.add(bronze, read=rows_read, written=written, quarantined=quarantined)
    ctx.run.check_balanced(bronze)
    ledger.record(st.table, plan.to_read, per_file, ctx.run.run_id)


def _holds_rows(ctx: JobContext, name: str, predicate: str) -> bool:
    """Whether the table has a row matching `predicate` (Delta skips the files whose
    statistics rule it out, so this reads little when there is none)."""
    return ctx.lake.exists(name) and not ctx.lake.read(name).where(predicate).isEmpty()


def write_bronze(
    ctx: JobContext,
    clean: DataFrame,
    bronze: str,
    keys: tuple[str, ...],
    holders: DataFrame | None,
) -> int:
    """Upsert the clean rows into bronze on `keys`, reading bronze only when needed.

    `holders` are the bronze rows (keys, `_source_file`) holding a key of the batch
    (None: no table yet). No clean row's key held (the routine case, a new day's files,
    whose repeats of earlier days are quarantined): an append, cast to bronze's column
    types as a MERGE would (a lake written before a type change keeps its types), with
    no MERGE reading bronze. Some held (a re-read file, a file sorting before the
    holder's, a holder whose file left landing): a MERGE. It is not restricted to the
    holders' files: Delta keeps statistics of a string's first 32 characters only, and
    landing paths share longer prefixes, so such a filter would skip nothing.
    """
    if holders is None:
        return ctx.lake.merge(clean, bronze, keys)
    if holders.join(clean.select(*keys), list(keys), "left_semi").isEmpty():
        target = ctx.lake.read(bronze).schema
        typed = clean.select(
            *[
                F.col(c).cast(target[c].dataType) if c in target.names else F.col(c)
                for c in clean.columns
            ]
        )
        return ctx.lake.append(typed, bronze)
    return ctx.lake.merge(clean, bronze, keys)


def run(ctx: JobContext) -> None:
    source = SOURCES[ctx.options.source]
    folder = source_folder(ctx, source)
    wanted = set(ctx.options.tables.split(",")) if ctx.options.tables else None
    tables = [st for st in source.tables if wanted is None or st.table in wanted]
    if wanted and len(tables) != len(wanted):
        known = ", ".join(st.table for st in source.tables)
        raise LandingError(f"--tables {ctx.options.tables}: source {source.name} has {known}")
    ctx.run.extra.update({"source": source.name, "folder": folder})
    ledger = IngestedFiles(ctx.lake, source.name)
    try:
        ctx.steps(
            [
                (
                    f"{source.name} -> bronze.{st.table}",
                    partial(ingest_table, ctx, ledger, source, folder, st),
                )
                for st in tables
            ],
            parallel=ctx.job.ingest.parallel_tables,
        )
    finally:
        ledger.flush()
    ctx.run.noop = not any(c.read for c in ctx.run.counts.values())


SPEC = JobSpec(
    name="ingest",
    description="landing files (CSV, CSV.gz, TSV, JSON lines, Parquet) -> bronze Delta, bad rows -> quarantine",
    config_model=IngestConfig,
    run=run,
    reads=("landing/<source>/*",),
    writes=("bronze.<table>", "quarantine.<table>", "ops.ingested_files"),
    options_model=IngestOptions,
)
