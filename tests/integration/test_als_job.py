"""als_embeddings end to end on the demo's interactions: stable ids, model gate, stock, export."""

from __future__ import annotations

import json

import boto3
import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from devtools.s3_server import moto_server
from lakecore.io import Lakehouse
from tests.conftest import run_cli

pytestmark = pytest.mark.integration

JOB = "als_embeddings"
GOLD = ("gold.user_embeddings", "gold.item_embeddings", "gold.user_recommendations",
        "gold.similar_items", "gold.popular_items")  # fmt: skip


# Views weigh nothing here, so the run's counts must account for rows it did not train on.
LIGHT = (
    "--set=als.max_iter=4",
    "--set=als.checkpoint_interval=2",
    "--set=als.event_weights.view=0",
)


def delta_version(lake: Lakehouse, table: str) -> int:
    return DeltaTable.forPath(lake.spark, lake.path(table)).history(1).first()["version"]


def table_versions(lake: Lakehouse) -> dict[str, int]:
    """Each output table's current Delta version."""
    return {t: delta_version(lake, t) for t in (*GOLD, "gold.model_metrics")}


def unchanged_since(lake: Lakehouse, table: str, version: int) -> bool:
    before = lake.spark.read.format("delta").option("versionAsOf", version).load(lake.path(table))
    now = lake.read(table)
    return before.exceptAll(now).isEmpty() and now.exceptAll(before).isEmpty()


def ids(lake: Lakehouse, table: str) -> dict[str, int]:
    return {
        r[0]: r[1] for r in lake.read(table).select(table.split("_")[-2] + "_id", "idx").collect()
    }


def versions(lake: Lakehouse, day: str) -> set[str]:
    return {
        r[0]
        for t in GOLD
        for r in lake.read(t)
        .where(F.col("as_of_date") == day)
        .select("model_version")
        .distinct()
        .collect()
    }


