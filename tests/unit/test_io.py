"""Lakehouse writes that streams rely on to stay idempotent."""

from __future__ import annotations


def test_append_once_adds_each_app_version_once(lake, spark):
    rows = spark.createDataFrame([(1, "a"), (2, "b")], "id long, v string")
    lake.append_once(rows, "ops.demo_progress", "job:src@q1", 0)
    lake.append_once(rows, "ops.demo_progress", "job:src@q1", 0)  # a replayed batch 0
    assert lake.count("ops.demo_progress") == 2
    lake.append_once(rows.limit(1), "ops.demo_progress", "job:src@q1", 1)
    lake.append_once(rows, "ops.demo_progress", "job:src@q1", 0)  # older than the latest: skipped
    assert lake.count("ops.demo_progress") == 3
    # Another stream (new checkpoint, other source) has its own versions.
    lake.append_once(rows, "ops.demo_progress", "job:src@q2", 0)
    assert lake.count("ops.demo_progress") == 5


def test_accumulate_applies_a_guarded_batch_once(lake, spark):
    schema = "k string, n long, last_batch_id long"
    guard = "NOT (t.last_batch_id >= s.last_batch_id)"
    sets = {"n": "t.n + s.n", "last_batch_id": "s.last_batch_id"}
    lake.accumulate(spark.createDataFrame([("a", 1, 0)], schema), "gold.totals", ["k"], sets, guard)
    batch = spark.createDataFrame([("a", 5, 1), ("b", 2, 1)], schema)
    lake.accumulate(batch, "gold.totals", ["k"], sets, guard)
    lake.accumulate(batch, "gold.totals", ["k"], sets, guard)  # the replay moves nothing
    got = {r.k: r.n for r in lake.read("gold.totals").collect()}
    assert got == {"a": 6, "b": 2}


def test_accumulate_with_a_transaction_id_commits_each_version_once(lake, spark):
    """Delta's idempotent MERGE: the first call creates the table, a replayed version
    (same app id) changes nothing, the next version adds, another app id has its own
    versions, and the session is left without a transaction id (a later MERGE applies)."""
    sets = {"n": "t.n + s.n"}
    one = spark.createDataFrame([("a", 1)], "k string, n long")
    for version in (0, 0, 1, 1):
        lake.accumulate(one, "gold.sums", ["k"], sets, None, txn=("sums:q1", version))
    assert lake.read("gold.sums").first().n == 2
    lake.accumulate(one, "gold.sums", ["k"], sets, None, txn=("sums:q2", 0))
    lake.accumulate(one, "gold.sums", ["k"], sets, None)
    lake.accumulate(one, "gold.sums", ["k"], sets, None)
    assert lake.read("gold.sums").first().n == 5
    assert spark.conf.get("spark.databricks.delta.write.txnAppId", None) is None


def test_ensure_columns_adds_only_what_is_missing(lake, spark):
    lake.overwrite(spark.createDataFrame([(1,)], "id long"), "bronze.old")
    assert lake.ensure_columns("bronze.old", {"id": "long", "tag": "string"}) == ["tag"]
    assert lake.ensure_columns("bronze.old", {"tag": "string"}) == []
    assert [(r.id, r.tag) for r in lake.read("bronze.old").collect()] == [(1, None)]
    assert lake.ensure_columns("bronze.absent", {"tag": "string"}) == []
