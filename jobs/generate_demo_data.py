"""generate_demo_data: seeded synthetic landing files plus the ground truth.

Writes `<landing>/demo/<table>/` for the 14 canonical tables the demo feeds
(overwritten each run, so a re-run lands the same rows) and the Delta tables
truth.fraudulent_sellers and truth.inventory_drift that tests and notebooks
score the fraud and reconciliation pipelines against. The data is a function
of the seed and the scale knobs only: no wall clock.
"""

from __future__ import annotations

from functools import partial

from pydantic import Field, model_validator
from pyspark import StorageLevel
from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F

from demo_data.generator import (
    ARRIVAL_DAY,
    LANDING_TABLES,
    TRUTH_TABLES,
    DemoParams,
    build_demo_tables,
    with_arrival_day,
)
from lakecore.config import JobConfig, model_of, to_dataclass
from lakecore.job import JobContext, JobSpec

# Formats the ingest job reads by extension; timestamps as text in CSV/JSON.
PARQUET_TABLES = ("order_items", "interactions", "inventory_events")
JSON_TABLES = ("reviews", "after_sales")
SMALL_TABLES = ("sellers", "categories", "locations", "items")  # one file each
# The slowest first (the customers write computes the order plan), so the
# parallel writes finish together.
SLOW_TABLES = ("customers", "inventory_events", "interactions")
WRITE_ORDER = (*SLOW_TABLES, *(t for t in LANDING_TABLES if t not in SLOW_TABLES))
TEXT_OPTIONS = {
    "compression": "gzip",
    "timestampFormat": "yyyy-MM-dd HH:mm:ss",
    "dateFormat": "yyyy-MM-dd",
}


class GenerateDemoDataParams(model_of(DemoParams)):  # type: ignore[misc]
    files_per_table: int = Field(default=2, ge=1)
    parallel_writes: int = Field(default=2, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> GenerateDemoDataParams:
        self.demo_params()  # cross-key rules (e.g. products >= sellers) fail at load
        return self

    def demo_params(self) -> DemoParams:
        return to_dataclass(self, DemoParams)


class GenerateDemoDataConfig(JobConfig):
    generate_demo_data: GenerateDemoDataParams = GenerateDemoDataParams()


def write_landing(
    ctx: JobContext, df: DataFrame, table: str, files: int, by_day: bool = False
) -> int:
    """Overwrite `<landing>/demo/<table>/` whole, or (`by_day`) only the `day=YYYY-MM-DD/`
    folders of the days in `df`, one file each; the row count is observed during the write."""
    path = f"{ctx.cfg.env.lakehouse.landing.rstrip('/')}/demo/{table}"
    rows = Observation(f"rows_{table}")
    observed = df.observe(rows, F.count(F.lit(1)).alias("n"))
    if by_day:
        writer = (
            observed.repartition(ARRIVAL_DAY)
            .write.mode("overwrite")
            .option("partitionOverwriteMode", "dynamic")
            .partitionBy(ARRIVAL_DAY)
        )
    else:
        writer = observed.coalesce(files).write.mode("overwrite")
    if table in PARQUET_TABLES:
        writer.parquet(path)
    elif table in JSON_TABLES:
        writer.options(**TEXT_OPTIONS).json(path)
    else:
        writer.options(**TEXT_OPTIONS).option("header", "true").csv(path)
    try:
        n = int(rows.get["n"])
    except Exception:  # no row reached the write (a day without rows): no metrics either
        n = 0
    ctx.run.add(f"landing.demo/{table}", written=n)
    return n


def run(ctx: JobContext) -> None:
    section = ctx.job.generate_demo_data
    params = section.demo_params()
    bases = {name: ctx.spark.range(n) for name, n in params.range_sizes().items()}
    tables = build_demo_tables(bases, params)
    ctx.run.extra.update({"seed": params.seed, "end_date": str(params.end_date)})
    by_day = ctx.start is not None and ctx.end is not None
    if by_day:
        ctx.log.info("generate_demo_data: the landing files that arrive %s..%s", ctx.start, ctx.end)
        ctx.run.extra["days"] = [str(ctx.start), str(ctx.end)]

    def land(table: str) -> None:
        files = 1 if table in SMALL_TABLES else section.files_per_table
        df = tables.landing[table]
        if by_day:
            df = with_arrival_day(tables.landing, table, params).where(
                F.col(ARRIVAL_DAY).between(F.lit(ctx.start), F.lit(ctx.end))
            )
        n = write_landing(ctx, df, table, files, by_day)
        ctx.log.info("generate_demo_data: demo/%s: %d rows", table, n)

    def record_truth(name: str) -> None:
        ctx.run.add(name, written=ctx.lake.overwrite(tables.truth[name].coalesce(1), name))

    # The order plan feeds 7 landing tables, the ledger the events and the
    # counts, the counts the landed counts and the drift truth: compute each once.
    shared = [df.persist(StorageLevel.MEMORY_AND_DISK) for df in tables.shared.values()]
    # Writes are independent and each spends much of its time planning on the
    # driver: a few at a time keep the cores busy.
    work = [
        *((f"landing demo/{t}", partial(land, t)) for t in WRITE_ORDER),
        *((n, partial(record_truth, n)) for n in TRUTH_TABLES),
    ]
    try:
        ctx.steps(work, parallel=section.parallel_writes)
    finally:
        for df in shared:
            df.unpersist()


SPEC = JobSpec(
    name="generate_demo_data",
    description="seeded synthetic marketplace + store network landing files, and ground truth",
    config_model=GenerateDemoDataConfig,
    run=run,
    reads=(),
    writes=("landing/demo/*", *TRUTH_TABLES),
    # --date D / --start/--end: only the files that arrive on those days, under
    # <table>/day=YYYY-MM-DD/ (the same rows as the whole output, cut by day);
    # without a date: the whole window at once.
    dated=True,
    date_optional=True,
)
