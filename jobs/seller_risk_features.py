"""seller_risk_features: silver -> gold.seller_risk_features, one row per active seller per day.

`--date D` or one `--start/--end` backfill: every day of the range in one
set-based pass (transforms.seller_risk.features), written with replaceWhere on the
range's `as_of_date` partitions, so a re-run replaces exactly those days. The
windows read only the events of the range plus its lookback (`lookback_days`).
Without a date: the latest event day in the input, never the clock.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from pydantic import Field, model_validator
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from catalog.tables import TABLES
from lakecore.config import JobConfig, model_of, to_dataclass
from lakecore.io import IS_DELETE
from lakecore.job import JobContext, JobSpec, RunOptions
from lakecore.quality import Check
from lakecore.runs import last_run_extra, last_run_inputs
from transforms.common.skew import hot_keys
from transforms.seller_risk.facts import (
    SELLER_ORDER_COLUMNS,
    build_seller_orders,
    earliest_event_day,
)
from transforms.seller_risk.features import (
    EPOCH,
    active_seller_days,
    build_seller_risk_features,
    build_seller_risk_table,
    lookback_days,
    to_day,
)
from transforms.seller_risk.measures import RiskParams, feature_columns
from transforms.seller_risk.scoring import ScoreRule

OUTPUT = "gold.seller_risk_features"
# One row per (seller, order) with its days, money, buyer and priced lines, kept up to
# date from the change feeds of the tables it is built from: a run reads the orders of
# its lookback from it instead of joining every order line ever sold to its order.
SELLER_ORDERS = "gold.seller_orders"
SELLER_ORDER_KEYS = ("seller_id", "order_id")
SELLER_ORDER_SOURCES = ("order_items", "orders", "customers")
# Bump when build_seller_orders derives its rows differently: rows kept from earlier
# runs would keep the old derivation, so a changed one rebuilds the table.
SELLER_ORDERS_DERIVATION = "seller_orders_v1"
RATE_COLUMN = re.compile(r"_(rate|share)_\d+d$")  # shares and rates lie in [0, 1]
REQUIRED = ("order_items",)
# Missing, these act as empty tables: their counts are 0 and their rates null.
EMPTY_WHEN_MISSING = ("orders", "customers", "reviews", "products", "sellers")
# Missing, its features are null: 0 cases would claim "no chargebacks" (Olist has none).
NULL_WHEN_MISSING = ("after_sales",)
OPTIONAL = EMPTY_WHEN_MISSING + NULL_WHEN_MISSING


class ScoreRuleConfig(model_of(ScoreRule, exclude=("feature",))):  # type: ignore[misc]
    @model_validator(mode="after")
    def _ramp(self) -> ScoreRuleConfig:
        if self.low == self.high:
            raise ValueError(f"low and high must differ (both {self.low})")
        return self


class SellerRiskParams(model_of(RiskParams)):  # type: ignore[misc]
    feature_version: str = "seller_risk_v1"
    reason_codes: int = Field(default=3, ge=1)
    # A `--date D` run also recomputes the earlier days that rows arriving since the
    # last run belong to (late data), up to this many days back; older ones are logged.
    late_data_days: int = Field(default=30, ge=0)
    scoring: dict[str, ScoreRuleConfig] = Field(default_factory=dict, min_length=1)

    @model_validator(mode="after")
    def _names(self) -> SellerRiskParams:
        if any(n < 1 for n in self.windows) or len(set(self.windows)) != len(self.windows):
            raise ValueError(f"windows must be distinct positive day counts, got {self.windows}")
        known = set(feature_columns(self.risk_params()))
        for name, rule in self.scoring.items():
            for col in (name, rule.support):
                if col is not None and col not in known:
                    raise ValueError(f"scoring.{name}: unknown feature {col!r}")
        return self

    def risk_params(self) -> RiskParams:
        return to_dataclass(self, RiskParams, windows=tuple(sorted(self.windows)))

    def rules(self) -> list[ScoreRule]:
        return [to_dataclass(v, ScoreRule, feature=k) for k, v in self.scoring.items()]


class SellerRiskConfig(JobConfig):
    seller_risk: SellerRiskParams


def read_checked(ctx: JobContext, table: str) -> DataFrame | None:
    """silver.<table> with its canonical columns, or None (and a note) when it does not exist."""
    name, schema = f"silver.{table}", TABLES[table]
    if not ctx.lake.exists(name):
        if table in REQUIRED:
            ctx.lake.read(name)  # raises TableNotFoundError naming the table
        noted = ctx.run.extra.setdefault("missing_inputs", [])
        if name not in noted:  # read once for the default date, once for the run
            ctx.log.warning("seller_risk_features: %s does not exist: its features are null", name)
            noted.append(name)
        return None
    df = ctx.lake.read(name)
    missing = [c for c in schema.names if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {missing}; present: {df.columns}")
    return df.select(*schema.names)


def late_data_start(ctx: JobContext) -> date | None:
    """The earliest event day among the silver rows changed since the job's last run
    (Delta change data feed of each input), or None when nothing earlier changed."""
    last = last_run_inputs(ctx.lake, ctx.spec.name)
    if not last:
        return None
    days = []
    for t in REQUIRED + OPTIONAL:
        name = f"silver.{t}"
        before, now = last.get(name), ctx.lake.version(name)
        if before is None or now is None or now == before:
            continue
        try:
            changes = ctx.lake.changes(name, before, now)
            if t == "order_items":  # an order line dates from its order's purchase
                orders = ctx.lake.read("silver.orders").select("order_id", "purchased_at")
                changes = changes.join(orders, on="order_id", how="left")
            day = changes.agg(earliest_event_day(changes)).first()[0]
        except Exception as exc:  # no change feed over that range (turned on later, vacuumed)
            ctx.log.warning(
                "seller_risk_features: %s: changes since v%s unknown: %s", name, before, exc
            )
            continue
        if day is not None:
            days.append(day)
    return min(days, default=None)


def read_inputs(ctx: JobContext) -> dict[str, DataFrame | None]:
    tables = {t: read_checked(ctx, t) for t in REQUIRED + OPTIONAL}
    for t in EMPTY_WHEN_MISSING:
        if tables[t] is None:
            tables[t] = ctx.spark.createDataFrame([], TABLES[t].struct)
    return tables


def seller_orders_of(tables: dict[str, DataFrame | None]) -> DataFrame:
    return build_seller_orders(tables["order_items"], tables["orders"], tables["customers"])


def source_marks(ctx: JobContext) -> dict[str, object]:
    """What gold.seller_orders is derived from: the derivation, the session time zone
    (its day numbers are calendar days there) and each input's [Delta version, table id]."""
    names = [f"silver.{t}" for t in SELLER_ORDER_SOURCES]
    return {
        "derivation": SELLER_ORDERS_DERIVATION,
        "time_zone": ctx.spark.conf.get("spark.sql.session.timeZone"),
        "tables": {
            n: [ctx.lake.version(n), ctx.lake.table_id(n)] for n in names if ctx.lake.exists(n)
        },
    }


