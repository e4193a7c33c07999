"""All Delta IO of the platform: read, partition overwrite, MERGE, quarantine.

Tables live at `<lake root>/<layer>/<table>` and are addressed as
`layer.table` (`bronze.orders`, `ops.job_runs`). Jobs call this module;
transforms never see it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

CHANGE_FEED = "delta.enableChangeDataFeed"
IS_DELETE = "_is_delete"  # flags a deleted key in a change set (apply_changes)
# The key of the `userMetadata` entry naming the stream batch a commit appended.
APPEND_BATCH = "append_batch"

# stream: raw messages with Kafka's columns, the embedded stand-in for a topic.
LAYERS = ("stream", "bronze", "silver", "gold", "quarantine", "ops", "truth")


# Delta's idempotent DML (MERGE, UPDATE, DELETE) takes its transaction id from session
# confs, which every thread of the session shares: a txn write holds this lock, and so
# must any other write that can run beside it in the same process (a stream's lag note).
TXN_LOCK = threading.RLock()
_TXN_CONFS = (
    "spark.databricks.delta.write.txnAppId",
    "spark.databricks.delta.write.txnVersion",
    "spark.databricks.delta.write.txnVersion.autoReset.enabled",
)


class TableNotFoundError(Exception):
    pass


@contextmanager
def idempotent_dml(spark: SparkSession, txn: tuple[str, int] | None) -> Iterator[None]:
    """Within the block, Delta DML (MERGE, UPDATE, DELETE) run on `spark` commits once per
    (app id, version): a version at or below the one the table recorded for that app id
    is skipped (Delta's SetTransaction, like the writer options txnAppId/txnVersion).
    Only commands this session runs see it: a DataFrame write runs on its DataFrame's
    session (a stream batch's is Spark's clone), so it takes the writer options."""
    if txn is None:
        yield
        return
    app_id, version = txn
    with TXN_LOCK:
        values = (app_id, str(version), "false")
        for key, value in zip(_TXN_CONFS, values, strict=True):
            spark.conf.set(key, value)
        try:
            yield
        finally:
            for key in _TXN_CONFS:
                spark.conf.unset(key)


def split_name(name: str) -> tuple[str, str]:
    layer, sep, table = name.partition(".")
    if not sep or layer not in LAYERS or not table or "." in table:
        raise ValueError(f"table name {name!r} must be <layer>.<table> with layer in {LAYERS}")
    return layer, table


class Lakehouse:
    """Delta tables under one root (local path or s3a:// URI)."""

    def __init__(self, spark: SparkSession, root: str):
        self.spark = spark
        self.root = root.rstrip("/")

    # ------------------------------------------------------------------ naming
    def path(self, name: str) -> str:
        layer, table = split_name(name)
        return f"{self.root}/{layer}/{table}"

    def exists(self, name: str) -> bool:
        return DeltaTable.isDeltaTable(self.spark, self.path(name))

    def tables(self, layer: str | None = None) -> list[str]:
        """Delta tables present under the root, as `layer.table` names."""
        jvm = self.spark.sparkContext._jvm
        found = []
        for lay in [layer] if layer else LAYERS:
            base, fs = hadoop_path(self.spark, f"{self.root}/{lay}")
            if not fs.exists(base):
                continue
            for status in fs.listStatus(base):
                name = status.getPath().getName()
                if status.isDirectory() and fs.exists(
                    jvm.org.apache.hadoop.fs.Path(status.getPath(), "_delta_log")
                ):
                    found.append(f"{lay}.{name}")
        return sorted(found)

    # ------------------------------------------------------------------ reads
    def read(self, name: str) -> DataFrame:
        if not self.exists(name):
            raise TableNotFoundError(
                f"table {name} does not exist at {self.path(name)}: run the job that writes it first"
            )
        return self.spark.read.format("delta").load(self.path(name))

    # Table metadata comes from the Delta log itself (the JVM's cached DeltaLog, brought
    # up to date by listing `_delta_log`): milliseconds, where `history()` and `detail()`
    # plan and run a Spark query each (0.1-0.5 s, paid several times per table per run).
    def _snapshot(self, name: str):
        jvm = self.spark.sparkContext._jvm
        delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(
            self.spark._jsparkSession, self.path(name)
        )
        none = jvm.scala.Option.empty()
        return delta_log.update(False, none, none)

    def version(self, name: str) -> int | None:
        """The table's latest Delta version (None when it does not exist)."""
        identity = self.identity(name)
        return None if identity is None else identity[1]

    def identity(self, name: str) -> tuple[str, int] | None:
        """(Delta's table id, latest version) from one look at the log; None when the
        table does not exist. A deleted and re-created table has a new id."""
        if not self.exists(name):
            return None
        snapshot = self._snapshot(name)
        version = int(snapshot.version())
        return None if version < 0 else (str(snapshot.metadata().id()), version)

    def table_id(self, name: str) -> str:
        """Delta's id of the table: it changes when the table is deleted and re-created."""
        return str(self._snapshot(name).metadata().id())

    def properties(self, name: str) -> dict[str, str]:
        """The table's properties (`delta.*` settings and user ones)."""
        conf = self._snapshot(name).metadata().configuration()
        it = conf.iterator()
        found = {}
        while it.hasNext():
            entry = it.next()
            found[str(entry._1())] = str(entry._2())
        return found

    def commit_info(self, name: str, version: int) -> dict[str, Any] | None:
        """The `commitInfo` action of one commit, read from its log file; None when the file
        is gone (Delta's log cleanup) or holds none."""
        path, fs = hadoop_path(self.spark, f"{self.path(name)}/_delta_log/{version:020d}.json")
        try:
            stream = fs.open(path)
        except Exception as exc:  # py4j wraps FileNotFoundException: cleaned up, or never
            if "FileNotFoundException" in str(exc):
                return None
            raise
        try:
            text = self.spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toString(
                stream, "UTF-8"
            )
        finally:
            stream.close()
        for line in text.splitlines():
            action = json.loads(line)
            if "commitInfo" in action:
                return action["commitInfo"]
        return None

    def commit_metrics(self, name: str, version: int | None = None) -> dict[str, str]:
        """`operationMetrics` of one commit (the latest by default), read from its log file."""
        if version is None:
            version = self.version(name)
        if version is None:
            return {}
        return (self.commit_info(name, version) or {}).get("operationMetrics") or {}

    def batch_of(self, name: str, version: int) -> dict[str, Any] | None:
        """The batch key (`append_batch`) a commit appended, from its `userMetadata`; None
        for any other commit (another writer, maintenance, a schema change) or a log file
        Delta has cleaned up."""
        info = self.commit_info(name, version) or {}
        appended = info.get("operation") == "WRITE" and info.get("isBlindAppend")
        if not appended or not info.get("userMetadata"):
            return None
        try:
            meta = json.loads(info["userMetadata"])
        except ValueError:
            return None
        batch = meta.get(APPEND_BATCH) if isinstance(meta, dict) else None
        return batch if isinstance(batch, dict) else None

    def changes(self, name: str, after: int, through: int) -> DataFrame:
        """The table's row changes in versions (after, through] from Delta's change data
        feed: the row plus `_change_type`, `_commit_version`, `_commit_timestamp`."""
        return (
            self.spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", after + 1)
            .option("endingVersion", through)
            .load(self.path(name))
        )

    def ensure_change_feed(self, name: str) -> bool:
        """Turn on the change data feed of an existing table; True if it was off."""
        if self.properties(name).get(CHANGE_FEED) == "true":
            return False
        self.spark.sql(
            f"ALTER TABLE delta.`{self.path(name)}` SET TBLPROPERTIES ('{CHANGE_FEED}' = 'true')"
        )
        log.info("%s: change data feed turned on", name)
        return True

    def register_catalog(self, sql: str | None = None) -> list[str]:
        """Expose every table as `layer.table` in Spark SQL (for `query` and notebooks);
        with `sql`, only the tables that statement names (registering one costs a Delta
        log read: `query` on a lake of 60 tables paid ~10 s for it).

        Tables are external (their files stay where they are). A name the session
        already maps to another lake (a notebook or a test that opened two lakes)
        is re-pointed: dropping an external table drops only its name.
        """
        names = self.tables()
        if sql is not None:
            named = {
                f"{m.group(1)}.{m.group(2)}".lower()
                for m in re.finditer(rf"\b({'|'.join(LAYERS)})\s*\.\s*`?(\w+)`?", sql, re.I)
            }
            names = [n for n in names if n.lower() in named]
        for layer in LAYERS:
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
        for name in names:
            layer, table = split_name(name)
            path = self.path(name)
            if self.spark.catalog.tableExists(f"{layer}.{table}"):
                where = self.spark.sql(f"DESCRIBE DETAIL {layer}.`{table}`").first()["location"]
                if where.rstrip("/").removeprefix("file:") == path.removeprefix("file:"):
                    continue
                self.spark.sql(f"DROP TABLE {layer}.`{table}`")
            self.spark.sql(f"CREATE TABLE {layer}.`{table}` USING DELTA LOCATION '{path}'")
        return names

    # ------------------------------------------------------------------ writes
    def overwrite(self, df: DataFrame, name: str, partition_by: Sequence[str] = ()) -> int:
        """Replace the whole table (schema included); returns rows written."""
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        return self._timed_write(name, "overwrite", lambda: writer.save(self.path(name)))

    def overwrite_where(
        self, df: DataFrame, name: str, predicate: str, partition_by: Sequence[str] = ()
    ) -> int:
        """Replace only the rows matching `predicate` (Delta replaceWhere).

        Idempotent: re-running a logical date replaces that date and nothing else.
        Delta checks that every written row matches the predicate.
        """
        if not self.exists(name):
            writer = df.write.format("delta").mode("overwrite")
            if partition_by:
                writer = writer.partitionBy(*partition_by)
            return self._timed_write(name, "create", lambda: writer.save(self.path(name)))
        writer = df.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
        return self._timed_write(
            name, f"replaceWhere {predicate}", lambda: writer.save(self.path(name))
        )

    def append(self, df: DataFrame, name: str, partition_by: Sequence[str] = ()) -> int:
        writer = df.write.format("delta").mode("append").option("mergeSchema", "true")
        if partition_by and not self.exists(name):
            writer = writer.partitionBy(*partition_by)
        return self._timed_write(name, "append", lambda: writer.save(self.path(name)))

    def ensure_columns(self, name: str, columns: dict[str, str]) -> list[str]:
        """Add the missing `columns` (name -> SQL type) to an existing table; returns the
        ones added. For tables written by an earlier version of a job."""
        if not self.exists(name):
            return []
        present = set(self.read(name).columns)
        missing = [c for c in columns if c not in present]
        if missing:
            added = ", ".join(f"`{c}` {columns[c]}" for c in missing)
            self.spark.sql(f"ALTER TABLE delta.`{self.path(name)}` ADD COLUMNS ({added})")
            log.info("added column(s) %s to %s", missing, name)
        return missing

    def append_batch(
        self, df: DataFrame, name: str, batch: Mapping[str, Any], *, may_replay: bool
    ) -> int:
        """Append a stream batch's rows at most once. Every row carries `batch` (column ->
        value: the stream's and the batch's ids), which names the batch in the table.

        Spark re-runs a batch only as the first batch of a query run, the one it did not
        commit before a crash or stop; every later batch of the run is new. So only when
        `may_replay` (the runner's first batch) is the table searched for rows of this
        batch, and nothing is appended if its first attempt committed them; other batches
        append blindly. Delta's idempotent writes (txnAppId/txnVersion) would check every
        append instead, and the check rebuilds the table's state from its log each time:
        about 1 s a one-row append against 0.5 s (benchmarks/README.md, 2026-12-07 evening).
        The commit names the batch in its `userMetadata` (`batch_of` reads it back), so a
        reader of the log can tell which commits a stream wrote without reading rows.
        Returns 0 for a batch found in the table, else -1 (rows not counted: streams)."""
        if may_replay and self.exists(name):
            mine = F.lit(True)
            for column, value in batch.items():
                mine = mine & (F.col(column) == F.lit(value))
            if not self.read(name).where(mine).limit(1).isEmpty():
                log.info("%s already has batch %s: not appended again", name, dict(batch))
                return 0
        meta = json.dumps({APPEND_BATCH: dict(batch)}, sort_keys=True, default=str)
        writer = (
            df.write.format("delta")
            .mode("append")
            .option("mergeSchema", "true")
            .option("userMetadata", meta)
        )
        return self._timed_write(
            name, f"append batch {dict(batch)}", lambda: writer.save(self.path(name)), False
        )

    def merge(
        self,
        df: DataFrame,
        name: str,
        keys: Sequence[str],
        partition_by: Sequence[str] = (),
        update: bool = True,
        *,
        changed_only: bool = False,
        delete_unmatched: str | None = None,
        count_rows: bool = True,
        target_filter: str | None = None,
    ) -> int:
        """Upsert on `keys` (null-safe); a re-run with the same input changes nothing.

        The source must be unique on `keys` (Delta fails a MERGE otherwise).
        `changed_only`: a matched row is rewritten only when a column differs, so
        re-merging a table's current rows rewrites no file. `delete_unmatched`: a
        predicate over the target (alias `t`); target rows matching it that the
        source lacks are deleted, i.e. that slice of the table becomes the source.
        `target_filter`: a predicate over the target that every row the source can
        match satisfies (e.g. an id prefix); added to the join condition so Delta
        skips files whose statistics rule it out instead of scanning the table.
        """
        if not self.exists(name):
            writer = df.write.format("delta").mode("overwrite")
            if partition_by:
                writer = writer.partitionBy(*partition_by)
            return self._timed_write(
                name, "create", lambda: writer.save(self.path(name)), count_rows
            )
        target = DeltaTable.forPath(self.spark, self.path(name))
        builder = target.alias("t").merge(df.alias("s"), _on(keys, target_filter))
        if update:
            others = [c for c in df.columns if c not in keys]
            changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in others)
            builder = builder.whenMatchedUpdateAll(changed if changed_only and changed else None)
        builder = builder.whenNotMatchedInsertAll()
        if delete_unmatched is not None:
            builder = builder.whenNotMatchedBySourceDelete(delete_unmatched)
        return self._timed_write(name, f"merge on {list(keys)}", builder.execute, count_rows)

    def apply_changes(self, changes: DataFrame, name: str, keys: Sequence[str]) -> int:
        """MERGE a change set (one row per key, `_is_delete` flags a deleted key) into the
        table: deleted keys go, the others are upserted; rows whose key is not in the
        change set are untouched. Returns the rows inserted, updated or deleted."""
        columns = [c for c in changes.columns if c != IS_DELETE]
        differs = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in columns if c not in keys)
        changed = f"NOT s.{IS_DELETE}" + (f" AND ({differs})" if differs else "")
        before = self.version(name)
        builder = (
            DeltaTable.forPath(self.spark, self.path(name))
            .alias("t")
            .merge(changes.alias("s"), _on(keys))
            .whenMatchedDelete(f"s.{IS_DELETE}")
            .whenMatchedUpdate(changed, set={c: f"s.`{c}`" for c in columns})
            .whenNotMatchedInsert(f"NOT s.{IS_DELETE}", values={c: f"s.`{c}`" for c in columns})
        )
        start = time.monotonic()
        builder.execute()
        if self.version(name) == before:  # nothing differed: Delta committed nothing
            log.info("applied 0 changes to %s in %.1fs", name, time.monotonic() - start)
            return 0
        m = self.commit_metrics(name)
        rows = sum(
            int(m.get(k, 0))
            for k in ("numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted")
        )
        log.info("applied %s changes to %s in %.1fs", rows, name, time.monotonic() - start)
        return rows

    def delete_keys(
        self, keys_df: DataFrame, name: str, keys: Sequence[str], target_filter: str | None = None
    ) -> int:
        """Delete the target rows whose `keys` appear in `keys_df` (a MERGE ... DELETE:
        Delta's DELETE takes no subquery). `target_filter` as in merge()."""
        builder = (
            DeltaTable.forPath(self.spark, self.path(name))
            .alias("t")
            .merge(keys_df.select(*keys).distinct().alias("s"), _on(keys, target_filter))
            .whenMatchedDelete()
        )
        start = time.monotonic()
        builder.execute()
        rows = int(self.commit_metrics(name).get("numTargetRowsDeleted", 0))
        log.info("deleted %s rows from %s in %.1fs", rows, name, time.monotonic() - start)
        return rows

    def accumulate(
        self,
        df: DataFrame,
        name: str,
        keys: Sequence[str],
        set_exprs: dict[str, str | Column],
        condition: str | None,
        count_rows: bool = True,
        txn: tuple[str, int] | None = None,
    ) -> int:
        """MERGE where a matched row becomes `set_exprs` (SQL or Columns over the target `t`
        and the source `s`) when `condition` holds (None: always), and an unmatched source
        row is inserted as is.

        For running totals, kept idempotent either by a guard, e.g. inventory_stream's
        `NOT (t.last_source <=> s.last_source AND t.last_batch_id >= s.last_batch_id)`,
        or by `txn` = (app id, version): the MERGE (or the write that creates the table)
        commits once per version (a replayed stream batch adds nothing). The MERGE runs on
        this Lakehouse's session, where `idempotent_dml` sets the id; writes on other
        sessions do not see it.
        """
        if not self.exists(name):
            if txn is None:
                return self.merge(df, name, keys, count_rows=count_rows)
            # The first write creates the table. The writer options carry the transaction
            # id: a DataFrame write reads session confs from `df`'s own session, which for
            # a stream batch is Spark's clone of this one.
            writer = (
                df.write.format("delta")
                .mode("overwrite")
                .option("txnAppId", txn[0])
                .option("txnVersion", txn[1])
            )
            return self._timed_write(
                name,
                f"create ({txn[0]} v{txn[1]})",
                lambda: writer.save(self.path(name)),
                count_rows,
            )
        builder = (
            DeltaTable.forPath(self.spark, self.path(name))
            .alias("t")
            .merge(df.alias("s"), _on(keys))
            .whenMatchedUpdate(condition, set=set_exprs)
            .whenNotMatchedInsertAll()
        )
        with idempotent_dml(self.spark, txn):
            return self._timed_write(
                name, f"accumulate on {list(keys)}", builder.execute, count_rows
            )

    def _timed_write(self, name: str, how: str, action, count_rows: bool = True) -> int:
        """Run a write and log it; returns the rows it wrote from Delta's operation metrics,
        or -1 with `count_rows=False` (skips reading the log: latency-bound streams)."""
        start = time.monotonic()
        before = self.version(name) if count_rows and self.exists(name) else None
        action()
        if not count_rows:
            log.info("wrote %s (%s) in %.1fs", name, how, time.monotonic() - start)
            return -1
        # Delta skips an empty commit (a MERGE whose source matched nothing to change):
        # then the latest commit's metrics are an earlier write's, and nothing was written.
        rows = (
            0
            if before is not None and self.version(name) == before
            else (self.last_operation_rows(name))
        )
        log.info("wrote %s (%s): %s rows in %.1fs", name, how, rows, time.monotonic() - start)
        return rows

    def last_operation_rows(self, name: str) -> int:
        """Rows the latest commit wrote, from Delta's own operation metrics."""
        metrics = self.commit_metrics(name)
        if "numTargetRowsInserted" in metrics:
            inserted = int(metrics.get("numTargetRowsInserted", 0))
            updated = int(metrics.get("numTargetRowsUpdated", 0))
            return inserted + updated
        return int(metrics.get("numOutputRows", 0))

    def count(self, name: str) -> int:
        return self.read(name).count() if self.exists(name) else 0


