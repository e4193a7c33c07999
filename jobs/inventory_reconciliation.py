"""inventory_reconciliation: book inventory from the ledger against physical counts.

For each logical date D (`--date D`, or each day of `--start/--end` in order)
the run sees the ledger as it had arrived by midnight after D (`ingested_at`)
and the counts up to then. It replays the book at each count from the last
reconciled snapshot (transforms.inventory.replay), re-reconciles counts hit by
late events, classifies MATCH / SHRINK / OVERAGE with the tolerance of the
item's ABC class, and publishes behind Great Expectations gates:

- gold.inventory_discrepancies   MERGE on count_id
- gold.inventory_adjustments     replaceWhere on the count days touched; the same
  ADJUSTMENT events are MERGEd into silver.inventory_events on `recon:<count_id>`
- gold.inventory_alerts, gold.inventory_accuracy   replaceWhere on those days
- gold.inventory_book_snapshot   MERGE on count_id, written last: a run that
  fails before it is redone whole by the re-run.

A re-run of the same date finds nothing new and rewrites nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import Field, model_validator
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from catalog.tables import ABC_CLASSES, RECON_ROWS, TABLES
from lakecore.config import JobConfig, StrictModel, model_of, to_dataclass
from lakecore.job import JobContext, JobSpec
from lakecore.quality import Check
from transforms.common.quarantine import quarantine_rows
from transforms.inventory.accuracy import GRAINS, build_accuracy
from transforms.inventory.ledger import rejected_events, replay_events
from transforms.inventory.outputs import (
    ALERT_TYPES,
    SNAPSHOT_SCHEMA,
    adjustments_as_events,
    build_adjustments,
    build_alerts,
    build_discrepancies,
    build_snapshot_rows,
    with_current_flag,
)
from transforms.inventory.replay import reconcile, with_count_errors
from transforms.inventory.tolerance import STATUSES, Tolerance

NAME = "inventory_reconciliation"
EVENTS, COUNTS, ITEMS = "silver.inventory_events", "silver.inventory_counts", "silver.items"
SNAPSHOT = "gold.inventory_book_snapshot"
DISCREPANCIES = "gold.inventory_discrepancies"
ADJUSTMENTS = "gold.inventory_adjustments"
ACCURACY = "gold.inventory_accuracy"
ALERTS = "gold.inventory_alerts"
QUARANTINE = "quarantine.inventory_reconciliation"
# The ledger rows this job owns (catalog.tables.RECON_ROWS: a range, so that Delta
# skips every file whose event_id min/max statistics lie outside it).
OWN_ROWS = RECON_ROWS
OWN_LEDGER_ROWS = RECON_ROWS.replace("event_type", "t.event_type").replace("event_id", "t.event_id")


ToleranceConfig = model_of(Tolerance)


class ReconciliationParams(StrictModel):
    tolerances: dict[str, ToleranceConfig]  # type: ignore[valid-type]
    top_drifting_skus: int = Field(default=10, ge=1)
    broadcast_max_pairs: int = Field(default=1_000_000, ge=0)

    @model_validator(mode="after")
    def _every_class(self) -> ReconciliationParams:
        if set(self.tolerances) != set(ABC_CLASSES):
            raise ValueError(f"tolerances must name exactly {list(ABC_CLASSES)}")
        return self

    def tolerance_map(self) -> dict[str, Tolerance]:
        return {k: to_dataclass(v, Tolerance) for k, v in self.tolerances.items()}


class InventoryReconciliationConfig(JobConfig):
    inventory_reconciliation: ReconciliationParams


def read_silver(ctx: JobContext, name: str) -> DataFrame:
    df = ctx.lake.read(name)
    names = TABLES[name.split(".", 1)[1]].names
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {missing}; present: {df.columns}")
    return df.select(*names)


def default_date(ctx: JobContext) -> date:
    """The latest day anything arrived: an event's ingestion or a count."""
    events = read_silver(ctx, EVENTS)

    # max(arrival()) in two parts: the max of one column, and the event time of rows
    # never ingested, for which Delta skips every file whose null count says it has
    # none. On the 10M-event benchmark ledger: 1.6 s, against 3.8 s for one expression
    # over both columns (cold session; 11 s inside the job, beside its other queries).
    def last_day(df: DataFrame, column: str) -> date | None:
        return df.agg(F.max(column).alias("m")).select(F.to_date("m")).first()[0]

    parts = (
        last_day(events, "ingested_at"),
        last_day(events.where(F.col("ingested_at").isNull()), "event_ts"),
    )
    ev = max((d for d in parts if d is not None), default=None)
    ct = read_silver(ctx, COUNTS).agg(F.max(F.to_date("count_ts"))).first()[0]
    days = [d for d in (ev, ct) if d is not None]
    if not days:
        raise ValueError(f"{EVENTS} and {COUNTS} have no dated rows: nothing to reconcile")
    return max(days)