def changed_orders(ctx: JobContext, then: dict, now: dict) -> tuple[DataFrame | None, str]:
    """The order_id of every order whose seller-orders a silver change since `then` can
    alter (persisted), or None and why when the change feeds cannot tell."""
    for key in ("derivation", "time_zone"):
        if then.get(key) != now[key]:
            return None, f"{key} changed: {then.get(key)} -> {now[key]}"
    before_tables, tables = then.get("tables", {}), now["tables"]
    if set(before_tables) != set(tables):
        return None, f"input tables changed: {sorted(before_tables)} -> {sorted(tables)}"
    ids = []
    try:  # a change feed that is off or vacuumed fails when read or counted
        for name, (version, table_id) in tables.items():
            before, before_id = before_tables[name]
            if before_id != table_id or before > version:
                return None, f"{name} was re-created"
            if before == version:
                continue
            changes = ctx.lake.changes(name, before, version)
            if name == "silver.customers":  # a buyer's row changed: the orders it placed
                if "silver.orders" not in tables:  # no orders: no buyers either
                    continue
                orders = ctx.lake.read("silver.orders").select("order_id", "customer_id")
                changes = orders.join(
                    changes.select("customer_id"), on="customer_id", how="left_semi"
                )
            ids.append(changes.select("order_id"))
        if not ids:
            return ctx.spark.createDataFrame([], "order_id string"), ""
        union = ids[0]
        for more in ids[1:]:
            union = union.unionByName(more)
        affected = union.where(F.col("order_id").isNotNull()).distinct().persist()
        affected.count()
    except Exception as exc:  # any failure to read the feeds means: rebuild
        first = (str(exc).splitlines() or [""])[0][:300]
        return None, f"change feed unreadable: {type(exc).__name__}: {first}"
    return affected, ""


