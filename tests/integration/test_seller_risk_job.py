"""seller_risk_features end to end on a tmp lake: idempotent, backfill = single days, one date per re-run."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs import seller_risk_features
from lakecore.io import Lakehouse
from tests.conftest import run_cli, silver
from transforms.seller_risk.facts import build_seller_orders

pytestmark = pytest.mark.integration

OUT = "gold.seller_risk_features"


def _order(oid, seller, day, customer, status="delivered", price=10.0):
    """An order row and its item; `day` is a day of June 2025."""
    at = dt.datetime(2025, 6, day, 10)
    order = {
        "order_id": oid,
        "customer_id": customer,
        "status": status,
        "purchased_at": at,
        "delivered_carrier_at": at + dt.timedelta(days=1, hours=2),
        "estimated_delivery_at": at + dt.timedelta(days=8),
    }
    item = {"order_id": oid, "order_item_id": 1, "product_id": f"p_{seller}", "seller_id": seller,
            "shipping_limit_at": at + dt.timedelta(days=1), "price": price, "freight_value": 1.5}  # fmt: skip
    return order, item


def silver_tables(extra_orders=()):
    plan = [
        (f"a{d}", "s1", d, f"c{d % 3}", "canceled" if d == 5 else "delivered") for d in range(1, 11)
    ]
    plan += [("b2", "s2", 2, "c1", "delivered"), ("b9", "s2", 9, "c7", "delivered"), *extra_orders]
    pairs = [_order(*p, price=10.0 + i) for i, p in enumerate(plan)]
    old_order, old_item = _order("z1", "s3", 1, "c2")  # s3: last sale long ago, still active
    old_order["purchased_at"] = old_item["shipping_limit_at"] = dt.datetime(2025, 5, 1)
    orphan = {"order_id": "x1", "order_item_id": 1, "product_id": "p_s2", "seller_id": "s2",
              "shipping_limit_at": "2025-06-11 08:00:00", "price": 30.0, "freight_value": 2.0}  # fmt: skip
    return {
        "orders": [o for o, _ in pairs] + [old_order],
        "order_items": [i for _, i in pairs] + [old_item, orphan],
        "customers": [{"customer_id": f"c{i}", "customer_unique_id": f"u{i % 2}", "created_at": "2025-06-01 00:00:00"} for i in range(8)],
        "reviews": [{"review_id": f"r{d}", "order_id": f"a{d}", "score": d % 5 + 1, "comment_message": "Great product, fast delivery, recommend", "created_at": f"2025-06-{d + 1:02d} 09:00:00"} for d in range(1, 10)],
        "after_sales": [{"case_id": "k1", "order_id": "a1", "seller_id": "s1", "case_type": "REFUND", "amount": 11.0, "opened_at": "2025-06-05 00:00:00"}],
        "products": [{"product_id": f"p_s{i}", "seller_id": f"s{i}", "category": "cat", "listed_at": "2025-01-01 00:00:00"} for i in (1, 2, 3)],
        "sellers": [{"seller_id": f"s{i}", "registered_at": "2024-01-01 00:00:00"} for i in (1, 2, 3)],
    }  # fmt: skip


def write_silver(spark, lake_root, tables):
    lake = Lakehouse(spark, str(lake_root))
    for name, rows in tables.items():
        lake.overwrite(silver(spark, name, rows), f"silver.{name}")
    return lake


def _run(lake_root, *dates):
    assert run_cli(lake_root, "run", "seller_risk_features", *dates) == 0


def _day(lake, day):
    return lake.read(OUT).where(F.col("as_of_date") == day).orderBy("seller_id")


def _snapshot(df):
    """The rows as they are now (a cached Delta read could be served to a later read)."""
    return df.sparkSession.createDataFrame(df.collect(), df.schema)


def _last_run_extra(lake, status: str | None = None):
    runs = lake.read("ops.job_runs")
    if status is not None:
        runs = runs.where(F.col("status") == status)
    row = runs.orderBy(F.desc("ended_at")).first()
    return row, json.loads(row["table_counts"]).get("_extra", {})


def test_default_date_rerun_idempotent_and_missing_optional_tables(spark, lake_root):
    tables = silver_tables()
    del tables["after_sales"], tables["sellers"]  # optional: null features and a note
    lake = write_silver(spark, lake_root, tables)
    _run(lake_root)
    first = _snapshot(lake.read(OUT).orderBy("seller_id"))
    version = lake.version(OUT)
    _run(lake_root)  # the same inputs: nothing to do, nothing written
    assert_df_equality(lake.read(OUT).orderBy("seller_id"), first)
    assert lake.version(OUT) == version
    assert _last_run_extra(lake)[0].status == "NO_OP"
    _run(lake_root, "--force")  # recomputed on request: the same rows
    assert_df_equality(lake.read(OUT).orderBy("seller_id"), first)
    rows = first.collect()
    # The latest day in the input is the shipping limit of the item without order row.
    assert [(r.seller_id, r.as_of_date) for r in rows] == [
        ("s1", dt.date(2025, 6, 11)),
        ("s2", dt.date(2025, 6, 11)),
        ("s3", dt.date(2025, 6, 11)),
    ]
    assert {(r.refund_rate_30d, r.account_age_days) for r in rows} == {(None, None)}
    assert (rows[0].orders_30d, rows[1].orders_1d) == (10, 1)  # the rest is computed
    run, extra = _last_run_extra(lake, "SUCCEEDED")
    # Read: the 14 order items (an aggregation copies none); written: the 3 feature rows.
    assert (run.status, run.logical_start, run.rows_read, run.rows_written) == (
        "SUCCEEDED",
        dt.date(2025, 6, 11),
        14,
        3,
    )
    assert json.loads(run.table_counts)["silver.order_items"] == {
        "read": 14,
        "written": 0,
        "quarantined": 0,
    }
    assert extra["order_items_without_order_row"] == 1
    assert extra["missing_inputs"] == ["silver.sellers", "silver.after_sales"]


def test_backfill_equals_single_days_and_a_rerun_touches_only_its_date(spark, lake_root):
    lake = write_silver(spark, lake_root, silver_tables())
    _run(lake_root, "--start", "2025-06-08", "--end", "2025-06-10")
    assert lake.read(OUT).count() == 9
    from_range = _snapshot(_day(lake, "2025-06-09"))
    _run(lake_root, "--date", "2025-06-09")
    assert_df_equality(_day(lake, "2025-06-09"), from_range)

    # New input for June 9 (s2 sells again); re-running June 10 alone must not rewrite June 9.
    before = {d: _snapshot(_day(lake, d)) for d in ("2025-06-08", "2025-06-09", "2025-06-10")}
    files_09 = {r[0] for r in _day(lake, "2025-06-09").select(F.input_file_name()).collect()}
    write_silver(
        spark, lake_root, silver_tables(extra_orders=[("b9x", "s2", 9, "c5", "delivered")])
    )
    _run(lake_root, "--date", "2025-06-10")
    assert_df_equality(_day(lake, "2025-06-08"), before["2025-06-08"])
    assert_df_equality(_day(lake, "2025-06-09"), before["2025-06-09"])
    assert {
        r[0] for r in _day(lake, "2025-06-09").select(F.input_file_name()).collect()
    } == files_09
    orders_7d = {r.seller_id: r.orders_7d for r in _day(lake, "2025-06-10").collect()}
    old_7d = {r.seller_id: r.orders_7d for r in before["2025-06-10"].collect()}
    assert (old_7d["s2"], orders_7d["s2"], orders_7d["s1"]) == (1, 2, old_7d["s1"])


def test_quality_gate_failure_publishes_nothing_and_records_the_expectations(spark, lake_root):
    tables = silver_tables()
    lake = write_silver(spark, lake_root, tables)
    _run(lake_root, "--date", "2025-06-09")
    published = _snapshot(lake.read(OUT))
    # A broken upstream: one seller twice in silver.sellers duplicates its feature rows.
    tables["sellers"].append({"seller_id": "s1", "registered_at": "2024-02-01 00:00:00"})
    write_silver(spark, lake_root, {"sellers": tables["sellers"]})
    assert (
        run_cli(lake_root, "run", "seller_risk_features", "--date", "2025-06-09") == 3
    )  # EXIT_GATE: not worth a retry
    assert_df_equality(lake.read(OUT), published)  # the partition was not replaced
    run, extra = _last_run_extra(lake)
    assert run.status == "FAILED"
    assert "QualityGateError" in run.error_message
    gate = extra["quality"][OUT]
    assert gate["success"] is False
    assert any(f.startswith("unique(seller_id, as_of_date)") for f in gate["failed"]), gate
    assert any(f.startswith("one row per active seller and day") for f in gate["failed"]), gate
    docs = Path(gate["docs"])
    assert docs.is_file() and docs.is_relative_to(Path(lake_root))


def test_seller_orders_follow_silver_changes_and_rebuild_on_request(spark, lake_root, monkeypatch):
    """gold.seller_orders takes silver's changes (a line moved to another seller, a line
    deleted, a buyer re-dated) from the change feeds, and equals a rebuild from silver."""
    lake = write_silver(spark, lake_root, silver_tables())
    path = {t: lake.path(f"silver.{t}") for t in ("order_items", "orders", "customers")}
    for t in path:
        lake.ensure_change_feed(f"silver.{t}")
    _run(lake_root, "--date", "2025-06-10")
    assert _last_run_extra(lake)[1]["seller_orders_refresh"]["mode"] == "rebuilt"

    spark.sql(f"UPDATE delta.`{path['order_items']}` SET seller_id = 's2' WHERE order_id = 'a3'")
    spark.sql(f"DELETE FROM delta.`{path['order_items']}` WHERE order_id = 'b9'")
    spark.sql(
        f"UPDATE delta.`{path['customers']}` SET created_at = TIMESTAMP '2025-06-09 00:00:00' "
        "WHERE customer_id = 'c1'"
    )
    _run(lake_root, "--date", "2025-06-10")
    refresh = _last_run_extra(lake)[1]["seller_orders_refresh"]
    # a3, b9, and every order of c1: a1, a4, a7, a10, b2
    assert (refresh["mode"], refresh["orders_changed"]) == ("incremental", 7)

    def rebuilt():
        tables = {t: lake.read(f"silver.{t}") for t in path}
        return build_seller_orders(tables["order_items"], tables["orders"], tables["customers"])

    held = lake.read("gold.seller_orders")
    assert_df_equality(held, rebuilt(), ignore_row_order=True, ignore_nullable=True)
    pairs = {(r.seller_id, r.order_id) for r in held.select("seller_id", "order_id").collect()}
    assert ("s2", "a3") in pairs and ("s1", "a3") not in pairs
    assert not {p for p in pairs if p[1] == "b9"}

    _run(lake_root, "--date", "2025-06-10", "--full-refresh")  # runs although nothing changed
    refresh = _last_run_extra(lake)[1]["seller_orders_refresh"]
    assert (refresh["mode"], refresh["reason"]) == ("rebuilt", "--full-refresh")
    assert_df_equality(
        lake.read("gold.seller_orders"), rebuilt(), ignore_row_order=True, ignore_nullable=True
    )
    # Rows kept under another derivation of the seller-orders are not reused.
    monkeypatch.setattr(seller_risk_features, "SELLER_ORDERS_DERIVATION", "seller_orders_v0")
    _run(lake_root, "--date", "2025-06-10", "--force")
    refresh = _last_run_extra(lake)[1]["seller_orders_refresh"]
    assert refresh["mode"] == "rebuilt" and refresh["reason"].startswith("derivation changed")