def content_hash(df: DataFrame) -> str:
    """Row count and an order-free sum of row hashes: equal for equal contents.

    Maps are hashed as JSON (Spark refuses to hash a map: its entries have no order).
    """
    cols = [
        F.to_json(F.col(f.name)) if isinstance(f.dataType, T.MapType) else F.col(f.name)
        for f in df.schema.fields
    ]
    # Whole 64-bit hashes summed exactly (a DECIMAL sum does not overflow or wrap).
    total = F.sum(F.xxhash64(*cols).cast("decimal(38,0)"))
    n, s = df.agg(F.count(F.lit(1)), total).first()
    return f"{n}:{s}"


def latest_per_key(df: DataFrame, keys: Sequence[str], newest_first: Column) -> DataFrame:
    """The first row of each key in `newest_first` order (e.g. an append-only log's
    latest entry per key)."""
    w = Window.partitionBy(*[F.col(k) for k in keys]).orderBy(newest_first)
    return df.withColumn("_n", F.row_number().over(w)).where("_n = 1").drop("_n")


def latest_changes(changes: DataFrame, keys: Sequence[str]) -> DataFrame:
    """The last change of each key in a change-feed read: its row and `_is_delete`.

    Pre-images are dropped; within one commit an insert or post-image wins over a
    delete (a table rewritten whole deletes and re-inserts its rows in one commit).
    """
    kinds = F.col("_change_type")
    w = Window.partitionBy(*[F.col(k) for k in keys]).orderBy(
        F.col("_commit_version").desc(), F.when(kinds == "delete", 1).otherwise(0)
    )
    meta = ("_change_type", "_commit_version", "_commit_timestamp")
    return (
        changes.where(kinds != "update_preimage")
        .withColumn("_n", F.row_number().over(w))
        .where("_n = 1")
        .withColumn(IS_DELETE, kinds == "delete")
        .drop("_n", *meta)
    )


def hadoop_path(spark: SparkSession, path: str):
    """(Hadoop Path, its FileSystem) for a local path or a URI (s3a://, file:, ...)."""
    jpath = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path)
    return jpath, jpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def _on(keys: Sequence[str], target_filter: str | None = None) -> str:
    """A MERGE condition: null-safe equality on `keys`, and `target_filter` (over `t`)."""
    cond = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    return f"({target_filter}) AND {cond}" if target_filter else cond


def null_safe_key(cols: Sequence[str]):
    """A single column that is equal for rows equal on `cols` (nulls included)."""
    return F.sha2(F.to_json(F.struct(*[F.col(c) for c in cols])), 256)