def rebuild_seller_orders(ctx: JobContext) -> int:
    """gold.seller_orders from all of silver, laid out by order day (files hold
    consecutive days, so a lookback read skips the older ones by their statistics)."""
    rows = seller_orders_of(read_inputs(ctx))
    parts = int(ctx.spark.conf.get("spark.sql.shuffle.partitions"))
    by_day = rows.repartitionByRange(parts, "event_day").sortWithinPartitions("event_day")
    return ctx.lake.overwrite(by_day, SELLER_ORDERS)


def refresh_seller_orders(ctx: JobContext) -> DataFrame:
    """gold.seller_orders brought up to silver, once per run: rebuilt whole on the first
    run, with `--full-refresh` or when a change feed cannot tell what changed; otherwise
    only the orders changed since the last successful run are rebuilt and MERGEd."""
    if "seller_orders" in ctx.shared:
        return ctx.shared["seller_orders"]
    now = source_marks(ctx)
    then = (last_run_extra(ctx.lake, ctx.spec.name) or {}).get("seller_orders_from")
    affected, why = None, "first run"
    if getattr(ctx.options, "full_refresh", False):
        why = "--full-refresh"
    elif ctx.lake.exists(SELLER_ORDERS) and then is not None:
        held = ctx.lake.read(SELLER_ORDERS)
        if list(held.columns) != list(SELLER_ORDER_COLUMNS):
            why = f"{SELLER_ORDERS} has other columns: {held.columns}"
        else:
            affected, why = changed_orders(ctx, then, now)
    if affected is None:
        ctx.log.info("seller_risk_features: rebuilding %s whole (%s)", SELLER_ORDERS, why)
        rows = rebuild_seller_orders(ctx)
        refresh = {"mode": "rebuilt", "reason": why, "rows": rows}
    else:
        changed = affected.count()
        applied = 0
        if changed:
            tables = read_inputs(ctx)
            items, orders = (
                tables[t].join(affected, on="order_id", how="left_semi")
                for t in ("order_items", "orders")
            )
            rebuilt = build_seller_orders(items, orders, tables["customers"])
            held = ctx.lake.read(SELLER_ORDERS).join(affected, on="order_id", how="left_semi")
            applied = ctx.lake.apply_changes(
                seller_order_changes(rebuilt, held), SELLER_ORDERS, SELLER_ORDER_KEYS
            )
        affected.unpersist()
        ctx.log.info(
            "seller_risk_features: %s: %d order(s) changed in silver since the last run, "
            "%d seller-order row(s) inserted, updated or deleted",
            SELLER_ORDERS, changed, applied,
        )  # fmt: skip
        refresh = {"mode": "incremental", "orders_changed": changed, "rows": applied}
    ctx.run.extra["seller_orders_from"] = now
    ctx.run.extra["seller_orders_refresh"] = refresh
    ctx.shared["seller_orders"] = ctx.lake.read(SELLER_ORDERS)
    return ctx.shared["seller_orders"]