def _in_days(column: str, days: list[date]) -> str:
    return f"{column} IN ({', '.join(repr(str(d)) for d in days)})"


def sync_ledger(ctx: JobContext) -> None:
    """The ledger's `recon:` rows become exactly gold.inventory_adjustments (MERGE on the
    count's event id, then own rows whose adjustment is gone are deleted), after every
    change of the adjustments; `conform` leaves these rows alone (catalog `job_owned_rows`).

    Two statements rather than one MERGE with WHEN NOT MATCHED BY SOURCE: Delta skips
    the files of other events for a MERGE whose condition bounds the target (the job's
    id range), but reads the whole ledger for a NOT MATCHED BY SOURCE clause.
    """
    if not ctx.lake.exists(ADJUSTMENTS):
        return
    with ctx.step(f"MERGE adjustments into {EVENTS}"):
        ledger = adjustments_as_events(ctx.lake.read(ADJUSTMENTS))
        n = ctx.lake.merge(
            ledger, EVENTS, ["event_id"], changed_only=True, target_filter=OWN_LEDGER_ROWS
        )
        ctx.run.add(f"{EVENTS} (adjustments)", written=n)
        # Own rows whose count was since reconciled within tolerance (or re-keyed).
        gone = (
            ctx.lake.read(EVENTS)
            .where(OWN_ROWS)
            .select("event_id")
            .join(ledger.select("event_id"), "event_id", "left_anti")
        )
        if not gone.isEmpty():
            ctx.lake.delete_keys(gone, EVENTS, ["event_id"], target_filter=OWN_LEDGER_ROWS)


def publish_day_slices(ctx: JobContext, days: list[date]) -> None:
    """Adjustments, ledger, alerts and accuracy of the count days this run touched."""
    section = ctx.job.inventory_reconciliation
    day_slice = ctx.lake.read(DISCREPANCIES).where(_in_days("count_date", days))
    adjustments = build_adjustments(day_slice)
    ctx.gate(adjustments, ADJUSTMENTS, [
        Check.unique("count_id"), Check.unique("event_id"), Check.not_null("quantity"),
        Check.in_set("status", STATUSES[1:]), Check.in_set("event_type", ["ADJUSTMENT"]),
    ])  # fmt: skip
    n = ctx.lake.overwrite_where(adjustments, ADJUSTMENTS, _in_days("count_date", days))
    ctx.run.add(ADJUSTMENTS, written=n)
    sync_ledger(ctx)
    alerts = build_alerts(day_slice)
    ctx.gate(alerts, ALERTS, [
        Check.unique("count_id", "alert_type"), Check.in_set("alert_type", ALERT_TYPES),
    ])  # fmt: skip
    ctx.run.add(
        ALERTS, written=ctx.lake.overwrite_where(alerts, ALERTS, _in_days("alert_date", days))
    )
    accuracy = build_accuracy(day_slice, section.top_drifting_skus)
    ctx.gate(accuracy, ACCURACY, [
        Check.unique("metric_date", "grain", "grain_key"), Check.in_set("grain", GRAINS),
        Check.not_null("accuracy"), Check.between("accuracy", 0, 1),
        Check.between("counts", 1, None), Check.between("shrink_units", 0, None),
    ])  # fmt: skip
    n = ctx.lake.overwrite_where(accuracy, ACCURACY, _in_days("metric_date", days))
    ctx.run.add(ACCURACY, written=n)


def publish_snapshot(ctx: JobContext, reconciled: DataFrame, history: DataFrame, stamp) -> None:
    """The recomputed states, and `is_current` moved within the pairs they touch."""
    rows = build_snapshot_rows(reconciled, *stamp)
    kept = history.join(
        rows.select("location_id", "sku").distinct(), ["location_id", "sku"], how="left_semi"
    ).join(rows.select("count_id"), on="count_id", how="left_anti")
    snapshot = with_current_flag(kept.unionByName(rows))
    ctx.gate(snapshot, SNAPSHOT, [
        Check.unique("count_id"), Check.not_null("is_current"), Check.not_null("on_hand"),
        Check.between("reserved", 0, None, critical=False, name="reserved stock not negative"),
    ])  # fmt: skip
    ctx.run.add(
        SNAPSHOT, written=ctx.lake.merge(snapshot, SNAPSHOT, ["count_id"], changed_only=True)
    )


