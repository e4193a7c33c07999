"""ingest: landing files of one source -> bronze Delta tables, bad rows -> quarantine.

For every table: rows read = rows written + rows quarantined, checked and
recorded in ops.job_runs. Bronze is upserted on the table's keys, quarantine
rows of the ingested files are replaced, so re-ingesting the same files
changes nothing.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from pydantic import Field, field_validator
from pyspark import StorageLevel

from catalog.sources import SOURCES, Source
from catalog.tables import TABLES
from lakecore.config import PROJECT_ROOT, JobConfig, StrictModel
from lakecore.job import JobContext, JobSpec, RunOptions
from lakecore.landing import LandingError, read_source_table
from transforms.common.ingest import (
    select_clean,
    select_quarantine,
    with_duplicate_errors,
    with_mapped_columns,
    with_typed_columns,
)


class IngestParams(StrictModel):
    # Source name -> folder; "{landing}" is the environment's landing root,
    # relative paths resolve against the project root.
    sources: dict[str, str] = Field(default_factory=dict)
    # Tables ingested at once (1 = one after the other).
    parallel_tables: int = Field(2, ge=1)


class IngestConfig(JobConfig):
    ingest: IngestParams = IngestParams()


class IngestOptions(RunOptions):
    source: str = Field(
        description="what to ingest", json_schema_extra={"choices": sorted(SOURCES)}
    )
    path: str | None = Field(None, description="folder of the source's files (default: config)")
    tables: str | None = Field(None, description="comma-separated subset of the source's tables")

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
    return "'" + value.replace("'", "''") + "'"


def ingest_table(ctx: JobContext, source: Source, folder: str, st) -> None:
    schema = TABLES[st.table]
    raw = read_source_table(ctx.spark, folder, st, schema.names)
    parsed = (
        raw.transform(with_mapped_columns, {c: st.expression(c) for c in schema.names})
        .transform(with_typed_columns, schema, st.timestamp_formats, st.date_formats)
        .transform(with_duplicate_errors, schema.keys)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        rows_read = parsed.count()
        files = [r[0] for r in parsed.select("_source_file").distinct().collect()]
        bronze, quarantine = f"bronze.{st.table}", f"quarantine.{st.table}"
        written = ctx.lake.merge(select_clean(parsed, schema, source.name), bronze, schema.keys)
        bad = select_quarantine(parsed, schema, source.name)
        predicate = f"source_file IN ({', '.join(_sql_quote(f) for f in files)})"
        quarantined = bad.count()
        ctx.lake.overwrite_where(bad, quarantine, predicate)
    finally:
        parsed.unpersist()
    ctx.run.add(bronze, read=rows_read, written=written, quarantined=quarantined)
    ctx.run.check_balanced(bronze)


def run(ctx: JobContext) -> None:
    source = SOURCES[ctx.options.source]
    folder = source_folder(ctx, source)
    wanted = set(ctx.options.tables.split(",")) if ctx.options.tables else None
    tables = [st for st in source.tables if wanted is None or st.table in wanted]
    if wanted and len(tables) != len(wanted):
        known = ", ".join(st.table for st in source.tables)
        raise LandingError(f"--tables {ctx.options.tables}: source {source.name} has {known}")
    ctx.run.extra.update({"source": source.name, "folder": folder})
    ctx.steps(
        [
            (f"{source.name} -> bronze.{st.table}", partial(ingest_table, ctx, source, folder, st))
            for st in tables
        ],
        parallel=ctx.job.ingest.parallel_tables,
    )


SPEC = JobSpec(
    name="ingest",
    description="landing files (CSV, CSV.gz, TSV, JSON lines, Parquet) -> bronze Delta, bad rows -> quarantine",
    config_model=IngestConfig,
    run=run,
    reads=("landing/<source>/*",),
    writes=("bronze.<table>", "quarantine.<table>"),
    options_model=IngestOptions,
)