def seller_order_changes(rebuilt: DataFrame, held: DataFrame) -> DataFrame:
    """The change set taking the held rows of some orders to their rebuilt rows: each
    rebuilt row upserted, each held (seller, order) silver no longer has deleted."""
    keys = list(SELLER_ORDER_KEYS)
    gone = held.select(*keys).join(rebuilt.select(*keys), on=keys, how="left_anti")
    return rebuilt.withColumn(IS_DELETE, F.lit(False)).unionByName(
        gone.withColumn(IS_DELETE, F.lit(True)), allowMissingColumns=True
    )


def default_date(ctx: JobContext) -> date:
    """Latest event day: max purchase date, or shipping limit of items without an order row."""
    latest = refresh_seller_orders(ctx).agg(F.max("event_day")).first()[0]
    if latest is None:
        raise ValueError("silver.order_items has no dated rows: nothing to compute")
    return date.fromordinal(EPOCH.toordinal() + latest)


def report_gaps(ctx: JobContext, seller_orders: DataFrame) -> None:
    """Order items read (those of the seller-orders of the lookback); sales without an
    order row count (by their shipping limit), undated ones cannot."""
    row = seller_orders.agg(
        F.count(F.lit(1)).alias("seller_orders"),
        F.sum("items").alias("order_items"),
        F.sum(F.when(~F.col("has_order_row"), F.col("items")).otherwise(0)).alias("no_order_row"),
        F.sum(F.when(F.col("event_day").isNull(), F.col("items")).otherwise(0)).alias("undated"),
    ).first()
    gaps = {
        k: int(row[k] or 0) for k in ("seller_orders", "order_items", "no_order_row", "undated")
    }
    # An aggregation: every order item is read, none is copied (written counts feature rows).
    ctx.run.add("silver.order_items", read=gaps["order_items"])
    ctx.run.extra["order_items_without_order_row"] = gaps["no_order_row"]
    ctx.run.extra["order_items_without_event_time"] = gaps["undated"]
    ctx.log.info(
        "seller_risk_features: %d seller-orders; %d order items have no order row (dated by "
        "shipping limit, counted for volume); %d have no event time (not counted)",
        gaps["seller_orders"],
        gaps["no_order_row"],
        gaps["undated"],
    )


def quality_checks(table: DataFrame, active_seller_days: int) -> list[Check]:
    """The gate before publishing: keys, one row per active seller and day, value ranges."""
    bounded = [c for c in table.columns if RATE_COLUMN.search(c)]
    return [
        Check.not_null("seller_id"),
        Check.not_null("as_of_date"),
        Check.unique("seller_id", "as_of_date"),
        Check.row_count_equals(active_seller_days, name="one row per active seller and day"),
        Check.not_null("risk_score"),
        Check.between("risk_score", 0, 100),
        Check.all_between(bounded, 0, 1, name="rates and shares in [0, 1]"),
    ]


def hot_sellers(ctx: JobContext, seller_orders: DataFrame) -> list[tuple]:
    """Sellers above the job's hot-key share (config `skew:`), or none when salting is off."""
    skew = ctx.job.skew
    if not skew.enabled:
        return []
    keys = hot_keys(seller_orders, ["seller_id"], skew.hot_key_share, skew.sample_fraction)
    ctx.run.extra["hot_keys"] = [k[0] for k in keys]
    ctx.log.info(
        "seller_risk_features: %d hot seller(s) >= %.0f%% of seller-orders, salted over %d: %s",
        len(keys),
        100 * skew.hot_key_share,
        skew.salt_buckets,
        [k[0] for k in keys],
    )
    return keys