def quarantine(ctx: JobContext, events: DataFrame, counts: DataFrame) -> int:
    bad_events = quarantine_rows(rejected_events(events), "inventory_events", ["event_id"], NAME)
    bad_counts = quarantine_rows(
        counts.where(F.size("reasons") > 0).select(*TABLES["inventory_counts"].names, "reasons"),
        "inventory_counts",
        ["count_id"],
        NAME,
    )
    bad = bad_events.unionByName(bad_counts).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        n = bad.count()
        if n:
            ctx.lake.merge(bad, QUARANTINE, ["table", "record_key"], changed_only=True)
    finally:
        bad.unpersist()
    return n


def broadcastable(ctx: JobContext, history: DataFrame, counts: DataFrame) -> tuple[bool, bool]:
    """Whether the snapshot's and the counts' per-pair tables are small enough to broadcast
    to the ledger joins (`broadcast_max_pairs` in the job's YAML)."""
    limit = ctx.job.inventory_reconciliation.broadcast_max_pairs
    pairs = [df.select("location_id", "sku").distinct().count() for df in (history, counts)]
    ctx.run.extra["pairs"] = {"snapshot": pairs[0], "counted": pairs[1]}
    return pairs[0] <= limit, pairs[1] <= limit


def reconcile_day(ctx: JobContext, day: date) -> None:
    cutoff: Column = F.lit(f"{day + timedelta(days=1)} 00:00:00").cast("timestamp")
    stamp = (cutoff, F.lit(str(day)).cast("date"))
    events = read_silver(ctx, EVENTS)
    counts = with_count_errors(
        read_silver(ctx, COUNTS).where((F.col("count_ts") < cutoff) | F.col("count_ts").isNull()),
        read_silver(ctx, ITEMS),
        ctx.job.inventory_reconciliation.tolerance_map(),
    )
    history = (
        ctx.lake.read(SNAPSHOT)
        if ctx.lake.exists(SNAPSHOT)
        else ctx.spark.createDataFrame([], SNAPSHOT_SCHEMA)
    )
    replay = replay_events(events, cutoff).persist(StorageLevel.MEMORY_AND_DISK)
    reconciled = None
    try:
        with ctx.step(f"{day}: replay the ledger up to {day + timedelta(days=1)}"):
            valid = counts.where(F.size("reasons") == 0).drop("reasons")
            # Materialized without lineage: the ledger MERGE below rewrites silver, and
            # Delta then drops every cached plan that reads it, which would replay the
            # whole ledger again for the snapshot.
            reconciled = reconcile(
                replay, valid, history, broadcastable(ctx, history, valid)
            ).localCheckpoint(eager=True)
            n = reconciled.count()
            ctx.run.extra.setdefault("events_replayed", {})[str(day)] = replay.count()
        n_bad = quarantine(ctx, events, counts)
        ctx.run.add(DISCREPANCIES, read=n + n_bad, quarantined=n_bad)
        if n == 0:
            ctx.log.info("%s: %s: no new count and no late event: nothing to reconcile", NAME, day)
            ctx.run.add(DISCREPANCIES, written=0)
            return
        discrepancies = build_discrepancies(reconciled, *stamp)
        ctx.gate(discrepancies, DISCREPANCIES, [
            Check.not_null("count_id"), Check.unique("count_id"), Check.not_null("location_id"),
            Check.not_null("sku"), Check.not_null("status"), Check.in_set("status", STATUSES),
            Check.between("counted_qty", 0, None), Check.not_null("book_qty"),
            Check.row_count_equals(n, name="one row per count reconciled"),
        ])  # fmt: skip
        ctx.lake.merge(discrepancies, DISCREPANCIES, ["count_id"], changed_only=True)
        ctx.run.add(DISCREPANCIES, written=n)
        days = sorted(r[0] for r in discrepancies.select("count_date").distinct().collect())
        ctx.run.extra.setdefault("count_days_touched", {})[str(day)] = [str(d) for d in days]
        publish_day_slices(ctx, days)
        publish_snapshot(ctx, reconciled, history, stamp)
    finally:
        replay.unpersist()
        if reconciled is not None:
            reconciled.unpersist()
    ctx.run.check_balanced(DISCREPANCIES)


def run(ctx: JobContext) -> None:
    for day in ctx.dates():
        reconcile_day(ctx, day)


SPEC = JobSpec(
    name=NAME,
    description="book inventory replayed from the ledger vs counts: discrepancies, adjustments, accuracy",
    config_model=InventoryReconciliationConfig,
    run=run,
    reads=(EVENTS, COUNTS, ITEMS, SNAPSHOT),
    writes=(
        DISCREPANCIES,
        ADJUSTMENTS,
        EVENTS,  # its own ADJUSTMENT rows
        ALERTS,
        ACCURACY,
        SNAPSHOT,
        QUARANTINE,
    ),
    dated=True,
    default_date=default_date,
)
