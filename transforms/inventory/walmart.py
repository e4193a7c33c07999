"""Walmart weekly store sales as an inventory ledger, with a seeded shrink simulation.

The real data is dollars per store x department x week; everything else here
is a documented simulation on top of it (seeded: the same parameters give the
same rows):

- SKU = department (`WMD01`..`WMD99`); units = round(|weekly_sales| / unit_price).
  ABC class by the department's total sales value (A up to abc_a_share of the
  total, B up to abc_b_share, the rest C); unit cost = unit_price x cost_ratio.
- Ledger per store-department: an opening RESTOCK of cover_weeks x the pair's peak
  weekly units a week before its first week; each week a SALE (or a RETURN when
  the week's sales are negative: net returns) on the week date at 12:00, landed the
  next night, and a RESTOCK of the units sold on the next day at 06:00.
- Shrink (the truth the counts reveal): each week the pair loses on average
  shrink_rate of the units it sold, times a per-department factor (log-normal,
  sigma dept_spread); with probability incident_probability an incident also
  loses incident_share of its peak weekly units.
- Counts: every count_every_weeks weeks (phase seeded per pair) on the Sunday
  after the week date at 20:00:01 (no event shares the instant), counting the
  physical stock: ledger quantity - cumulative shrink, floored at 0. RFID in
  the store formats listed in rfid_store_formats, cycle counts elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from catalog.tables import UNIT_COST
from transforms.common.seeded import normal, uniform

PAIR = ("location_id", "sku")
SKU_PREFIX = "WMD"
ID_PREFIX = "wm:"


@dataclass(frozen=True)
class ShrinkSimParams:
    """The shrink simulation's knobs (the job's YAML; `metadata` bounds are checked
    when the config is loaded)."""

    seed: int = 7
    unit_price: float = field(default=20.0, metadata={"gt": 0})
    cost_ratio: float = field(default=0.7, metadata={"gt": 0, "le": 1})
    cover_weeks: int = field(default=4, metadata={"ge": 1})
    count_every_weeks: int = field(default=4, metadata={"ge": 1})
    shrink_rate: float = field(default=0.015, metadata={"ge": 0, "le": 1})
    dept_spread: float = field(default=0.5, metadata={"ge": 0})
    incident_probability: float = field(default=0.01, metadata={"ge": 0, "le": 1})
    incident_share: float = field(default=0.2, metadata={"ge": 0})
    abc_a_share: float = field(default=0.8, metadata={"gt": 0, "le": 1})
    abc_b_share: float = field(default=0.95, metadata={"gt": 0, "le": 1})
    rfid_store_formats: tuple[str, ...] = ("A",)
    anchor: date = date(2010, 2, 5)  # a Friday: Walmart's week dates are Fridays


def _at(day: Column, days: int, hms: str) -> Column:
    return F.to_timestamp(F.concat(F.date_add(day, days).cast("string"), F.lit(f" {hms}")))


def with_units(sales: DataFrame, p: ShrinkSimParams) -> DataFrame:
    """Sales rows with `location_id`, `sku`, `week`, `units` and the sale/return split."""
    units = F.round(F.abs(F.col("weekly_sales")) / p.unit_price).cast("long")
    is_return = F.col("weekly_sales") < 0
    return sales.where(F.col("weekly_sales").isNotNull()).select(
        F.col("store_id").alias("location_id"),
        F.concat(F.lit(SKU_PREFIX), F.lpad("dept_id", 2, "0")).alias("sku"),
        "week_date",
        F.floor(F.datediff("week_date", F.lit(p.anchor)) / 7).cast("int").alias("week"),
        F.when(is_return, 0).otherwise(units).cast("long").alias("sold_units"),
        F.when(is_return, units).otherwise(0).cast("long").alias("returned_units"),
        F.col("weekly_sales"),
    )


def build_items(units: DataFrame, p: ShrinkSimParams) -> DataFrame:
    """One item per department; ABC by cumulative share of the total sales value."""
    totals = units.groupBy("sku").agg(F.sum("weekly_sales").alias("sales"))
    ahead = totals.select(F.col("sku").alias("o_sku"), F.col("sales").alias("o_sales"))
    is_ahead = (F.col("o_sales") > F.col("sales")) | (
        (F.col("o_sales") == F.col("sales")) & (F.col("o_sku") < F.col("sku"))
    )
    # Share of the total held by the departments ranked before this one (81 rows: a self-join).
    before = (
        totals.join(ahead, on=is_ahead, how="left")
        .groupBy("sku", "sales")
        .agg(F.coalesce(F.sum(F.greatest("o_sales", F.lit(0))), F.lit(0)).alias("ahead"))
    )
    grand = totals.agg(F.sum(F.greatest("sales", F.lit(0))).alias("total"))
    share = F.col("ahead") / F.col("total")
    klass = (
        F.when(F.col("sales") <= 0, F.lit("C"))
        .when(share < p.abc_a_share, F.lit("A"))
        .when(share < p.abc_b_share, F.lit("B"))
        .otherwise(F.lit("C"))
    )
    return before.crossJoin(grand).select(
        "sku",
        F.concat(F.lit("walmart department "), F.substring("sku", 4, 2)).alias("category"),
        klass.alias("abc_class"),
        F.lit(round(p.unit_price * p.cost_ratio, 2)).cast(UNIT_COST).alias("unit_cost"),
    )


def with_pair_profile(units: DataFrame) -> DataFrame:
    """`peak_units` (the pair's largest weekly sale) and `first_week_date`."""
    pair = Window.partitionBy(*PAIR).rowsBetween(
        Window.unboundedPreceding, Window.unboundedFollowing
    )
    return units.withColumns(
        {
            "peak_units": F.max("sold_units").over(pair),
            "first_week_date": F.min("week_date").over(pair),
        }
    )


def _event(kind: str, etype: str, qty: Column, at: Column, landed: Column, source: str) -> Column:
    event_id = F.concat_ws(
        ":", F.lit("wm"), "location_id", "sku", F.col("week_date").cast("string"), F.lit(kind)
    )
    return F.struct(
        event_id.alias("event_id"),
        F.lit(etype).alias("event_type"),
        qty.cast("long").alias("quantity"),
        F.lit(source).alias("source"),
        at.alias("event_ts"),
        landed.alias("ingested_at"),
    )


def build_ledger(profiled: DataFrame, p: ShrinkSimParams) -> DataFrame:
    """silver.inventory_events rows: opening stock, weekly sale or return, restock."""
    sale_at = _at(F.col("week_date"), 0, "12:00:00")
    restock_at = _at(F.col("week_date"), 1, "06:00:00")
    opening_at = _at(F.col("week_date"), -7, "06:00:00")
    events = F.array(
        F.when(
            F.col("week_date") == F.col("first_week_date"),
            _event("open", "RESTOCK", p.cover_weeks * F.col("peak_units"), opening_at,
                   opening_at + F.expr("INTERVAL 1 HOUR"), "WAREHOUSE"),
        ),
        _event("sale", "SALE", F.col("sold_units"), sale_at, _at(F.col("week_date"), 1, "02:00:00"), "POS"),
        _event("return", "RETURN", F.col("returned_units"), sale_at, _at(F.col("week_date"), 1, "02:00:00"), "POS"),
        _event("restock", "RESTOCK", F.col("sold_units"), restock_at,
               restock_at + F.expr("INTERVAL 1 HOUR"), "WAREHOUSE"),
    )  # fmt: skip
    return (
        profiled.select(*PAIR, F.explode(F.array_compact(events)).alias("e"))
        .where(F.col("e.quantity") > 0)
        .select(
            "e.event_id",
            *PAIR,
            "e.event_type",
            "e.quantity",
            "e.source",
            "e.event_ts",
            "e.ingested_at",
        )
    )


def with_shrink(profiled: DataFrame, p: ShrinkSimParams) -> DataFrame:
    """`shrink_units` lost in the week (randomized rounding keeps small losses unbiased)."""
    key = [*PAIR, "week"]
    dept_factor = F.exp(p.dept_spread * normal(p.seed, "dept_shrink", "sku"))
    expected = F.col("sold_units") * p.shrink_rate * dept_factor
    drawn = 2 * expected * uniform(p.seed, "shrink", *key)
    routine = F.floor(drawn + uniform(p.seed, "shrink_round", *key))
    is_incident = uniform(p.seed, "incident", *key) < p.incident_probability
    incident = F.when(is_incident, F.ceil(p.incident_share * F.col("peak_units"))).otherwise(0)
    return profiled.withColumn("shrink_units", (routine + incident).cast("long"))


def build_counts(shrunk: DataFrame, locations: DataFrame, p: ShrinkSimParams) -> DataFrame:
    """Counts (silver.inventory_counts columns) plus the simulation's truth for each.

    `ledger_qty` is the stock the ledger implies at the count (opening + all sales,
    returns and restocks before it), `cum_shrink_units` what was lost since the start.
    """
    upto = (
        Window.partitionBy(*PAIR)
        .orderBy("week_date")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    # At Sunday's count the week's sale has been restocked: the book moved by returns only.
    ledger_qty = p.cover_weeks * F.col("peak_units") + F.sum("returned_units").over(upto)
    phase = F.floor(uniform(p.seed, "count_phase", *PAIR) * p.count_every_weeks)
    is_count_week = F.pmod(F.col("week") + phase, F.lit(p.count_every_weeks)) == 0
    formats = locations.select(F.col("location_id"), F.col("store_format"))
    method = F.when(F.col("store_format").isin(*p.rfid_store_formats), "RFID").otherwise("CYCLE")
    counted = (
        shrunk.withColumns(
            {"ledger_qty": ledger_qty, "cum_shrink_units": F.sum("shrink_units").over(upto)}
        )
        .where(is_count_week)
        .join(F.broadcast(formats), on="location_id", how="left")
    )
    physical = F.col("ledger_qty") - F.col("cum_shrink_units")
    return counted.select(
        F.concat_ws(":", F.lit("wm"), "location_id", "sku", F.col("week_date").cast("string"), F.lit("count")).alias("count_id"),
        *PAIR,
        F.greatest(physical, F.lit(0)).cast("long").alias("counted_qty"),
        _at(F.col("week_date"), 2, "20:00:01").alias("count_ts"),
        method.alias("method"),
        F.col("ledger_qty").cast("long").alias("ledger_qty"),
        F.col("cum_shrink_units").cast("long").alias("cum_shrink_units"),
        (physical < 0).alias("is_floored"),
    )  # fmt: skip