def with_late_days(ctx: JobContext) -> None:
    """Start the run at the earliest day late rows belong to (see `late_data_days`)."""
    late = late_data_start(ctx)
    if late is None or ctx.start is None or late >= ctx.start:
        return
    limit = ctx.job.seller_risk.late_data_days
    if (ctx.start - late).days > limit:
        ctx.log.warning(
            "seller_risk_features: rows arrived for %s, more than %d days before %s: those "
            "days are not recomputed (run a backfill with --start/--end)", late, limit, ctx.start
        )  # fmt: skip
        late = ctx.start - timedelta(days=limit)
    ctx.log.info("seller_risk_features: late rows since the last run: recomputing from %s", late)
    ctx.run.extra["recomputed_from"] = str(late)
    ctx.start = late


def run(ctx: JobContext) -> None:
    section = ctx.job.seller_risk
    with_late_days(ctx)
    lookback = ctx.start - timedelta(days=lookback_days(section.risk_params()))
    ctx.log.info("seller_risk_features: windows read events from %s on", lookback)
    ctx.run.extra["lookback_from"] = str(lookback)
    tables = read_inputs(ctx)
    seller_orders = refresh_seller_orders(ctx)
    in_lookback = (F.col("event_day") >= to_day(lookback)) | F.col("event_day").isNull()
    recent = seller_orders.where(in_lookback).persist(StorageLevel.MEMORY_AND_DISK)
    table = None
    try:
        report_gaps(ctx, recent)
        features = build_seller_risk_features(
            seller_orders,
            tables["reviews"],
            tables["products"],
            tables["sellers"],
            tables["after_sales"],
            section.risk_params(),
            ctx.start,
            ctx.end,
            hot_sellers=hot_sellers(ctx, recent),
            salt_buckets=ctx.job.skew.salt_buckets,
        )
        table = build_seller_risk_table(
            features, section.rules(), section.feature_version, section.reason_codes
        )
        table = table.persist(StorageLevel.MEMORY_AND_DISK)
        active = active_seller_days(recent, section.risk_params(), ctx.start, ctx.end)
        ctx.gate(table, OUTPUT, quality_checks(table, active.count()))
        # Not BETWEEN: Spark 4 rewrites it into a With expression that Delta's replaceWhere
        # cannot resolve on an existing table (delta-io/delta#4776).
        predicate = f"as_of_date >= '{ctx.start}' AND as_of_date <= '{ctx.end}'"
        with ctx.step(f"features {ctx.start}..{ctx.end} -> {OUTPUT}"):
            # Each day's rows in one task: one file per day, not one per task and day.
            by_day = table.repartition("as_of_date")
            written = ctx.lake.overwrite_where(
                by_day, OUTPUT, predicate, partition_by=("as_of_date",)
            )
    finally:
        recent.unpersist()
        if table is not None:
            table.unpersist()
    ctx.run.add(OUTPUT, written=written)
    ctx.run.extra["feature_version"] = section.feature_version


class SellerRiskOptions(RunOptions):
    full_refresh: bool = Field(
        False,
        description=f"rebuild {SELLER_ORDERS} from silver whole (kept incrementally); implies --force",
    )

    @model_validator(mode="before")
    @classmethod
    def _forced(cls, data: dict) -> dict:
        if isinstance(data, dict) and data.get("full_refresh"):
            return {**data, "force": True}
        return data


SPEC = JobSpec(
    name="seller_risk_features",
    description="point-in-time seller risk features and score per active seller and day",
    config_model=SellerRiskConfig,
    run=run,
    options_model=SellerRiskOptions,
    reads=(
        SELLER_ORDERS,
        "silver.order_items",
        "silver.orders",
        "silver.customers",
        "silver.reviews",
        "silver.products",
        "silver.sellers",
        "silver.after_sales",
    ),
    writes=(OUTPUT, SELLER_ORDERS),
    dated=True,
    default_date=default_date,
)
