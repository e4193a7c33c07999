"""Event-sourced book inventory at each count, from the last reconciled snapshot.

`history` is gold.inventory_book_snapshot: one row per reconciled count with
the state right after it (on_hand after any adjustment, reserved) and
`reconciled_through`, the ingestion cut-off it was computed with. For each
(location, sku) a run recomputes a chain of counts, oldest first:

- new counts (not in the history), and reconciled counts that a late event
  hits: an event that arrived at or after a count's cut-off with an event time
  at or before the count;
- every reconciled count after the first of those (the book carries forward).

The chain starts from the last snapshot before it (or zero stock), and each
count's book = the state after the previous count + the deltas of the events
with event time in (previous count, this count]. A count outside tolerance is
adjusted to the counted quantity; one within keeps its book. Events are
assigned to their count window by a per-pair array, so each event is joined
once, however many counts its pair has.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.inventory.ledger import PAIR
from transforms.inventory.tolerance import Tolerance, is_outside, with_tolerance

KEY = list(PAIR)
# One element of a pair's chain, in replay order (struct fields sort in this order).
CHAIN_FIELDS = (
    "count_ts",
    "count_id",
    "counted_qty",
    "d_on_hand",
    "d_reserved",
    "tol_bp",
    "tol_min",
)
STEP = T.StructType(
    [
        T.StructField("count_id", T.StringType()),
        T.StructField("book_qty", T.LongType()),
        T.StructField("book_reserved", T.LongType()),
        T.StructField("variance_units", T.LongType()),
        T.StructField("adjustment_units", T.LongType()),
        T.StructField("on_hand_after", T.LongType()),
    ]
)


COUNT_COLUMNS = ("count_id", "location_id", "sku", "counted_qty", "count_ts", "method")


def with_count_errors(
    counts: DataFrame, items: DataFrame, tolerances: Mapping[str, Tolerance]
) -> DataFrame:
    """Counts with their item's class, cost and tolerance, and `reasons` they cannot be used."""
    item = items.select("sku", "abc_class", "unit_cost")
    joined = counts.select(*COUNT_COLUMNS).join(item, on="sku", how="left")
    checks = [
        F.when(F.col("abc_class").isNull(), F.lit("unknown_sku")),
        F.when(F.col("counted_qty").isNull(), F.lit("missing_value:counted_qty")),
        F.when(F.col("counted_qty") < 0, F.lit("negative_counted_qty")),
        F.when(F.col("count_ts").isNull(), F.lit("missing_value:count_ts")),
        F.when(F.col("location_id").isNull(), F.lit("missing_value:location_id")),
    ]
    return (
        joined.transform(with_tolerance, tolerances)
        .withColumn("reasons", F.array_compact(F.array(*checks)))
        .withColumn(
            "reasons",
            F.when(
                F.col("abc_class").isNotNull() & F.col("tol_bp").isNull(),
                F.array_append("reasons", F.lit("no_tolerance_for_class")),
            ).otherwise(F.col("reasons")),
        )
    )


def _first(array: str, predicate) -> Column:
    """The first element of a sorted array that satisfies `predicate` (null if none)."""
    return F.get(F.filter(array, predicate), 0)


def _small(df: DataFrame, broadcast: bool) -> DataFrame:
    """A per-pair table joined to the ledger: broadcast when the caller knows it is small
    (Spark's size estimate after joins and `collect_list` is far too high to decide)."""
    return F.broadcast(df) if broadcast else df


def late_starts(events: DataFrame, history: DataFrame, broadcast: bool = False) -> DataFrame:
    """Per pair, the earliest reconciled count that a late event hits (`late_from_ts`)."""
    marks = history.groupBy(*KEY).agg(
        F.array_sort(F.collect_list(F.struct("as_of_ts", "reconciled_through"))).alias("marks")
    )
    marks = _small(marks, broadcast)

    def is_hit(m: Column) -> Column:
        return (m["as_of_ts"] >= F.col("event_ts")) & (m["reconciled_through"] <= F.col("arrival"))

    return (
        events.join(marks, on=KEY, how="inner")
        .select(*KEY, _first("marks", is_hit)["as_of_ts"].alias("late_from_ts"))
        .where(F.col("late_from_ts").isNotNull())
        .groupBy(*KEY)
        .agg(F.min("late_from_ts").alias("late_from_ts"))
    )


def chain_starts(counts: DataFrame, history: DataFrame, late: DataFrame) -> DataFrame:
    """Per pair to recompute, `from_ts`: its first new count or its first late-hit count."""
    new = counts.join(history.select("count_id"), on="count_id", how="left_anti")
    new_from = new.groupBy(*KEY).agg(F.min("count_ts").alias("new_from_ts"))
    return late.join(new_from, on=KEY, how="full").select(
        *KEY, F.least("late_from_ts", "new_from_ts").alias("from_ts")
    )


def filter_in_scope(counts: DataFrame, chains: DataFrame) -> DataFrame:
    """The counts each chain recomputes: its pair's counts from `from_ts` on."""
    return counts.join(chains, on=KEY, how="inner").where(F.col("count_ts") >= F.col("from_ts"))


