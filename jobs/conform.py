"""conform: bronze -> silver, the canonical tables every pipeline reads.

Incremental: each silver table takes only its bronze table's changes since the
last conform (Delta change data feed; the bronze version reached is kept in
`ops.conform_state`) and MERGEs them on the table's keys, so a run costs what
arrived, and a table whose bronze did not change is not written at all. Rows
that a job writes into silver and no source lands (the reconciliation's ledger
adjustments, `job_owned_rows` in catalog.tables) are never touched.
`--full-refresh` rebuilds the tables from bronze whole; so does the first run,
and a run whose recorded version the change feed no longer covers.
`--tables a,b` conforms only those tables (each DAG conforms its own).

Silver drops lineage columns and reports referential gaps (e.g. Olist order
items whose order is missing from the partial orders extracts): they are
real sales, so they are kept, counted and recorded, never dropped silently.
The gaps are counted among the rows a run conformed (all of them on a full
refresh), so that check too costs what arrived.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from pydantic import Field, field_validator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from catalog.tables import TABLES
from lakecore.config import JobConfig, StrictModel
from lakecore.io import latest_changes, latest_per_key
from lakecore.job import JobContext, JobSpec, RunOptions

STATE = "ops.conform_state"
STATE_SCHEMA = T.StructType(
    [
        T.StructField("table", T.StringType(), False),
        T.StructField("bronze_version", T.LongType(), False),
        # Delta's table id: a bronze table deleted and re-created restarts its versions.
        T.StructField("bronze_id", T.StringType(), True),
        T.StructField("mode", T.StringType(), False),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("conformed_at", T.TimestampType(), False),
    ]
)

# (child table, parent table, join keys): children whose parent row is missing.
REFERENCES = (
    ("order_items", "orders", ("order_id",)),
    ("payments", "orders", ("order_id",)),
    ("reviews", "orders", ("order_id",)),
    ("order_items", "sellers", ("seller_id",)),
    ("inventory_events", "locations", ("location_id",)),
    ("inventory_counts", "locations", ("location_id",)),
)


class ConformParams(StrictModel):
    # Tables conformed at once (1 = one after the other).
    parallel_tables: int = Field(2, ge=1)


class ConformConfig(JobConfig):
    conform: ConformParams = ConformParams()


class ConformOptions(RunOptions):
    tables: str | None = Field(
        None, description="comma-separated silver tables to conform (default: every bronze table)"
    )
    full_refresh: bool = Field(False, description="rebuild the silver tables from bronze whole")

    @field_validator("tables")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        unknown = [t for t in (value or "").split(",") if t and t not in TABLES]
        if unknown:
            raise ValueError(f"unknown tables {unknown}; canonical tables: {', '.join(TABLES)}")
        return value

    def table_list(self) -> list[str] | None:
        return [t for t in self.tables.split(",") if t] if self.tables else None


def last_conformed(ctx: JobContext) -> dict[str, tuple[int, str | None]]:
    """table -> (bronze version, bronze table id) its silver table was last conformed to."""
    if not ctx.lake.exists(STATE):
        return {}
    state = ctx.lake.read(STATE)
    if "bronze_id" not in state.columns:  # state written before ids were kept
        state = state.withColumn("bronze_id", F.lit(None).cast("string"))
    rows = latest_per_key(state, ["table"], F.col("conformed_at").desc()).collect()
    return {r.table: (r.bronze_version, r.bronze_id) for r in rows}


def full_refresh(ctx: JobContext, t: str) -> int:
    """silver.<t> = bronze.<t>, plus the job-owned rows it already holds."""
    schema, silver = TABLES[t], f"silver.{t}"
    df = ctx.lake.read(f"bronze.{t}").select(*schema.names)
    if schema.job_owned_rows and ctx.lake.exists(silver):
        return ctx.lake.overwrite_where(
            df.where(f"NOT ({schema.job_owned_rows})"), silver, f"NOT ({schema.job_owned_rows})"
        )
    return ctx.lake.overwrite(df, silver)


def conform_table(
    ctx: JobContext,
    t: str,
    state: dict[str, tuple[int, str | None]],
    done: list[tuple],
    arrived: dict[str, DataFrame | None],
) -> None:
    """Bring silver.<t> up to bronze.<t>; its state row goes to `done` (written by run()).

    `arrived[t]` is what the run conformed: the changed rows, or None for all of silver.<t>.
    """
    bronze, silver = f"bronze.{t}", f"silver.{t}"
    last, last_id = state.get(t, (None, None))
    table_id = ctx.lake.table_id(bronze)
    recreated = last is not None and last_id is not None and last_id != table_id
    full = ctx.options.full_refresh or last is None or recreated or not ctx.lake.exists(silver)
    if full:  # from this version on, bronze's changes are recorded for the next run
        ctx.lake.ensure_change_feed(bronze)
    version = ctx.lake.version(bronze)
    assert version is not None
    if last is not None and last > version:  # versions went back: a re-created table
        full = True
    mode = "full"
    if full:
        n = full_refresh(ctx, t)
        ctx.lake.ensure_change_feed(silver)  # dated jobs read silver's changes (late rows)
        ctx.run.add(silver, read=n, written=n)
        arrived[t] = None
    elif last == version:
        ctx.log.info("conform: %s: no change since bronze version %d", silver, version)
        ctx.run.add(silver)
        return
    else:
        try:
            changes = ctx.lake.changes(bronze, last, version)
            delta = latest_changes(changes, TABLES[t].keys).select(*TABLES[t].names, "_is_delete")
            n = ctx.lake.apply_changes(delta, silver, TABLES[t].keys)
            mode = f"changes ({last}, {version}]"
            arrived[t] = delta.where(~F.col("_is_delete"))
        except Exception as exc:  # the feed does not reach back that far (VACUUM, off then)
            if "change" not in str(exc).lower() and "version" not in str(exc).lower():
                raise
            ctx.log.warning("conform: %s: no change feed from v%d (%s): full refresh", t, last, exc)
            ctx.lake.ensure_change_feed(bronze)
            version = ctx.lake.version(bronze) or version
            n = full_refresh(ctx, t)
            arrived[t] = None
        ctx.run.add(silver, read=n, written=n)
    ctx.run.extra.setdefault("modes", {})[t] = mode
    done.append((t, version, table_id, mode.split(" ")[0], ctx.run.run_id, datetime.now(UTC)))


def report_gaps(ctx: JobContext, arrived: dict[str, DataFrame | None]) -> None:
    """Children this run conformed whose parent row is missing: counted, logged, recorded.

    Only the arrived child rows are checked (a full refresh checks them all) against the
    parent's keys, so a routine run does not re-scan the whole child table; the counts
    run concurrently (`conform.parallel_tables`).
    """
    present = {t for t in TABLES if ctx.lake.exists(f"silver.{t}")}
    gaps: dict[str, int] = {}

    def count(child: str, parent: str, keys: tuple[str, ...]) -> None:
        rows = arrived[child]
        if rows is None:
            rows = ctx.lake.read(f"silver.{child}")
        parents = ctx.lake.read(f"silver.{parent}").select(*keys).distinct()
        orphans = (
            rows.where(F.coalesce(*[F.col(k).isNotNull() for k in keys]))
            .join(parents, on=list(keys), how="left_anti")
            .count()
        )
        gaps[f"{child}->{parent}"] = orphans
        if orphans:
            ctx.log.warning(
                "conform: %d silver.%s rows have no matching silver.%s row (kept)",
                orphans,
                child,
                parent,
            )

    ctx.steps(
        [
            (f"referential gaps {child} -> {parent}", partial(count, child, parent, keys))
            for child, parent, keys in REFERENCES
            if child in arrived and child in present and parent in present
        ],
        parallel=ctx.job.conform.parallel_tables,
    )
    ctx.run.extra["orphans"] = dict(sorted(gaps.items()))


def run(ctx: JobContext) -> None:
    wanted = ctx.options.table_list() or list(TABLES)
    present = [t for t in wanted if ctx.lake.exists(f"bronze.{t}")]
    state = {} if ctx.options.full_refresh else last_conformed(ctx)
    done: list[tuple] = []
    arrived: dict[str, DataFrame | None] = {}
    try:
        ctx.steps(
            [
                (
                    f"bronze.{t} -> silver.{t}",
                    partial(conform_table, ctx, t, state, done, arrived),
                )
                for t in present
            ],
            parallel=ctx.job.conform.parallel_tables,
        )
    finally:  # the tables that were conformed, in one commit (also when another failed)
        if done:
            ctx.lake.append(ctx.spark.createDataFrame(done, STATE_SCHEMA), STATE)
    changed = [t for t in present if ctx.run.counts[f"silver.{t}"].written]
    ctx.run.noop = not changed
    report_gaps(ctx, {t: rows for t, rows in arrived.items() if t in changed})


SPEC = JobSpec(
    name="conform",
    description="bronze -> silver canonical tables (changes only), with referential-gap report",
    config_model=ConformConfig,
    run=run,
    reads=("bronze.<table>",),
    writes=("silver.<table>", "ops.conform_state"),
    options_model=ConformOptions,
)
