"""Incremental runs equal a full refresh, and a run with nothing new writes nothing.

Landing files arrive day by day (the generator's `--start/--end` output, one
`day=` folder per day): all days up to the first run at once but that day's
reviews, then the last day with those late reviews and one order-lines file
delivered twice under another name. Each arrival runs ingest ->
conform -> seller_risk_features -> inventory_reconciliation for that day. A second lake is built from scratch on
the same final files in one pass (`--start/--end`); every silver and gold table
must be equal row for row.

Sized for the suite: 1,500 orders over 20 days, 40 SKUs in 5 locations, two
arrivals, a re-run and the full refresh, all in the test session's Spark.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakecore.io import Lakehouse
from tests.conftest import run_cli

pytestmark = pytest.mark.integration

END = date(2025, 6, 30)
FIRST_RUN = END - timedelta(days=1)
SCALE = [
    "generate_demo_data.orders=1500",
    "generate_demo_data.customers=400",
    "generate_demo_data.products=150",
    "generate_demo_data.sellers=30",
    "generate_demo_data.days=20",
    "generate_demo_data.burst_days=5",
    "generate_demo_data.skus=40",
    "generate_demo_data.stores=4",
    "generate_demo_data.dcs=1",
    "generate_demo_data.inventory_days=10",
    "generate_demo_data.views_per_purchase=1",
    "generate_demo_data.carts_per_purchase=1",
]
GOLD = (
    "gold.seller_risk_features",
    "gold.seller_orders",  # kept from the change feeds by the daily runs, rebuilt by the full one
    "gold.inventory_discrepancies",
    "gold.inventory_adjustments",
    "gold.inventory_accuracy",
    "gold.inventory_alerts",
    "gold.inventory_book_snapshot",
)


def arrive(source: Path, target: Path, day: date, skip: tuple[str, ...] = ()) -> None:
    """Copy every table's files of `day` from the generated landing to the arriving one."""
    for folder in sorted(source.glob(f"demo/*/day={day}")):
        if folder.parent.name not in skip:
            shutil.copytree(folder, target / folder.relative_to(source))


# What the two dated jobs read (interactions, payments and categories feed neither).
TABLES = "sellers,customers,products,orders,order_items,reviews,after_sales," + (
    "locations,items,inventory_events,inventory_counts"
)


def pipeline(lake: Path, landing: Path, *dates: str) -> None:
    ingest = ["ingest", "--source", "demo", "--tables", TABLES]
    assert run_cli(lake, "run", *ingest, landing=landing) == 0
    assert run_cli(lake, "run", "conform", landing=landing) == 0
    assert run_cli(lake, "run", "seller_risk_features", *dates) == 0
    assert run_cli(lake, "run", "inventory_reconciliation", *dates) == 0


def versions(lake: Lakehouse) -> dict[str, int | None]:
    return {t: lake.version(t) for t in lake.tables() if t.split(".")[0] in ("silver", "gold")}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("incremental")
    landing = root / "generated"
    sets = [f"--set={s}" for s in SCALE]
    args = ["--start", str(END - timedelta(days=19)), "--end", str(END)]
    assert (
        run_cli(root / "genlake", "run", "generate_demo_data", *args, *sets, landing=landing) == 0
    )
    return landing


def _read(spark, folder: Path):
    """A landing folder as written (its `day=` folders become a `day` column)."""
    names = [f.name for f in folder.rglob("part-*")]
    if any(n.endswith(".parquet") for n in names):
        return spark.read.parquet(str(folder))
    if any(".json" in n for n in names):
        return spark.read.json(str(folder))
    return spark.read.option("header", "true").csv(str(folder))


def test_generator_by_day_gives_the_same_rows_as_at_once(spark, generated, tmp_path):
    whole = tmp_path / "whole"
    sets = [f"--set={s}" for s in SCALE]
    assert run_cli(tmp_path / "lake", "run", "generate_demo_data", *sets, landing=whole) == 0
    for table in _tables(generated):
        want = _read(spark, whole / "demo" / table)
        got = _read(spark, generated / "demo" / table)
        assert "day" in got.columns and "day" not in want.columns, table
        got = got.select(*want.columns)
        assert got.count() == want.count() > 0, table
        assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True)


def comparable(df):
    """Maps as sorted entry arrays: Spark cannot sort or hash a map column."""
    maps = [f.name for f in df.schema.fields if isinstance(f.dataType, T.MapType)]
    return df.withColumns({c: F.array_sort(F.map_entries(c)) for c in maps})


def test_incremental_days_equal_a_full_refresh(spark, generated, tmp_path):
    inc_lake, inc_landing = tmp_path / "inc" / "lake", tmp_path / "inc" / "landing"
    # Everything up to the first run's day arrives at once, but that day's reviews.
    late = FIRST_RUN
    day = END - timedelta(days=19)
    while day <= FIRST_RUN:
        arrive(generated, inc_landing, day, skip=("reviews",) if day == late else ())
        day += timedelta(days=1)
    pipeline(inc_lake, inc_landing, "--date", str(FIRST_RUN))

    # The next day, and the late reviews.
    arrive(generated, inc_landing, END)
    arrive(
        generated, inc_landing, late, skip=tuple(t for t in _tables(generated) if t != "reviews")
    )
    # The same order lines delivered again under another file name.
    (original,) = (inc_landing / "demo" / "order_items" / f"day={late}").glob("part-*")
    shutil.copy(original, original.with_name("again-" + original.name))
    pipeline(inc_lake, inc_landing, "--date", str(END))

    incremental = Lakehouse(spark, str(inc_lake))
    # The late reviews belong to `late`: the last day's run recomputed from there.
    last = incremental.read("ops.job_runs").where("job = 'seller_risk_features'")
    extra = json.loads(last.orderBy("ended_at").collect()[-1].table_counts)["_extra"]
    assert extra["recomputed_from"] == str(late)
    # Its seller-orders came from silver's changes (the day's orders, the late lines'),
    # not from all of silver; the comparison below checks them against a rebuild.
    assert extra["seller_orders_refresh"]["mode"] == "incremental"
    assert extra["seller_orders_refresh"]["orders_changed"] > 0
    # A second run of the day finds nothing new: no table gets a new version.
    before = versions(incremental)
    pipeline(inc_lake, inc_landing, "--date", str(END))
    assert versions(incremental) == before
    runs = incremental.read("ops.job_runs").orderBy("ended_at").collect()[-4:]
    assert [(r.job, r.status) for r in runs] == [
        ("ingest", "NO_OP"),
        ("conform", "NO_OP"),
        ("seller_risk_features", "NO_OP"),
        ("inventory_reconciliation", "NO_OP"),
    ]

    full_lake = tmp_path / "full" / "lake"
    pipeline(full_lake, inc_landing, "--start", str(FIRST_RUN), "--end", str(END))
    full = Lakehouse(spark, str(full_lake))

    silver = full.tables("silver")
    assert silver == incremental.tables("silver") and len(silver) >= 10
    for table in [*silver, *GOLD]:
        want = comparable(full.read(table))
        got = comparable(incremental.read(table)).select(*want.columns)
        assert_df_equality(got, want, ignore_row_order=True, ignore_nullable=True)
    for table in ("silver.reviews", "gold.seller_risk_features", "gold.inventory_discrepancies"):
        assert full.read(table).count() > 0, table


def _tables(generated: Path) -> list[str]:
    return sorted(p.name for p in (generated / "demo").iterdir())