def start_states(history: DataFrame, chains: DataFrame) -> DataFrame:
    """Each chain's starting state: the last snapshot before `from_ts`, else zero stock."""
    before = history.join(chains, on=KEY, how="inner").where(F.col("as_of_ts") < F.col("from_ts"))
    last = before.groupBy(*KEY).agg(
        F.max(F.struct("as_of_ts", "count_id", "on_hand", "reserved")).alias("s")
    )
    return chains.join(last, on=KEY, how="left").select(
        *KEY,
        "from_ts",
        F.col("s.as_of_ts").alias("start_ts"),
        F.coalesce(F.col("s.on_hand"), F.lit(0).cast("long")).alias("start_on_hand"),
        F.coalesce(F.col("s.reserved"), F.lit(0).cast("long")).alias("start_reserved"),
    )


def window_deltas(
    events: DataFrame, scope: DataFrame, starts: DataFrame, broadcast: bool = False
) -> DataFrame:
    """Per count in scope, the deltas of the events in its window (previous count, count]."""
    marks = scope.groupBy(*KEY).agg(
        F.array_sort(F.collect_list(F.struct("count_ts", "count_id"))).alias("marks")
    )
    bounds = _small(marks.join(starts.select(*KEY, "start_ts"), on=KEY, how="inner"), broadcast)
    is_after_start = F.col("start_ts").isNull() | (F.col("event_ts") > F.col("start_ts"))
    window = _first("marks", lambda m: m["count_ts"] >= F.col("event_ts"))
    return (
        events.join(bounds, on=KEY, how="inner")
        .where(is_after_start)
        .select(window["count_id"].alias("count_id"), "d_on_hand", "d_reserved")
        .where(F.col("count_id").isNotNull())
        .groupBy("count_id")
        .agg(
            F.sum("d_on_hand").alias("d_on_hand"),
            F.sum("d_reserved").alias("d_reserved"),
            F.count(F.lit(1)).alias("n_events"),
        )
    )


def _step(acc: Column, x: Column) -> Column:
    """One count of a chain: book, variance, adjustment, and the state after it."""
    book = acc["on_hand"] + x["d_on_hand"]
    reserved = acc["reserved"] + x["d_reserved"]
    variance = x["counted_qty"] - book
    outside = is_outside(variance, book, x["tol_bp"], x["tol_min"])
    adjustment = F.when(outside, variance).otherwise(F.lit(0).cast("long"))
    row = F.struct(
        x["count_id"].alias("count_id"),
        book.alias("book_qty"),
        reserved.alias("book_reserved"),
        variance.alias("variance_units"),
        adjustment.alias("adjustment_units"),
        (book + adjustment).alias("on_hand_after"),
    )
    return F.struct(
        (book + adjustment).alias("on_hand"),
        reserved.alias("reserved"),
        F.concat(acc["steps"], F.array(row)).alias("steps"),
    )


def fold_chains(scope: DataFrame, starts: DataFrame) -> DataFrame:
    """Replay each pair's counts in order (a fold: each count's book depends on whether
    the one before it was adjusted). Output: one STEP row per count in scope."""
    chains = scope.groupBy(*KEY).agg(
        F.array_sort(F.collect_list(F.struct(*CHAIN_FIELDS))).alias("chain")
    )
    init = F.struct(
        F.col("start_on_hand").alias("on_hand"),
        F.col("start_reserved").alias("reserved"),
        F.array().cast(T.ArrayType(STEP)).alias("steps"),
    )
    folded = chains.join(starts, on=KEY, how="inner").select(
        F.explode(F.aggregate("chain", init, _step)["steps"]).alias("r")
    )
    return folded.select("r.*")


def reconcile(
    events: DataFrame,
    counts: DataFrame,
    history: DataFrame,
    broadcast: tuple[bool, bool] = (False, False),
) -> DataFrame:
    """Every count to (re)reconcile with its book, variance and adjustment.

    `events`: `inventory_ledger.replay_events` output; `counts`: valid counts up to the
    cut-off with `abc_class`, `unit_cost`, `tol_bp`, `tol_min`; `history`: the snapshot.
    `broadcast`: (history's pairs, the counted pairs) are few enough to broadcast to the
    ledger joins, which then never shuffle the ledger.
    """
    chains = chain_starts(counts, history, late_starts(events, history, broadcast[0]))
    scope = filter_in_scope(counts, chains).drop("from_ts")
    starts = start_states(history, chains)
    deltas = window_deltas(events, scope, starts, broadcast[1])
    zero = F.lit(0).cast("long")
    with_deltas = scope.join(deltas, on="count_id", how="left").select(
        *scope.columns,
        *[F.coalesce(F.col(c), zero).alias(c) for c in ("d_on_hand", "d_reserved", "n_events")],
    )
    steps = fold_chains(with_deltas, starts)
    return with_deltas.join(steps, on="count_id", how="inner")
