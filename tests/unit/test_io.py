"""Lakehouse writes that streams rely on to stay idempotent."""

from __future__ import annotations


def test_append_batch_adds_a_replayed_batch_once(lake, spark):
    schema = "stream string, batch long, v string"
    batch0 = spark.createDataFrame([("s@q1", 0, "a"), ("s@q1", 0, "b")], schema)
    key0 = {"stream": "s@q1", "batch": 0}
    lake.append_batch(batch0, "ops.demo_progress", key0, may_replay=True)  # a new table
    assert lake.count("ops.demo_progress") == 2
    # The first batch of a restarted query, whose first attempt committed: nothing added.
    assert lake.append_batch(batch0, "ops.demo_progress", key0, may_replay=True) == 0
    assert lake.count("ops.demo_progress") == 2
    # A first batch whose first attempt did not commit (the other stream's rows with the
    # same batch id are not its rows).
    other = spark.createDataFrame([("s@q2", 1, "c")], schema)
    lake.append_batch(other, "ops.demo_progress", {"stream": "s@q2", "batch": 1}, may_replay=False)
    batch1 = spark.createDataFrame([("s@q1", 1, "d")], schema)
    lake.append_batch(batch1, "ops.demo_progress", {"stream": "s@q1", "batch": 1}, may_replay=True)
    assert lake.count("ops.demo_progress") == 4
    # Later batches of a run cannot be replays: appended without looking.
    lake.append_batch(batch1, "ops.demo_progress", {"stream": "s@q1", "batch": 1}, may_replay=False)
    assert lake.count("ops.demo_progress") == 5
    # Each append names its batch in its commit; other commits name none.
    assert lake.batch_of("ops.demo_progress", 0) == key0
    assert lake.batch_of("ops.demo_progress", 1) == {"stream": "s@q2", "batch": 1}
    lake.append(other, "ops.demo_progress")
    assert lake.batch_of("ops.demo_progress", 4) is None
    assert lake.batch_of("ops.demo_progress", 99) is None  # no such commit
    # No txn ids: the appends leave none for a later write to check.
    log = spark.read.json(f"{lake.path('ops.demo_progress')}/_delta_log/*.json")
    assert "txn" not in log.columns


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
