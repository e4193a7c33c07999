"""The synthetic demo generator: deterministic, skewed, and carrying the fraud and
inventory drift that the truth tables promise."""

from __future__ import annotations

import gzip
import math
import re
from dataclasses import fields, replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError
from pyspark.sql import DataFrame, Row, Window
from pyspark.sql import functions as F

from catalog.tables import TABLES
from demo_data.core import DAY_S, FRAUD_PATTERNS
from demo_data.generator import LANDING_TABLES, DemoParams, DemoTables, build_demo_tables
from demo_data.sellers import LABEL_NOISE_PATTERN, SellerPlan
from jobs.generate_demo_data import GenerateDemoDataParams
from lakecore.io import Lakehouse
from tests.conftest import run_cli
from transforms.common.seeded import uniform

TINY = DemoParams(
    orders=2_000,
    sellers=40,
    customers=400,
    products=200,
    days=60,
    stores=10,
    dcs=2,
    skus=50,
    inventory_days=14,
    duplicate_event_share=0.005,
)
PATTERNS = {
    "velocity_burst",
    "fake_reviews",
    "price_below_category",
    "high_cancellation_chargeback",
    "buyer_collusion",
}


def generate(spark, p: DemoParams, partitions: int | None = None) -> DemoTables:
    bases = {name: spark.range(0, n, 1, partitions) for name, n in p.range_sizes().items()}
    return build_demo_tables(bases, p)


# The job at the TINY scale.
TINY_SETTINGS = [
    f"{f.name}={getattr(TINY, f.name)}"
    for f in fields(DemoParams)
    if getattr(TINY, f.name) != getattr(DemoParams(), f.name)
]
FORMATS = {"order_items": "parquet", "interactions": "parquet", "inventory_events": "parquet"}
FORMATS |= {"reviews": "json", "after_sales": "json"}
TEXT_OPTIONS = {"timestampFormat": "yyyy-MM-dd HH:mm:ss", "header": "true"}


class Landed(dict):
    """The landed tables (read back with their canonical schema) and the truth
    tables, each read once, on first use."""

    def __init__(self, spark, landing: Path, lake: Lakehouse):
        super().__init__()
        self.spark, self.landing, self.lake = spark, landing, lake

    def __missing__(self, name: str) -> DataFrame:
        if name.startswith("truth."):
            df = self.lake.read(name)
        else:
            path = str(self.landing / "demo" / name)
            fmt = FORMATS.get(name, "csv")
            reader = self.spark.read.schema(TABLES[name].struct).options(**TEXT_OPTIONS)
            df = (
                self.spark.read.parquet(path) if fmt == "parquet" else reader.format(fmt).load(path)
            )
        self[name] = df.localCheckpoint()
        return self[name]


@pytest.fixture(scope="module")
def landed(spark, tmp_path_factory) -> Landed:
    """One run of the job at the TINY scale; most tests read what it landed."""
    root = tmp_path_factory.mktemp("synthetic")
    lake_root, landing = root / "lake", root / "landing"
    sets = [f"--set=generate_demo_data.{s}" for s in TINY_SETTINGS]
    assert run_cli(lake_root, "run", "generate_demo_data", *sets, landing=landing) == 0
    return Landed(spark, landing, Lakehouse(spark, str(lake_root)))


@pytest.fixture(scope="module")
def rebuilt(spark) -> DemoTables:
    """The same data set from the transforms directly, on 3 partitions (lazy)."""
    return generate(spark, TINY, partitions=3)


def sorted_rows(df: DataFrame) -> list[tuple]:
    return sorted(tuple(r) for r in df.collect())


def test_same_seed_gives_the_same_rows_on_any_partitioning(rebuilt, landed):
    """The transforms on 3 partitions == what the job landed (2 partitions, files)."""
    for table in ("orders", "inventory_counts"):
        assert sorted_rows(rebuilt.landing[table]) == sorted_rows(landed[table]), table
    for table in ("truth.fraudulent_sellers", "truth.inventory_drift"):
        assert sorted_rows(rebuilt.truth[table]) == sorted_rows(landed[table]), table


def test_transforms_give_exactly_the_canonical_columns_and_types(rebuilt):
    for table in LANDING_TABLES:
        got = [(f.name, f.dataType) for f in rebuilt.landing[table].schema.fields]
        assert got == list(TABLES[table].columns), table


