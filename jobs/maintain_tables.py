"""maintain_tables: OPTIMIZE (compaction, optional Z-order) and VACUUM of the lake's Delta tables.

Streams commit every few seconds and daily jobs replace partitions, so tables
gather small files and unreferenced old ones. For each table (every Delta table
under the lake root unless `tables` names some; minus `exclude`):

1. OPTIMIZE compacts small files (bin-packing, or Z-order by the table's
   `zorder` columns). The rewrite is `dataChange = false`: readers and streams
   reading the table see no new data.
2. VACUUM deletes the files no version within `vacuum_retention_hours` still
   references. Time travel further back than that stops working, and a stream
   reading a table must not lag more than that behind it; 168 h (Delta's
   default) is the floor unless `allow_short_retention` says otherwise.

Each table is one logged step; its counts (files in the table and on disk,
before and after, bytes, seconds) go to the run record. A commit that conflicts
with a concurrent writer (a stream MERGE) is retried `retries` times; a table
that still fails is reported, the other tables are maintained, and the run
fails naming it.
"""

from __future__ import annotations

import time
from typing import Any

from delta import exceptions as delta_errors
from delta.tables import DeltaTable
from pydantic import Field, ValidationInfo, field_validator

from lakecore.config import JobConfig, StrictModel
from lakecore.io import hadoop_path, split_name
from lakecore.job import JobContext, JobSpec

RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
DEFAULT_RETENTION_HOURS = 168


class MaintainParams(StrictModel):
    # Tables to maintain (layer.table); empty = every Delta table under the lake root.
    tables: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    optimize: bool = True
    # table -> columns to Z-order by when it is optimized (others are bin-packed).
    zorder: dict[str, list[str]] = Field(default_factory=dict)
    vacuum: bool = True
    allow_short_retention: bool = False
    vacuum_retention_hours: float = Field(default=DEFAULT_RETENTION_HOURS, ge=0)
    retries: int = Field(default=2, ge=0)
    # Tables maintained at once: small tables are driver-bound (listing, commits).
    parallel_tables: int = Field(default=2, ge=1)

    @field_validator("tables", "exclude")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            split_name(name)  # ValueError naming the bad table name
        return names

    @field_validator("zorder")
    @classmethod
    def _zorder(cls, zorder: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, cols in zorder.items():
            split_name(name)
            if not cols:
                raise ValueError(f"{name}: give at least one column")
        return zorder

    @field_validator("vacuum_retention_hours")
    @classmethod
    def _retention(cls, hours: float, info: ValidationInfo) -> float:
        if hours < DEFAULT_RETENTION_HOURS and not info.data.get("allow_short_retention"):
            raise ValueError(
                f"{hours} h is below Delta's {DEFAULT_RETENTION_HOURS} h: time travel and "
                "streams lagging further back break; set allow_short_retention: true if intended"
            )
        return hours


class MaintainConfig(JobConfig):
    maintain_tables: MaintainParams


def data_files_on_disk(ctx: JobContext, name: str) -> tuple[int, int]:
    """(files, bytes) under the table's folder but outside its _delta_log: data files,
    deletion vectors, change data; one summary call each, not a call per file."""
    base, fs = hadoop_path(ctx.spark, ctx.lake.path(name))
    whole = fs.getContentSummary(base)
    log = fs.getContentSummary(hadoop_path(ctx.spark, ctx.lake.path(name) + "/_delta_log")[0])
    return whole.getFileCount() - log.getFileCount(), whole.getLength() - log.getLength()


def table_files(table: DeltaTable) -> tuple[int, int]:
    """(files, bytes) of the table's current version."""
    row = table.detail().select("numFiles", "sizeInBytes").first()
    return int(row["numFiles"]), int(row["sizeInBytes"])


# A Delta commit lost to a concurrent writer: retrying may succeed (no common base class).
CONFLICTS = (
    delta_errors.ConcurrentAppendException,
    delta_errors.ConcurrentDeleteDeleteException,
    delta_errors.ConcurrentDeleteReadException,
    delta_errors.ConcurrentTransactionException,
    delta_errors.ConcurrentWriteException,
    delta_errors.DeltaConcurrentModificationException,
    delta_errors.MetadataChangedException,
    delta_errors.ProtocolChangedException,
)


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, CONFLICTS)


