"""inventory_reconciliation end to end on a tmp lake: late events, idempotent re-runs."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs.inventory_reconciliation import default_date
from lakecore.io import Lakehouse
from tests.conftest import run_cli, silver

pytestmark = pytest.mark.integration

JOB = "inventory_reconciliation"
GOLD = (
    "gold.inventory_book_snapshot",
    "gold.inventory_discrepancies",
    "gold.inventory_adjustments",
    "gold.inventory_accuracy",
    "gold.inventory_alerts",
)
D1, D2 = "2025-06-01", "2025-06-02"


def ev(event_id, sku, etype, qty, at, arrived=None, source="POS"):
    return {"event_id": event_id, "location_id": "L1", "sku": sku, "event_type": etype,
            "quantity": qty, "source": source, "event_ts": at, "ingested_at": arrived or at}  # fmt: skip


def count(count_id, sku, qty, at):
    return {"count_id": count_id, "location_id": "L1", "sku": sku, "counted_qty": qty,
            "count_ts": at, "method": "CYCLE"}  # fmt: skip


def d1(hhmmss):
    return f"{D1} {hhmmss}"


EVENTS = [
    # A1: the late SALE (event time before c1, arrives the next morning).
    ev("a-restock", "A1", "RESTOCK", 100, d1("08:00:00"), source="WAREHOUSE"),
    ev("a-sale", "A1", "SALE", 10, d1("10:00:00")),
    ev("a-sale", "A1", "SALE", 10, d1("10:00:00")),  # duplicate delivery: counts once
    ev("a-reserve", "A1", "RESERVE", 5, d1("10:30:00"), source="ONLINE"),
    ev("a-late", "A1", "SALE", 3, d1("11:00:00"), arrived=f"{D2} 09:00:00"),
    ev("a-release", "A1", "RELEASE", 5, d1("13:00:00"), source="ONLINE"),
    ev("a-sale2", "A1", "SALE", 2, f"{D2} 09:30:00"),
    # B1: every other event type, clean.
    ev("b-restock", "B1", "RESTOCK", 50, d1("07:00:00"), source="WAREHOUSE"),
    ev("b-return", "B1", "RETURN", 2, d1("09:00:00")),
    ev("b-out", "B1", "TRANSFER_OUT", 10, d1("09:30:00"), source="WAREHOUSE"),
    ev("b-in", "B1", "TRANSFER_IN", 4, d1("09:45:00"), source="WAREHOUSE"),
    ev("b-adj", "B1", "ADJUSTMENT", -1, d1("10:00:00"), source="RFID"),
    # C1: sold with no stock on the books: negative book, overage.
    ev("c-sale", "C1", "SALE", 3, d1("09:00:00")),
    ev("c-reserve", "C1", "RESERVE", 1, d1("09:10:00"), source="ONLINE"),
    ev("bad-qty", "C1", "SALE", -5, d1("09:20:00")),  # quarantined
]
COUNTS = [
    count("c1", "A1", 87, d1("12:00:01")),
    count("cb", "B1", 45, d1("12:00:01")),
    count("cc", "C1", 0, d1("12:00:01")),
    count("c2", "A1", 84, f"{D2} 12:00:01"),
    count("cz", "ZZZ", 3, d1("12:00:01")),  # unknown SKU: quarantined
]
ITEMS = [
    {"sku": "A1", "category": "x", "abc_class": "A", "unit_cost": 10.0},
    {"sku": "B1", "category": "x", "abc_class": "B", "unit_cost": 2.0},
    {"sku": "C1", "category": "x", "abc_class": "C", "unit_cost": 1.5},
]


@pytest.fixture
def inventory_lake(spark, lake_root):
    lake = Lakehouse(spark, str(lake_root))
    for table, rows in (
        ("inventory_events", EVENTS),
        ("inventory_counts", COUNTS),
        ("items", ITEMS),
    ):
        lake.overwrite(silver(spark, table, rows), f"silver.{table}")
    return lake


def _run(lake_root, day):
    assert run_cli(lake_root, "run", JOB, "--date", day) == 0


def _frozen(lake, name):
    df = lake.read(name)
    return df.sparkSession.createDataFrame(df.collect(), df.schema)


def _by_count(lake, *cols):
    rows = lake.read("gold.inventory_discrepancies").collect()
    return {r.count_id: tuple(r[c] for c in cols) for r in rows}


def test_late_event_re_reconciles_its_count_once_and_reruns_change_nothing(
    inventory_lake, lake_root
):
    lake = inventory_lake
    _run(lake_root, D1)
    cols = ("book_qty", "counted_qty", "variance_units", "status", "adjustment_units")
    assert _by_count(lake, *cols) == {
        "c1": (90, 87, -3, "SHRINK", -3),  # the late sale is not there yet
        "cb": (45, 45, 0, "MATCH", 0),
        "cc": (-3, 0, 3, "OVERAGE", 3),
    }
    assert _by_count(lake, "book_reserved", "variance_value", "tolerance_units")["c1"] == (
        5,
        -30.0,
        1.0,
    )
    ledger_adj = lake.read("silver.inventory_events").where(F.col("event_id").startswith("recon:"))
    assert sorted((r.event_id, r.quantity) for r in ledger_adj.collect()) == [
        ("recon:c1", -3),
        ("recon:cc", 3),
    ]
    alerts = lake.read("gold.inventory_alerts").collect()
    assert sorted((r.count_id, r.alert_type) for r in alerts) == [
        ("cc", "NEGATIVE_AVAILABLE"),
        ("cc", "NEGATIVE_ON_HAND"),
    ]
    quarantined = lake.read("quarantine.inventory_reconciliation").collect()
    assert sorted((r.table, r.record_key, r.reason) for r in quarantined) == [
        ("inventory_counts", '{"count_id":"cz"}', "unknown_sku"),
        ("inventory_events", '{"event_id":"bad-qty"}', "negative_quantity"),
    ]

    # Day 2: the late sale arrived. c1 is reconciled again (book 87: counted once, not
    # twice), its adjustment is withdrawn from gold and from the ledger; c2 follows it.
    _run(lake_root, D2)
    assert _by_count(lake, *cols) == {
        "c1": (87, 87, 0, "MATCH", 0),
        "cb": (45, 45, 0, "MATCH", 0),
        "cc": (-3, 0, 3, "OVERAGE", 3),
        "c2": (85, 84, -1, "MATCH", 0),  # |-1| = min_units: on the boundary, MATCH
    }
    adjustments = lake.read("gold.inventory_adjustments").collect()
    assert [(r.count_id, r.event_id, r.quantity) for r in adjustments] == [("cc", "recon:cc", 3)]
    ledger_adj = lake.read("silver.inventory_events").where(F.col("event_id").startswith("recon:"))
    assert [(r.event_id, r.quantity) for r in ledger_adj.collect()] == [("recon:cc", 3)]
    snap = {r.count_id: r for r in lake.read("gold.inventory_book_snapshot").collect()}
    assert {k: (r.on_hand, r.reserved, r.available, r.is_current) for k, r in snap.items()} == {
        "c1": (87, 5, 82, False),
        "c2": (85, 0, 85, True),
        "cb": (45, 0, 45, True),
        "cc": (0, 1, -1, True),
    }
    assert snap["c1"].reconciled_through == dt.datetime(2025, 6, 3)
    day1 = lake.read("gold.inventory_accuracy").where(
        (F.col("metric_date") == D1) & (F.col("grain") == "network")
    )
    (net,) = day1.collect()
    assert (net.counts, net.within_tolerance, net.shrink_units) == (3, 2, 0)
    assert net.accuracy == pytest.approx(2 / 3)

    # Re-running day 2 (nothing new since): every table unchanged, no adjustment added.
    before = {name: _frozen(lake, name) for name in (*GOLD, "silver.inventory_events")}
    _run(lake_root, D2)
    for name, df in before.items():
        assert_df_equality(lake.read(name), df, ignore_row_order=True)


def test_default_date_is_the_last_arrival_or_count(spark, lake_root):
    """Without --date: the latest day an event arrived (its event time if it has no
    ingestion time) or a count was taken."""
    lake = Lakehouse(spark, str(lake_root))
    arrived = ev("x1", "A1", "SALE", 1, d1("10:00:00"), arrived=f"{D2} 08:00:00")
    never_ingested = {**ev("x2", "A1", "SALE", 1, "2025-06-03 09:00:00"), "ingested_at": None}
    lake.overwrite(silver(spark, "inventory_counts", COUNTS[:1]), "silver.inventory_counts")
    ctx = SimpleNamespace(lake=lake)
    lake.overwrite(silver(spark, "inventory_events", [arrived]), "silver.inventory_events")
    assert default_date(ctx) == dt.date(2025, 6, 2)
    events = [arrived, never_ingested]
    lake.overwrite(silver(spark, "inventory_events", events), "silver.inventory_events")
    assert default_date(ctx) == dt.date(2025, 6, 3)