def test_two_runs_keep_ids_gate_a_worse_model_and_skip_out_of_stock(
    demo_lake, tmp_path, monkeypatch
):
    lake = Lakehouse(demo_lake.spark, str(tmp_path / "lake"))
    events = demo_lake.read("silver.interactions")
    end = events.agg(F.max(F.to_date("event_ts"))).first()[0]
    d1 = str(end.replace(day=1))
    lake.overwrite(demo_lake.read("silver.products"), "silver.products")
    lake.overwrite(events.where(F.col("event_ts") < d1), "silver.interactions")
    # Fewer iterations than the default: nothing here depends on the model's quality.
    assert run_cli(lake.root, "run", JOB, "--date", d1, *LIGHT) == 0
    first_users, first_items = ids(lake, "gold.als_user_ids"), ids(lake, "gold.als_item_ids")
    v1 = versions(lake, d1)
    assert len(v1) == 1
    # Read: the interactions trained on; the id maps count the ids they gained as written.
    run = lake.read("ops.job_runs").orderBy(F.desc("ended_at")).first()
    counts = json.loads(run.table_counts)
    read = lake.read("silver.interactions").count()
    assert run.rows_read == counts["silver.interactions"]["read"] == read > 0
    assert counts["gold.als_user_ids"] == {"read": 0, "written": len(first_users), "quarantined": 0}
    extra = counts["_extra"]
    # Every interaction read is accounted for: weighted, or of a type without weight.
    views = lake.read("silver.interactions").where("event_type = 'view'").count()
    assert 0 < views < read
    assert extra["interactions_without_weight"] == views
    assert extra["interactions_weighted"] == read - views
    # ALS checkpointed (interval 2 of 4 iterations) and the run removed its checkpoints.
    assert extra["als_checkpoints_removed"] > 0
    assert not any((tmp_path / "lake" / "_checkpoints" / JOB).iterdir())

    # The same date again: the same version, and every output table as it was
    # (the metrics row included: a re-run does not re-stamp evaluated_at).
    before = table_versions(lake)
    assert run_cli(lake.root, "run", JOB, "--date", d1, *LIGHT) == 0
    assert versions(lake, d1) == v1
    assert all(unchanged_since(lake, t, v) for t, v in before.items())

    # Day 2: all events; the most popular item is out of stock everywhere.
    lake.overwrite(events, "silver.interactions")
    top = lake.read("gold.popular_items").where("scope = 'overall' AND rank = 1").first()["item_id"]
    # Stock filtering on, but no stock table yet: refused before anything is written.
    ids_version = delta_version(lake, "gold.als_user_ids")
    assert run_cli(lake.root, "run", JOB, "--date", str(end), "--set=als.stock.enabled=true") != 0
    failed = lake.read("ops.job_runs").orderBy(F.desc("ended_at")).first()
    assert failed.status == "FAILED"
    assert "als_embeddings.yaml" in failed.error_message
    assert "als.stock.table" in failed.error_message
    assert delta_version(lake, "gold.als_user_ids") == ids_version
    snapshot = demo_lake.spark.createDataFrame(
        [("L1", top, 0, True), ("L2", top, 4, False), ("L1", "other", 9, True)],
        "location_id string, sku string, available long, is_current boolean",
    )
    lake.overwrite(snapshot, "gold.inventory_book_snapshot")
    with moto_server() as url:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        s3.create_bucket(Bucket="serving")
        export = ["--set=als.export.enabled=true", "--set=als.export.bucket=serving",
                  f"--set=als.export.endpoint_url={url}"]  # fmt: skip
        day2 = ["--date", str(end), *LIGHT, "--set=als.evaluate=true",
                "--set=als.stock.enabled=true", "--set=als.gate.ndcg_tolerance=1.0"]  # fmt: skip
        assert run_cli(lake.root, "run", JOB, *day2, *export) == 0
        (v2,) = versions(lake, str(end))
        manifest = json.loads(
            s3.get_object(Bucket="serving", Key=f"recommendations/als/{v2}/manifest.json")[
                "Body"
            ].read()
        )
    assert (
        manifest["files"]["user_recommendations"]["rows"]
        == lake.read("gold.user_recommendations").where(F.col("model_version") == v2).count()
    )

    users, items = ids(lake, "gold.als_user_ids"), ids(lake, "gold.als_item_ids")
    assert {u: users[u] for u in first_users} == first_users  # nobody's index moved
    assert {i: items[i] for i in first_items} == first_items
    new = sorted(idx for i, idx in items.items() if i not in first_items)
    assert new == list(
        range(max(first_items.values()) + 1, max(first_items.values()) + 1 + len(new))
    )

    recs = lake.read("gold.user_recommendations").where(F.col("model_version") == v2)
    assert recs.where(F.col("item_id") == top).count() == 0
    assert (
        lake.read("gold.popular_items")
        .where((F.col("model_version") == v2) & (F.col("item_id") == top))
        .count()
        == 0
    )
    purchased = events.where("event_type = 'purchase'").select("user_id", "item_id")
    assert recs.join(purchased, ["user_id", "item_id"], "left_semi").count() == 0
    assert recs.groupBy("user_id").count().agg(F.max("count")).first()[0] == 10

    stored = lake.read("gold.model_metrics").where(f"model_version = '{v2}'")
    by_model = {r["model"]: r for r in stored.collect()}
    assert by_model["als"]["beats_popularity"] == (
        by_model["als"]["ndcg_at_10"] > by_model["popularity"]["ndcg_at_10"]
    )
    assert by_model["als"]["published"] and not by_model["popularity"]["published"]

    # The published model scored far better than anything can now: the next model is refused.
    DeltaTable.forPath(lake.spark, lake.path("gold.model_metrics")).update(
        f"model = 'als' AND model_version = '{v2}'", {"ndcg_at_10": "ndcg_at_10 + 1.0"}
    )
    other = ["--set=als.max_iter=2", "--set=als.gate.ndcg_tolerance=0.5"]
    assert (
        run_cli(lake.root, "run", JOB, "--date", str(end), "--set=als.evaluate=true", *other) == 0
    )
    assert versions(lake, str(end)) == {v2} and versions(lake, d1) == v1
    metrics = {
        r["model_version"]: r
        for r in lake.read("gold.model_metrics").where("model = 'als'").collect()
    }
    assert len(metrics) == 3
    (v3,) = set(metrics) - v1 - {v2}
    assert metrics[v2]["published"] and not metrics[v3]["published"]
    assert "not published" in metrics[v3]["note"] and v2 in metrics[v3]["note"]
    assert metrics[v3]["ndcg_at_10"] < metrics[v2]["ndcg_at_10"] - 0.5

    # The same refused version again, once the published model's score is back to
    # what it was: now within tolerance, it is published, and its row says so.
    DeltaTable.forPath(lake.spark, lake.path("gold.model_metrics")).update(
        f"model = 'als' AND model_version = '{v2}'", {"ndcg_at_10": "ndcg_at_10 - 1.0"}
    )
    assert (
        run_cli(lake.root, "run", JOB, "--date", str(end), "--set=als.evaluate=true", *other) == 0
    )
    assert versions(lake, str(end)) == {v3}
    row = lake.read("gold.model_metrics").where(f"model = 'als' AND model_version = '{v3}'")
    (row,) = row.collect()
    assert row["published"] and "not published" not in row["note"]
    assert row["evaluated_at"] == metrics[v3]["evaluated_at"]  # the first evaluation's row
