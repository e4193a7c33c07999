"""conform: bronze -> silver, the canonical tables every pipeline reads.

Silver drops lineage columns and reports referential gaps (e.g. Olist order
items whose order is missing from the partial orders extracts): they are
real sales, so they are kept, counted and recorded, never dropped silently.
"""

from __future__ import annotations

from functools import partial

from pydantic import Field, field_validator
from pyspark.sql import functions as F

from catalog.tables import TABLES
from lakecore.config import JobConfig, StrictModel
from lakecore.job import JobContext, JobSpec, RunOptions

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

    @field_validator("tables")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        unknown = [t for t in (value or "").split(",") if t and t not in TABLES]
        if unknown:
            raise ValueError(f"unknown tables {unknown}; canonical tables: {', '.join(TABLES)}")
        return value

    def table_list(self) -> list[str] | None:
        return [t for t in self.tables.split(",") if t] if self.tables else None


def conform_table(ctx: JobContext, t: str) -> None:
    df = ctx.lake.read(f"bronze.{t}").select(*TABLES[t].names)
    n = ctx.lake.overwrite(df, f"silver.{t}")
    ctx.run.add(f"silver.{t}", read=n, written=n)


def run(ctx: JobContext) -> None:
    wanted = ctx.options.table_list() or list(TABLES)
    present = [t for t in wanted if ctx.lake.exists(f"bronze.{t}")]
    ctx.steps(
        [(f"bronze.{t} -> silver.{t}", partial(conform_table, ctx, t)) for t in present],
        parallel=ctx.job.conform.parallel_tables,
    )
    gaps = {}
    for child, parent, keys in REFERENCES:
        if child in present and parent in present:
            parents = ctx.lake.read(f"silver.{parent}").select(*keys).distinct()
            orphans = (
                ctx.lake.read(f"silver.{child}")
                .where(F.coalesce(*[F.col(k).isNotNull() for k in keys]))
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
    ctx.run.extra["orphans"] = gaps


SPEC = JobSpec(
    name="conform",
    description="bronze -> silver canonical tables, with referential-gap report",
    config_model=ConformConfig,
    run=run,
    reads=("bronze.<table>",),
    writes=("silver.<table>",),
    options_model=ConformOptions,
)