def maintain_one(ctx: JobContext, name: str) -> dict[str, Any]:
    p = ctx.job.maintain_tables
    t0 = time.monotonic()
    table = DeltaTable.forPath(ctx.spark, ctx.lake.path(name))
    before, disk_before = table_files(table), data_files_on_disk(ctx, name)
    t1 = time.monotonic()
    if p.optimize:
        builder = table.optimize()
        if p.zorder.get(name):
            builder.executeZOrderBy(*p.zorder[name])
        else:
            builder.executeCompaction()
    t2 = time.monotonic()
    if p.vacuum:
        table.vacuum(p.vacuum_retention_hours)
    t3 = time.monotonic()
    after, disk_after = table_files(table), data_files_on_disk(ctx, name)
    counts = {
        "files": [before[0], after[0]],
        "bytes": [before[1], after[1]],
        "files_on_disk": [disk_before[0], disk_after[0]],
        "bytes_on_disk": [disk_before[1], disk_after[1]],
        "optimize_s": round(t2 - t1, 2),
        "vacuum_s": round(t3 - t2, 2),
        "seconds": round(time.monotonic() - t0, 2),
    }
    ctx.log.info(
        "maintain_tables: %s: %d -> %d files in the table, %d -> %d files on disk "
        "(optimize %.1f s, vacuum %.1f s)",
        name,
        before[0],
        after[0],
        disk_before[0],
        disk_after[0],
        counts["optimize_s"],
        counts["vacuum_s"],
    )
    return counts


def with_retries(ctx: JobContext, name: str) -> dict[str, Any]:
    retries = ctx.job.maintain_tables.retries
    for attempt in range(retries + 1):
        try:
            return maintain_one(ctx, name)
        except Exception as exc:
            if attempt == retries or not is_conflict(exc):
                raise
            ctx.log.warning(
                "maintain_tables: %s: concurrent commit (%s), retry %d of %d",
                name,
                type(exc).__name__,
                attempt + 1,
                retries,
            )
            time.sleep(2 ** (attempt + 1))
    raise AssertionError("unreachable")


def tables_to_maintain(ctx: JobContext) -> list[str]:
    p = ctx.job.maintain_tables
    present = ctx.lake.tables()
    missing = [t for t in p.tables if t not in present]
    if missing:
        raise ValueError(f"maintain_tables.tables: no Delta table {missing} under {ctx.lake.root}")
    absent = [t for t in p.zorder if t not in present]
    if absent:  # not an error: a lake without streams has no book yet
        ctx.log.warning("maintain_tables: zorder names tables not in this lake: %s", absent)
    return [t for t in dict.fromkeys(p.tables or present) if t not in set(p.exclude)]


def run(ctx: JobContext) -> None:
    p = ctx.job.maintain_tables
    names = tables_to_maintain(ctx)
    done: dict[str, Any] = {}
    failed: dict[str, str] = {}
    ctx.run.extra["maintained"] = done
    ctx.run.extra["failed"] = failed
    short = p.vacuum and p.vacuum_retention_hours < DEFAULT_RETENTION_HOURS
    before = ctx.spark.conf.get(RETENTION_CHECK, None)

    def step(name: str):
        def work() -> None:
            # Never raises: one table's failure must not leave the others unmaintained.
            try:
                done[name] = with_retries(ctx, name)
            except Exception as exc:  # recorded, logged, raised after every table
                failed[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                ctx.log.error("maintain_tables: %s failed: %s", name, failed[name])

        return work

    ctx.log.info("maintain_tables: %d table(s) under %s", len(names), ctx.lake.root)
    try:
        if short:  # validated: allow_short_retention is set. Delta has no per-call switch,
            ctx.spark.conf.set(RETENTION_CHECK, "false")  # so the session's, restored below.
        ctx.steps([(n, step(n)) for n in names], parallel=p.parallel_tables)
    finally:
        if short and before is None:
            ctx.spark.conf.unset(RETENTION_CHECK)
        elif short:
            ctx.spark.conf.set(RETENTION_CHECK, before)
    if failed:
        raise RuntimeError(f"maintain_tables: {len(failed)} table(s) failed: {failed}")


SPEC = JobSpec(
    name="maintain_tables",
    description="OPTIMIZE (compaction, Z-order) and VACUUM of the lake's Delta tables",
    config_model=MaintainConfig,
    run=run,
    reads=("every Delta table under the lake root (or maintain_tables.tables)",),
    writes=("the same tables: compacted files, unreferenced files deleted",),
    in_demo=False,
)
