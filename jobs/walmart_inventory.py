"""walmart_inventory: real Walmart weekly sales -> an inventory ledger and simulated counts.

Reads silver.store_sales (and silver.locations for the store format) as loaded by
`ingest --source walmart` + `conform`, and writes, with transforms.inventory.walmart:

- silver.items             one item per department (ABC by real sales value)
- silver.inventory_events  SALE / RETURN (negative weekly sales) from the real data,
                           plus the simulated opening stock and weekly restocks
- silver.inventory_counts  counts from the seeded shrink simulation
- truth.walmart_shrink     per count: ledger quantity, cumulative simulated shrink

Each is replaced on its own id prefix (`WMD`, `wm:`), so a re-run lands the same
rows and leaves other rows (the reconciliation's `recon:` adjustments) alone.
Then `inventory_reconciliation` runs on it; see README "Inventory reconciliation".
"""

from __future__ import annotations

from pydantic import Field
from pyspark import StorageLevel
from pyspark.sql import functions as F

from catalog.tables import TABLES
from lakecore.config import JobConfig, model_of, to_dataclass
from lakecore.job import JobContext, JobSpec
from transforms.inventory.walmart import (
    ID_PREFIX,
    SKU_PREFIX,
    ShrinkSimParams,
    build_counts,
    build_items,
    build_ledger,
    with_pair_profile,
    with_shrink,
    with_units,
)

TRUTH = "truth.walmart_shrink"


class WalmartInventoryParams(model_of(ShrinkSimParams, exclude=("anchor",))):  # type: ignore[misc]
    # Use only the first `weeks` weeks of the data (all 143 when null): a fast subset.
    weeks: int | None = Field(default=None, ge=1)

    def sim_params(self) -> ShrinkSimParams:
        return to_dataclass(self, ShrinkSimParams)


class WalmartInventoryConfig(JobConfig):
    walmart_inventory: WalmartInventoryParams = WalmartInventoryParams()


def run(ctx: JobContext) -> None:
    section = ctx.job.walmart_inventory
    p = section.sim_params()
    sales = ctx.lake.read("silver.store_sales")
    if section.weeks is not None:
        first = sales.agg(F.min("week_date")).first()[0]
        sales = sales.where(F.datediff("week_date", F.lit(first)) < 7 * section.weeks)
    if ctx.lake.exists("silver.locations"):
        locations = ctx.lake.read("silver.locations")
    else:
        locations = ctx.spark.createDataFrame([], TABLES["locations"].struct)
    units = with_units(sales, p)
    profiled = with_shrink(with_pair_profile(units), p).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        ctx.run.add("silver.store_sales", read=sales.count())
        writes = {
            "silver.items": (build_items(units, p), f"sku LIKE '{SKU_PREFIX}%'"),
            "silver.inventory_events": (build_ledger(profiled, p), f"event_id LIKE '{ID_PREFIX}%'"),
        }
        for name, (df, predicate) in writes.items():
            with ctx.step(f"-> {name}"):
                ctx.run.add(name, written=ctx.lake.overwrite_where(df, name, predicate))
        counts = build_counts(profiled, locations, p)
        with ctx.step(f"-> silver.inventory_counts, {TRUTH}"):
            canonical = counts.select(*TABLES["inventory_counts"].names)
            predicate = f"count_id LIKE '{ID_PREFIX}%'"
            n = ctx.lake.overwrite_where(canonical, "silver.inventory_counts", predicate)
            ctx.run.add("silver.inventory_counts", written=n)
            ctx.run.add(TRUTH, written=ctx.lake.overwrite(counts, TRUTH))
    finally:
        profiled.unpersist()
    ctx.run.extra["simulation"] = {"seed": p.seed, "weeks": section.weeks}


SPEC = JobSpec(
    name="walmart_inventory",
    description="Walmart weekly sales -> department-grain ledger + seeded shrink-simulated counts",
    config_model=WalmartInventoryConfig,
    run=run,
    reads=("silver.store_sales", "silver.locations"),
    writes=("silver.items", "silver.inventory_events", "silver.inventory_counts", TRUTH),
    in_demo=False,
)