def test_job_lands_every_table_in_its_format(landed):
    for table in LANDING_TABLES:
        folder = landed.landing / "demo" / table
        files = [f for f in folder.iterdir() if not f.name.startswith(("_", "."))]
        ext = {"parquet": ".parquet", "json": ".json.gz"}.get(FORMATS.get(table, ""), ".csv.gz")
        assert files and all(f.name.endswith(ext) for f in files), (table, files)
        if ext == ".csv.gz":
            with gzip.open(files[0], "rt") as fh:
                assert fh.readline().strip().split(",") == TABLES[table].names, table
        elif ext == ".parquet":
            assert pq.read_schema(files[0]).names == TABLES[table].names, table
    with gzip.open(next((landed.landing / "demo" / "orders").glob("*.csv.gz")), "rt") as fh:
        fh.readline()
        purchased_at = fh.readline().split(",")[3]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", purchased_at)
    assert landed["truth.fraudulent_sellers"].columns == ["seller_id", "pattern"]
    drift_columns = ["location_id", "sku", "count_id", "drift_units"]
    assert landed["truth.inventory_drift"].columns == drift_columns


def test_order_items_reference_their_sellers_listings(landed):
    listings = landed["products"].select("product_id", "seller_id")
    items = landed["order_items"]
    assert items.join(listings, ["product_id", "seller_id"], how="left_anti").count() == 0
    assert items.join(landed["orders"], "order_id", how="left_anti").count() == 0
    orphans = landed["orders"].join(landed["customers"], "customer_id", how="left_anti")
    assert orphans.count() == 0


def test_payments_sum_to_the_order_items(landed):
    paid = landed["payments"].groupBy("order_id").agg(F.sum("payment_value").alias("paid"))
    owed = (
        landed["order_items"]
        .groupBy("order_id")
        .agg(F.sum(F.col("price") + F.col("freight_value")).alias("owed"))
    )
    both = paid.join(owed, "order_id", how="full")
    assert both.where(F.abs(F.coalesce("paid", F.lit(-1.0)) - F.col("owed")) > 0.011).count() == 0


def test_hottest_seller_is_legit_and_holds_a_fifth_of_the_order_items(landed):
    per_seller = landed["order_items"].groupBy("seller_id").count()
    total = landed["order_items"].count()
    hottest = per_seller.orderBy(F.desc("count")).first()
    fraudsters = {r.seller_id for r in landed["truth.fraudulent_sellers"].collect()}
    assert hottest["count"] / total >= 0.20
    assert hottest.seller_id not in fraudsters


def test_every_fraud_pattern_is_in_the_truth_and_every_fraudster_is_a_seller(landed):
    truth = landed["truth.fraudulent_sellers"].collect()
    sellers = {r.seller_id for r in landed["sellers"].select("seller_id").collect()}
    assert {r.pattern for r in truth} == PATTERNS
    assert len({r.seller_id for r in truth}) == len(truth)  # one pattern per fraudster
    assert {r.seller_id for r in truth} <= sellers


def test_fraud_patterns_show_in_the_data(landed):
    """Each pattern's signal, per pattern, against the legit sellers (labels from truth)."""
    L = landed
    end = F.lit("2025-06-30 23:59:59").cast("timestamp")
    burst_start = F.date_sub(end, TINY.burst_days - 1).cast("timestamp")
    labels = landed["truth.fraudulent_sellers"]
    orders = (
        L["order_items"]
        .select("order_id", "seller_id")
        .distinct()
        .join(L["orders"], "order_id", how="inner")
        .join(labels, "seller_id", how="left")
        .withColumn("label", F.coalesce("pattern", F.lit("legit")))
    )
    stats = {
        r.label: r
        for r in orders.groupBy("label")
        .agg(
            F.avg((F.col("purchased_at") >= burst_start).cast("double")).alias("burst"),
            F.avg((F.col("status") == "canceled").cast("double")).alias("canceled"),
        )
        .collect()
    }
    legit = stats["legit"]
    assert stats["velocity_burst"].burst > 3 * legit.burst
    assert stats["high_cancellation_chargeback"].canceled > 5 * legit.canceled

    # Collusion: a handful of buyers place most of the seller's orders.
    by_buyer = orders.groupBy("label", "seller_id", "customer_id").count()
    top = Window.partitionBy("seller_id").orderBy(F.desc("count"), "customer_id")
    top_share = {
        r.label: r.share
        for r in by_buyer.withColumn("rank", F.row_number().over(top))
        .groupBy("label", "seller_id")
        .agg(
            (F.sum(F.when(F.col("rank") <= 4, F.col("count"))) / F.sum("count")).alias("share"),
            F.sum("count").alias("orders"),
        )
        .where("orders >= 20")
        .groupBy("label")
        .agg(F.avg("share").alias("share"))
        .collect()
    }
    assert top_share["buyer_collusion"] > 0.6 > 0.3 > top_share["legit"]

    # Category price level: median item price of legit sellers.
    prices = (
        L["order_items"]
        .join(L["products"].select("product_id", "category"), "product_id", how="inner")
        .join(labels, "seller_id", how="left")
    )
    medians = (
        prices.where("pattern IS NULL").groupBy("category").agg(F.median("price").alias("med"))
    )
    ratio = (
        prices.where(F.col("pattern") == "price_below_category")
        .join(medians, "category", how="inner")
        .agg(F.avg(F.col("price") / F.col("med")))
        .first()[0]
    )
    assert ratio < 0.5

    fake = (
        L["reviews"]
        .join(orders.select("order_id", "customer_id", "label"), "order_id", how="inner")
        .join(
            L["customers"].select("customer_id", F.col("created_at").alias("joined")),
            "customer_id",
            how="inner",
        )
        .where((F.col("label") == "fake_reviews") & (F.col("score") == 5))
        .where(F.datediff("created_at", "joined") <= 7)
    )
    assert fake.count() >= 5
    assert fake.groupBy("comment_message").count().orderBy(F.desc("count")).first()["count"] >= 3


