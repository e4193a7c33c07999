"""The event-sourced replay: windows, reservations, chains, snapshots and late events."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality

from transforms.inventory.outputs import SNAPSHOT_SCHEMA
from transforms.inventory.replay import late_starts, reconcile

T0 = dt.datetime(2025, 6, 1)
EVENTS = (
    "location_id string, sku string, event_id string, event_ts timestamp, arrival timestamp, "
    "d_on_hand long, d_reserved long"
)
COUNTS = (
    "count_id string, location_id string, sku string, counted_qty long, count_ts timestamp, "
    "method string, abc_class string, unit_cost double, tol_bp long, tol_min long"
)
OUT = (
    "count_id string, book_qty long, book_reserved long, variance_units long, "
    "adjustment_units long, on_hand_after long, n_events long"
)
OUT_COLUMNS = [c.split()[0] for c in OUT.split(", ")]


def t(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def ev(eid, minute, d_on_hand=0, d_reserved=0, arrived=None, sku="S"):
    return (
        "L",
        sku,
        eid,
        t(minute),
        t(arrived if arrived is not None else minute + 1),
        d_on_hand,
        d_reserved,
    )


def cnt(cid, minute, counted, sku="S"):
    return (cid, "L", sku, counted, t(minute), "CYCLE", "A", 2.0, 100, 1)


BASE_EVENTS = [
    ev("e1", 0, d_on_hand=100),
    ev("e2", 10, d_reserved=5),  # RESERVE: available -> reserved
    ev("e3", 20, d_on_hand=-10),
    ev("e4", 40, d_reserved=-5),  # RELEASE
    ev("e5", 50, d_on_hand=-3),
    ev("e6", 70, d_on_hand=-1),
    ev("e7", 30, d_on_hand=7, sku="T"),  # at the count's instant: in its window
    ev("e8", 31, d_on_hand=1, sku="T"),  # after the pair's last count: not replayed
    ("L", None, "e9", t(5), t(6), 50, 0),  # null sku: belongs to no count
]


def test_chain_from_zero_with_reservations_adjustment_and_boundary(spark):
    events = spark.createDataFrame(BASE_EVENTS, EVENTS)
    counts = spark.createDataFrame(
        [cnt("c1", 30, 85), cnt("c2", 60, 82), cnt("c3", 30, 7, sku="T")], COUNTS
    )
    history = spark.createDataFrame([], SNAPSHOT_SCHEMA)
    got = reconcile(events, counts, history).select(*OUT_COLUMNS)
    expected = spark.createDataFrame(
        [
            # 100 - 10 = 90 on the books, 5 of them reserved; counted 85: adjusted to 85.
            ("c1", 90, 5, -5, -5, 85, 3),
            # From the adjusted 85: RELEASE, -3 -> 82 = counted; e6 comes after.
            ("c2", 82, 0, 0, 0, 82, 2),
            ("c3", 7, 0, 0, 0, 7, 1),
        ],
        OUT,
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def snapshot_row(cid, minute, book, adj, on_hand, reserved, through):
    return (
        "L",
        "S",
        cid,
        t(minute),
        book,
        adj,
        on_hand,
        reserved,
        on_hand - reserved,
        t(through),
        None,
        None,
    )


def test_late_event_recomputes_from_the_snapshot_before_it(spark):
    events = spark.createDataFrame(
        [
            *BASE_EVENTS,
            ev("late", 45, d_on_hand=-2, arrived=150),  # after c2 was reconciled at 100
            ev("known", 20, d_on_hand=0, arrived=90),  # arrived before c1's cut-off: not late
        ],
        EVENTS,
    )
    counts = spark.createDataFrame(
        [cnt("c1", 30, 85), cnt("c2", 60, 82), cnt("c4", 80, 79)], COUNTS
    )
    history = spark.createDataFrame(
        [
            snapshot_row("c1", 30, 90, -5, 85, 5, through=100),
            snapshot_row("c2", 60, 82, 0, 82, 0, through=100),
        ],
        SNAPSHOT_SCHEMA,
    )
    assert [tuple(r) for r in late_starts(events, history).collect()] == [("L", "S", t(60))]
    got = reconcile(events, counts, history).select(*OUT_COLUMNS)
    expected = spark.createDataFrame(
        [
            # From c1's snapshot (85, 5 reserved): RELEASE, -3, and the late -2 -> 80.
            ("c2", 80, 0, 2, 2, 82, 3),
            # The new count carries on from c2's new state: 82 - 1 = 81, counted 79.
            ("c4", 81, 0, -2, -2, 79, 1),
        ],
        OUT,
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_nothing_new_and_nothing_late_recomputes_nothing(spark):
    events = spark.createDataFrame(BASE_EVENTS[:6], EVENTS)
    counts = spark.createDataFrame([cnt("c1", 30, 85)], COUNTS)
    history = spark.createDataFrame(
        [snapshot_row("c1", 30, 90, -5, 85, 5, through=100)], SNAPSHOT_SCHEMA
    )
    assert reconcile(events, counts, history).count() == 0


def test_broadcast_pair_tables_keep_the_ledger_unshuffled_and_the_result(spark):
    """With the per-pair tables broadcast, the ledger joins need no shuffle of the
    ledger (a broadcast hash join even with auto-broadcast off) and give the same rows."""
    events = spark.createDataFrame(
        [*BASE_EVENTS, ev("late", 45, d_on_hand=-2, arrived=150)], EVENTS
    )
    counts = spark.createDataFrame([cnt("c2", 60, 82), cnt("c4", 80, 79)], COUNTS)
    history = spark.createDataFrame(
        [snapshot_row("c1", 30, 90, -5, 85, 5, through=100)], SNAPSHOT_SCHEMA
    )
    previous = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")
    try:
        plain = reconcile(events, counts, history)
        hinted = reconcile(events, counts, history, broadcast=(True, True))
        assert "BroadcastHashJoin" not in plain._jdf.queryExecution().executedPlan().toString()
        plan = hinted._jdf.queryExecution().executedPlan().toString()
        assert plan.count("BroadcastHashJoin") >= 2
        # From c1's snapshot (85, 5 reserved): RELEASE, the late -2, -3 -> 80; then -1 -> 81.
        expected = spark.createDataFrame(
            [("c2", 80, 0, 2, 2, 82, 3), ("c4", 81, 0, -2, -2, 79, 1)], OUT
        )
        for got in (hinted, plain):
            assert_df_equality(
                got.select(*OUT_COLUMNS), expected, ignore_row_order=True, ignore_nullable=True
            )
    finally:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", previous)