# --------------------------------------------------------------------------- camouflage

CAMOUFLAGED = replace(TINY, camouflage=0.8)


@pytest.fixture(scope="module")
def camouflaged(spark) -> DemoTables:
    """TINY with camouflage 0.8, from the transforms (lazy)."""
    return generate(spark, CAMOUFLAGED, partitions=2)


def signals(tables: DemoTables, p: DemoParams) -> dict[str, Row]:
    """Per true class (the truth's pattern, else `legit`): orders, and how much of each
    pattern they show, from the order plan."""
    pattern = SellerPlan.of(p).pattern("seller_rank")
    burst_start = p.end_s - p.burst_days * DAY_S

    def share(cond: str) -> F.Column:
        return F.avg(F.expr(cond).cast("double"))

    stats = (
        tables.shared["order_plan"]
        .withColumn("label", F.coalesce(pattern, F.lit("legit")))
        .groupBy("label")
        .agg(
            F.count(F.lit(1)).alias("orders"),
            share(f"purchase_s >= {burst_start}").alias("burst"),
            share("customer_kind = 'puppet'").alias("puppet"),
            share("customer_kind = 'ring'").alias("ring"),
            share("is_canceled").alias("canceled"),
            F.avg(F.col("lines")[0]["price"]).alias("price"),
            F.count_if(F.col("klass").isin(*FRAUD_PATTERNS)).alias("fraud_like"),
        )
    )
    return {r.label: r for r in stats.collect()}


def test_camouflage_weakens_the_patterns_and_hides_the_fraudsters_volume(rebuilt, camouflaged):
    plain, camo = signals(rebuilt, TINY), signals(camouflaged, CAMOUFLAGED)
    for label, signal in (
        ("velocity_burst", "burst"),
        ("fake_reviews", "puppet"),
        ("buyer_collusion", "ring"),
        ("high_cancellation_chargeback", "canceled"),
    ):
        weak, strong, base = camo[label][signal], plain[label][signal], plain["legit"][signal]
        assert base < weak < strong, (label, signal, base, weak, strong)

    # The same listings, fewer of them priced below the category.
    assert camo["price_below_category"].price > 2 * plain["price_below_category"].price
    # Volume mimics (4 of the 5 fraudsters here) lose their extra orders to the tail.
    fewer = [k for k in PATTERNS if camo[k].orders < plain[k].orders]
    assert len(fewer) >= 3, fewer
    assert sum(camo[k].orders for k in PATTERNS) < sum(plain[k].orders for k in PATTERNS)
    # Look-alikes: some legit sellers' orders act out a fraud pattern.
    assert plain["legit"].fraud_like == 0 < camo["legit"].fraud_like


@pytest.mark.parametrize("camouflage", [0.0, 0.8, 1.0])
def test_order_share_is_what_rank_for_draws(spark, camouflage):
    """Listings follow `order_share`, orders `rank_for`: they must agree, mimics or not."""
    p = replace(TINY, camouflage=camouflage)
    plan, n = SellerPlan.of(p), 100_000
    drawn = (
        spark.range(n)
        .select(plan.rank_for(uniform(p.seed, "test", "id")).alias("rank"))
        .groupBy("rank")
        .count()
    )
    expected = spark.range(1, p.sellers + 1).select(
        F.col("id").alias("rank"), plan.order_share("id").alias("share")
    )
    rows = expected.join(drawn, "rank", how="full").collect()
    assert sum(r.share for r in rows) == pytest.approx(1.0)
    for r in rows:
        got = (r["count"] or 0) / n
        assert abs(got - r.share) <= 5 * math.sqrt(r.share / n) + 1e-4, r


def test_label_noise_flips_a_share_of_the_truth_and_keeps_its_schema(spark):
    p = replace(TINY, sellers=200, products=2_000, label_noise=0.2)  # 12 fraudsters
    noisy = generate(spark, p).truth["truth.fraudulent_sellers"]
    clean = generate(spark, replace(p, label_noise=0.0)).truth["truth.fraudulent_sellers"]
    assert noisy.schema == clean.schema
    noisy_rows, clean_rows = set(noisy.collect()), set(clean.collect())
    assert p.n_fraud == 12 and p.n_label_flips == round(0.2 * 12) == 2
    assert len(noisy_rows) == len(clean_rows) == p.n_fraud
    assert len(clean_rows - noisy_rows) == p.n_label_flips  # fraudsters left out
    added = noisy_rows - clean_rows  # legit sellers labelled fraudulent
    assert len(added) == p.n_label_flips
    assert {r.pattern for r in added} == {LABEL_NOISE_PATTERN}
    hottest = spark.range(1).select(SellerPlan.of(p).seller_id(F.lit(1))).first()[0]
    assert hottest not in {r.seller_id for r in added}


def test_camouflage_knobs_are_bounded_in_the_config():
    assert GenerateDemoDataParams(camouflage=1.0, label_noise=0.5).demo_params().camouflage == 1
    for bad in ({"camouflage": 1.5}, {"camouflage": -0.1}, {"label_noise": 0.6}):
        with pytest.raises(ValidationError):
            GenerateDemoDataParams(**bad)


# --------------------------------------------------------------------------- inventory

SIGN = {
    "RESTOCK": 1,
    "RETURN": 1,
    "TRANSFER_IN": 1,
    "ADJUSTMENT": 1,
    "SALE": -1,
    "TRANSFER_OUT": -1,
    "RESERVE": 0,
    "RELEASE": 0,
}


def replayed_on_hand(events: DataFrame, counts: DataFrame) -> dict[str, int]:
    """count_id -> physical on-hand at count_ts, from the ledger (each event_id once)."""
    ledger = events.dropDuplicates(["event_id"]).collect()
    moves: dict[tuple[str, str], list[tuple]] = {}
    for e in ledger:
        moves.setdefault((e.location_id, e.sku), []).append(
            (e.event_ts, SIGN[e.event_type] * e.quantity)
        )
    return {
        c.count_id: sum(q for ts, q in moves.get((c.location_id, c.sku), []) if ts < c.count_ts)
        for c in counts.collect()
    }


def test_counts_equal_the_ledger_on_hand_except_the_injected_drift(landed):
    events, counts = landed["inventory_events"], landed["inventory_counts"]
    on_hand = replayed_on_hand(events, counts)
    drift = {r.count_id: r.drift_units for r in landed["truth.inventory_drift"].collect()}
    rows = counts.collect()
    assert drift and len(drift) < 0.15 * len(rows)
    for c in rows:
        assert c.counted_qty >= 0
        expected = on_hand[c.count_id] + drift.get(c.count_id, 0)
        assert c.counted_qty == expected, c
        if c.count_id in drift:
            d = drift[c.count_id]
            assert abs(d) >= max(3, -(-on_hand[c.count_id] // 10)), c
    assert sum(1 for d in drift.values() if d < 0) > len(drift) / 2  # mostly shrink


def test_no_event_at_a_count_timestamp_and_duplicates_are_identical(landed):
    events, counts = landed["inventory_events"], landed["inventory_counts"]
    clash = events.join(counts, ["location_id", "sku"], how="inner").where(
        F.col("event_ts") == F.col("count_ts")
    )
    assert clash.count() == 0
    per_id = events.groupBy("event_id").agg(
        F.count("*").alias("rows"), F.count_distinct(F.struct(*events.columns)).alias("versions")
    )
    assert per_id.where("rows > 1").count() > 0
    assert per_id.where("versions > 1").count() == 0
    assert events.where("quantity <= 0").count() == 0


def test_dcs_hold_far_more_rows_per_location_than_stores(landed):
    per_location = (
        landed["inventory_events"]
        .groupBy("location_id")
        .agg(F.count("*").alias("rows"), F.countDistinct("sku").alias("skus"))
        .join(landed["locations"], "location_id", how="inner")
        .groupBy("location_type")
        .agg(F.avg("rows").alias("rows"), F.avg("skus").alias("skus"))
    )
    by_type = {r.location_type: r for r in per_location.collect()}
    assert by_type["DC"].skus >= 5 * by_type["STORE"].skus
    assert by_type["DC"].rows >= 5 * by_type["STORE"].rows
