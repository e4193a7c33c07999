"""Structured Streaming plumbing shared by the stream jobs: source, checkpoint, batches, progress.

A stream job gives `StreamRunner` a function `process(batch_df, batch_id, watermark)`
that writes idempotently (appends and MERGEs once per batch id) and returns the
batch's counts, and optionally `prepare`, the streaming part of the query before
foreachBatch (parsing, `mark_first_seen`'s state-store dedup); the runner reads the
source (Kafka, or a Delta table with Kafka's columns when no broker is configured),
checkpoints under `<checkpoints>/<job>/<source id>`, keeps the event-time watermark
per batch id in `ops.stream_progress` (a replayed batch sees the same watermark as
its first attempt), records each batch's counts, end offsets, phase times and the
time its output committed there, and at most once a minute (and at the end) adds
the consumer lag (latest offsets against processed offsets) from Spark's query
progress.

Batch ids restart at 0 for every new checkpoint, so a batch is named by the
runner's `stream_id` (`<source id>@<query id>`; Spark keeps the query id in the
checkpoint) and its batch id: rows a job tags and guards with the stream id
never mistake another source's or an earlier checkpoint's batch for their own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from delta.tables import DeltaTable
from pydantic import Field
from pyspark import InheritableThread
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame

from lakecore.config import StrictModel
from lakecore.io import TXN_LOCK, Lakehouse
from lakecore.job import RunOptions

log = logging.getLogger(__name__)

PROGRESS = "ops.stream_progress"
KAFKA_COLUMNS = ("key", "value", "topic", "partition", "offset", "timestamp")
# Kafka's record as Spark reads it (also the Delta stand-in's columns).
KAFKA_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
)
PROGRESS_SCHEMA = T.StructType(
    [
        T.StructField("job", T.StringType(), False),
        T.StructField("source_id", T.StringType(), False),
        T.StructField("batch_id", T.LongType(), False),
        T.StructField("processed_at", T.TimestampType(), True),
        T.StructField("rows_read", T.LongType(), True),
        T.StructField("rows_written", T.LongType(), True),
        T.StructField("rows_duplicate", T.LongType(), True),
        T.StructField("rows_quarantined", T.LongType(), True),
        T.StructField("rows_late", T.LongType(), True),
        T.StructField("watermark", T.TimestampType(), True),
        T.StructField("end_offsets", T.StringType(), True),
        T.StructField("latest_offsets", T.StringType(), True),
        T.StructField("consumer_lag", T.LongType(), True),
        T.StructField("batch_seconds", T.DoubleType(), True),
        T.StructField("query_id", T.StringType(), True),
        # The newest source (Kafka) timestamp the batch processed: `lakehouse health`
        # measures lag in seconds from it.
        T.StructField("max_source_ts", T.TimestampType(), True),
        # When the batch's output (the gold table) committed: what a reader of gold sees.
        # Event-to-gold latency is measured to it (processed_at is later: bookkeeping).
        T.StructField("output_at", T.TimestampType(), True),
        # Wall seconds per phase of the batch (JSON object), when the job measures them.
        T.StructField("phases", T.StringType(), True),
    ]
)
# Columns added to ops.stream_progress after it first shipped (older tables get them).
PROGRESS_ADDED = {
    "query_id": "string",
    "max_source_ts": "timestamp",
    "output_at": "timestamp",
    "phases": "string",
}
PROGRESS_KEY = ("job", "source_id", "query_id", "batch_id")
# Seconds between consumer-lag notes while a query runs (each note is one Delta commit).
LAG_EVERY = 60.0


class PhaseTimer:
    """Wall seconds per phase of one micro-batch; a batch function returns them as
    `phases` in its counts and the runner logs them with the batch."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.seconds[phase] = round(self.seconds.get(phase, 0.0) + time.monotonic() - t0, 2)

    def __bool__(self) -> bool:
        return bool(self.seconds)

    def json(self) -> str:
        return json.dumps(self.seconds, sort_keys=True)

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())


def concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """Run `calls` at the same time, each in its own thread (pyspark's InheritableThread:
    Spark jobs keep the caller's local properties), and return their results in order;
    the first failure is raised once all have finished. For a batch's writes to different
    tables, each idempotent on its own (a crash between them is a replay's to finish), so
    one table's Delta commit overlaps another's Spark work."""
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # re-raised below, in the caller's thread
            errors[i] = exc

    threads = [InheritableThread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for exc in errors:
        if exc is not None:
            raise exc
    return results


def held(df: DataFrame) -> DataFrame:
    """`df` computed now and held in Spark's block manager without its lineage (a local
    checkpoint): unlike a cached plan, it is not dropped (and recomputed, a stream batch's
    stateful operator included) when a table the plan reads is written. Free with
    `release`. Not fault-tolerant: if an executor holding blocks is lost, the batch
    fails and Spark replays it (the writes are idempotent), rather than recomputing."""
    return df.localCheckpoint(eager=True)


def release(df: DataFrame) -> None:
    """Free a `held` DataFrame's blocks now, not at the JVM's next garbage collection (any
    other DataFrame: unpersist it)."""
    try:
        plan = df._jdf.queryExecution().logical()
        if plan.getClass().getSimpleName() != "LogicalRDD":
            df.unpersist()
            return
        plan.rdd().unpersist(False)
    except Exception as exc:  # memory bookkeeping only: never fail a batch for it
        log.warning("could not release a held DataFrame: %s", exc)


@dataclass(frozen=True)
class BatchResult:
    """What a stream job's `process(batch, batch_id, watermark)` returns: the batch's counts
    (read = written + duplicates + quarantined; `late` is part of quarantined), the newest
    valid event time (moves the watermark) and the time per phase, if measured."""

    read: int = 0
    written: int = 0
    duplicates: int = 0
    quarantined: int = 0
    late: int = 0
    max_event_ts: datetime | None = None
    max_source_ts: datetime | None = None
    phases: PhaseTimer | None = None
    # When the batch's output table committed (UTC), if the job notes it.
    output_at: datetime | None = None

    def __add__(self, other: BatchResult) -> BatchResult:
        """Two batches' counts added up (a query's totals); the later event time."""
        times = [t for t in (self.max_event_ts, other.max_event_ts) if t is not None]
        source = [t for t in (self.max_source_ts, other.max_source_ts) if t is not None]
        return BatchResult(
            read=self.read + other.read,
            written=self.written + other.written,
            duplicates=self.duplicates + other.duplicates,
            quarantined=self.quarantined + other.quarantined,
            late=self.late + other.late,
            max_event_ts=max(times) if times else None,
            max_source_ts=max(source) if source else None,
        )


class StreamStopping(RuntimeError):
    """Raised by a batch that starts after a stop was requested: it is not committed."""


class CheckpointMismatchError(RuntimeError):
    """The checkpoint was written by a different query; it cannot be resumed."""


@contextmanager
def _stop_on_signals(runner: StreamRunner) -> Iterator[None]:
    """SIGTERM and SIGINT ask the runner to stop after its batch in flight (main thread
    only: elsewhere, e.g. a notebook's worker thread, the handlers stay as they are)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum, _frame) -> None:
        runner.stop(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class StreamSource(StrictModel):
    """Where a stream job reads raw messages. Without Kafka, a Delta table with Kafka's
    columns (key, value, topic, partition, offset, timestamp) stands in for the topic."""

    kind: Literal["delta", "kafka"] = "delta"
    delta_table: str = "stream.events"
    bootstrap_servers: str = ""
    topic: str = "events"
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    max_offsets_per_trigger: int | None = Field(default=None, ge=1)
    max_files_per_trigger: int | None = Field(default=None, ge=1)

    @property
    def source_id(self) -> str:
        return f"kafka-{self.topic}" if self.kind == "kafka" else f"delta-{self.delta_table}"

    def read(self, spark: SparkSession, lake: Lakehouse) -> DataFrame:
        if self.kind == "kafka":
            if not self.bootstrap_servers:
                raise ValueError("source.kind is kafka but source.bootstrap_servers is empty")
            reader = (
                spark.readStream.format("kafka")
                .option("kafka.bootstrap.servers", self.bootstrap_servers)
                .option("subscribe", self.topic)
                .option("startingOffsets", self.starting_offsets)
                .option("failOnDataLoss", "true")
            )
            if self.max_offsets_per_trigger:
                reader = reader.option("maxOffsetsPerTrigger", self.max_offsets_per_trigger)
            return reader.load().select(*KAFKA_COLUMNS)
        reader = spark.readStream.format("delta")
        if self.max_files_per_trigger:
            reader = reader.option("maxFilesPerTrigger", self.max_files_per_trigger)
        return reader.load(lake.path(self.delta_table)).select(*KAFKA_COLUMNS)


class StreamAlarms(StrictModel):
    """When `lakehouse health` calls a stream unhealthy (lakecore.health)."""

    # Messages offered by the source that the stream has not processed yet.
    max_lag_events: int = Field(default=50_000, ge=0)
    # Newest offered message time minus newest processed message time.
    max_lag_seconds: float = Field(default=60.0, ge=0)
    # Seconds since the last committed batch, counted only while messages wait (an idle
    # stream with nothing to read runs no batches and is healthy).
    max_batch_age_seconds: float = Field(default=120.0, gt=0)


def checkpoint_root(lake: Lakehouse, configured: str | None) -> str:
    return configured or f"{lake.root}/_checkpoints"


def _as_dict(offsets: Any) -> dict | None:
    value = json.loads(offsets) if isinstance(offsets, str) else offsets
    return value if isinstance(value, dict) else None


def progress_dict(progress: Any) -> dict[str, Any]:
    """A query progress as a dict (pyspark gives StreamingQueryProgress objects)."""
    return progress if isinstance(progress, dict) else json.loads(progress.json)


def _offsets_lag(progress: dict[str, Any]) -> tuple[str | None, str | None, int | None]:
    """(end offsets, latest offsets, consumer lag) of the query's source after a batch.

    For Kafka, lag = sum over partitions of (latest offset - processed end offset);
    other sources report no lag.
    """
    source = (progress.get("sources") or [{}])[0]
    end, latest = _as_dict(source.get("endOffset")), _as_dict(source.get("latestOffset"))
    end_text = None if end is None else json.dumps(end, sort_keys=True)
    if end is None or latest is None or not str(source.get("description", "")).startswith("Kafka"):
        return end_text, None, None
    lag = 0
    for topic, parts in latest.items():
        for part, off in parts.items():
            lag += max(0, int(off) - int(end.get(topic, {}).get(part, 0)))
    return end_text, json.dumps(latest, sort_keys=True), lag


class StreamRunner:
    """Runs one stream job's query: foreachBatch with per-batch watermark and progress."""

    def __init__(
        self,
        spark: SparkSession,
        lake: Lakehouse,
        job: str,
        source: StreamSource,
        checkpoints: str,
        fingerprint: dict[str, Any],
        lateness: timedelta | None,
    ):
        self.spark, self.lake, self.job, self.source = spark, lake, job, source
        self.checkpoint = f"{checkpoints}/{job}/{source.source_id}"
        self.fingerprint = fingerprint
        self.lateness = lateness
        # foreachBatch runs on a py4j callback thread, the lag monitor on the caller's:
        # one writer at a time on ops.stream_progress (no conflicting Delta commits).
        self._progress_lock = threading.Lock()
        self._lag_noted_at = float("-inf")
        self._logged_batch = -1
        self.totals = BatchResult()
        self.query_id: str | None = None
        self._started = threading.Event()
        # The last batch this process ran and the watermark it stored: the next batch's
        # watermark without reading ops.stream_progress back.
        self._watermarks: dict[int, datetime | None] = {}
        # The first batch this query run started: the only one that can be a replay.
        self._first_batch: int | None = None
        # The watermark the batch in flight reads (stored by the batch before it).
        self.watermark: datetime | None = None
        # Graceful stop (SIGTERM, SIGINT or stop()): the batch in flight finishes and
        # commits; a batch that starts after the request fails before it reads anything,
        # so Spark does not commit it and the next run replays it.
        self._stopping = threading.Event()
        self._in_batch = threading.Lock()
        self.stopped_by: str | None = None

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the query to stop after the batch in flight (thread- and signal-safe)."""
        if not self._stopping.is_set():
            self.stopped_by = reason
            self._stopping.set()

    @property
    def stream_id(self) -> str:
        """`<source id>@<query id>`: one checkpoint's batches on one source. Set once the
        query started (batches wait for it)."""
        if self.query_id is None:
            raise RuntimeError(f"{self.job}: stream_id is known once the query has started")
        return f"{self.source.source_id}@{self.query_id}"

    def may_replay(self, batch_id: int) -> bool:
        """Whether the batch can be a replay of one an earlier run started: only the first
        batch a query runs (Spark re-runs the last batch it did not commit, then goes on)."""
        return batch_id == self._first_batch

    # ------------------------------------------------------------------ checkpoint
    def check_checkpoint(self) -> None:
        """Refuse to resume a checkpoint another query shape wrote (Spark may not notice)."""
        if "://" in self.checkpoint and not self.checkpoint.startswith("file:"):
            return  # remote checkpoints: Spark's own compatibility checks only
        marker = Path(self.checkpoint.removeprefix("file:")) / "_query.json"
        digest = hashlib.sha256(json.dumps(self.fingerprint, sort_keys=True).encode()).hexdigest()
        if marker.is_file():
            stored = json.loads(marker.read_text())
            if stored["digest"] != digest:
                raise CheckpointMismatchError(
                    f"{self.job}: the checkpoint {self.checkpoint} was written by a different "
                    f"query ({stored['query']}) than this one ({self.fingerprint}); it cannot be "
                    "resumed. Restore the previous settings, or move the checkpoint away to "
                    "start this query from its source's starting offsets."
                )
            return
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"digest": digest, "query": self.fingerprint}, sort_keys=True))

    # ------------------------------------------------------------------ progress
    def watermark_before(self, batch_id: int) -> datetime | None:
        """The watermark the latest earlier batch stored (a replay sees the same one);
        None for a job without event-time lateness."""
        if self.lateness is None or not self.lake.exists(PROGRESS):
            return None
        if batch_id - 1 in self._watermarks:  # the batch before ran in this process
            return self._watermarks[batch_id - 1]
        row = (
            self.lake.read(PROGRESS)
            .where(
                (F.col("job") == self.job)
                & (F.col("source_id") == self.source.source_id)
                & (F.col("query_id") == self.query_id)
                & (F.col("batch_id") < batch_id)
            )
            .agg(F.max("watermark"))
            .first()
        )
        return row[0]

    def _record(self, values: dict[str, Any]) -> None:
        """The batch's progress row, appended once per (stream, batch id): a replayed
        batch whose first attempt got this far adds nothing (`Lakehouse.append_batch`)."""
        row = {f.name: values.get(f.name) for f in PROGRESS_SCHEMA.fields}
        df = self.spark.createDataFrame([row], PROGRESS_SCHEMA)
        key = {k: values[k] for k in PROGRESS_KEY}
        self.lake.append_batch(df, PROGRESS, key, may_replay=self.may_replay(key["batch_id"]))

    def _batch(self, process: Callable[..., BatchResult]) -> Callable[[DataFrame, int], None]:
        def run_batch(batch: DataFrame, batch_id: int) -> None:
            with self._in_batch:
                if self._stopping.is_set():
                    raise StreamStopping(f"{self.job}: batch {batch_id} not started: stopping")
                run_one(batch, batch_id)

        def run_one(batch: DataFrame, batch_id: int) -> None:
            if not self._started.wait(300):
                raise RuntimeError(f"{self.job}: the query id never became known")
            if self._first_batch is None:
                self._first_batch = batch_id
            t0 = time.monotonic()
            previous = self.watermark_before(batch_id)
            self.watermark = previous
            wm = None if previous is None else F.lit(previous).cast("timestamp")
            counts: BatchResult = process(batch, batch_id, wm)
            latest_event = counts.max_event_ts
            watermark = previous
            if latest_event is not None and self.lateness is not None:
                candidate = latest_event - self.lateness
                watermark = candidate if previous is None else max(previous, candidate)
            recorded = time.monotonic()
            with self._progress_lock:  # the monitor thread writes lag to the same table
                self._record(
                    {
                        "job": self.job,
                        "source_id": self.source.source_id,
                        "batch_id": batch_id,
                        "processed_at": datetime.now(UTC),
                        "rows_read": counts.read,
                        "rows_written": counts.written,
                        "rows_duplicate": counts.duplicates,
                        "rows_quarantined": counts.quarantined,
                        "rows_late": counts.late,
                        "watermark": watermark,
                        "batch_seconds": round(time.monotonic() - t0, 3),
                        "query_id": self.query_id,
                        "max_source_ts": counts.max_source_ts,
                        "end_offsets": self._end_offsets(batch_id),
                        "output_at": counts.output_at,
                        "phases": counts.phases.json() if counts.phases else None,
                    }
                )
            self._watermarks = {batch_id: watermark}
            self.totals = self.totals + counts
            log.info(
                "%s batch %d: read %d, written %d, duplicates %d, quarantined %d (late %d), "
                "watermark %s, %.1fs%s, progress row %.1fs",
                self.job,
                batch_id,
                counts.read,
                counts.written,
                counts.duplicates,
                counts.quarantined,
                counts.late,
                watermark,
                time.monotonic() - t0,
                f" ({counts.phases})" if counts.phases else "",
                time.monotonic() - recorded,
            )

        run_batch.__name__ = getattr(process, "__name__", "process_batch")
        return run_batch

    def _end_offsets(self, batch_id: int) -> str | None:
        """The Kafka offsets the batch read up to, from Spark's offset log in the checkpoint
        (`offsets/<batch id>`, written before the batch runs): health compares them with the
        broker's latest. None for the Delta stand-in (health reads its rows by time)."""
        if self.source.kind != "kafka":
            return None
        jvm = self.spark._jvm
        path = jvm.org.apache.hadoop.fs.Path(f"{self.checkpoint}/offsets/{batch_id}")
        try:
            fs = path.getFileSystem(self.spark._jsc.hadoopConfiguration())
            stream = fs.open(path)
            try:
                text = jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
            finally:
                stream.close()
            # "v1", the batch's metadata, then one line per source: Kafka's {topic: {part: n}}.
            lines = text.splitlines()
            if lines[0] != "v1":
                raise ValueError(f"offset log format {lines[0]!r}, not v1")
            offsets = json.loads(lines[2])
            if not all(isinstance(parts, dict) for parts in offsets.values()):
                raise ValueError(f"not Kafka offsets: {lines[2][:200]}")
        except Exception as exc:  # bookkeeping only: the batch's output is already written
            log.warning("%s batch %d: no end offsets from %s: %s", self.job, batch_id, path, exc)
            return None
        return json.dumps(offsets, sort_keys=True)

    def _record_lag(self, progress: dict[str, Any]) -> None:
        """Add a finished batch's latest offsets and consumer lag to its progress row."""
        end, latest, lag = _offsets_lag(progress)
        batch_id = progress.get("batchId")
        if batch_id is None or not self.lake.exists(PROGRESS):
            return
        row = self.spark.createDataFrame(
            [(self.job, self.source.source_id, self.query_id, int(batch_id), end, latest, lag)],
            "job string, source_id string, query_id string, batch_id long, end_offsets string, "
            "latest_offsets string, consumer_lag long",
        )
        on = " AND ".join(f"t.{k} = s.{k}" for k in PROGRESS_KEY)
        (
            DeltaTable.forPath(self.spark, self.lake.path(PROGRESS))
            .alias("t")
            .merge(row.alias("s"), on)
            .whenMatchedUpdate(
                set={c: f"s.{c}" for c in ("end_offsets", "latest_offsets", "consumer_lag")}
            )
            .execute()
        )

    # ------------------------------------------------------------------ running
    def run(
        self,
        process: Callable[..., BatchResult],
        trigger: Literal["available_now", "processing_time"],
        processing_time: str = "10 seconds",
        timeout: float | None = None,
        prepare: Callable[[DataFrame], DataFrame] | None = None,
    ) -> BatchResult:
        """Start the query; AvailableNow returns when the backlog is done, processing time
        runs until `timeout` seconds (None: until the process is stopped). `prepare`: the
        streaming part of the query between the source and foreachBatch (parsing, state)."""
        self.check_checkpoint()
        self._first_batch = None
        # Progress rows written before streams had query ids: give the column, then go on.
        self.lake.ensure_columns(PROGRESS, PROGRESS_ADDED)
        messages = self.source.read(self.spark, self.lake)
        writer = (
            (prepare(messages) if prepare else messages)
            .writeStream.queryName(f"{self.job}:{self.source.source_id}")
            .option("checkpointLocation", self.checkpoint)
            .foreachBatch(self._batch(process))
        )
        if trigger == "available_now":
            writer = writer.trigger(availableNow=True)
        else:
            writer = writer.trigger(processingTime=processing_time)
        query = writer.start()
        self.query_id = query.id  # kept in the checkpoint: the same on every restart
        self._started.set()
        seen: set[int] = set()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            with _stop_on_signals(self):
                while query.isActive:
                    query.awaitTermination(1)
                    self._record_new_progress(query, seen)
                    if deadline is not None and time.monotonic() > deadline:
                        self.stop(f"--timeout {timeout:g}s reached")
                    if self._stopping.is_set():
                        with self._in_batch:  # the batch in flight finishes first
                            pass
                        log.info("%s: stopping (%s) after the batch in flight", self.job,
                                 self.stopped_by)  # fmt: skip
                        query.stop()
            try:
                query.awaitTermination()  # raises the query's error, if any
            except Exception as exc:
                # A batch refused to start because of the stop: a clean stop, not a failure.
                if not (self._stopping.is_set() and "StreamStopping" in str(exc)):
                    raise
        finally:
            self._record_new_progress(query, seen, final=True)
        return self.totals

    def _log_spark_durations(self, recent: list[dict[str, Any]]) -> None:
        """Log Spark's own timings of each finished batch once (`durationMs`: addBatch is
        foreachBatch; the rest, offset and commit logs, state store commit, planning, is
        the per-batch cost outside the job's code)."""
        for p in recent:
            batch_id = p.get("batchId")
            if batch_id is None or batch_id <= self._logged_batch or not p.get("numInputRows"):
                continue
            self._logged_batch = batch_id
            durations = p.get("durationMs") or {}
            state = [
                f"{op.get('numRowsTotal')} rows, commit {op.get('commitTimeMs')} ms"
                for op in p.get("stateOperators") or []
            ]
            log.info(
                "%s batch %d (Spark): %s%s",
                self.job,
                batch_id,
                ", ".join(f"{k} {v} ms" for k, v in sorted(durations.items())),
                f"; state {'; '.join(state)}" if state else "",
            )

    def _record_new_progress(self, query, seen: set[int], final: bool = False) -> None:
        """Note the consumer lag of the newest finished batch: at most every LAG_EVERY
        seconds while the query runs (a MERGE into ops.stream_progress costs a Delta
        commit, which would otherwise compete with every batch), and once at the end."""
        recent = [progress_dict(progress) for progress in query.recentProgress]
        self._log_spark_durations(recent)
        if not final and time.monotonic() - self._lag_noted_at < LAG_EVERY:
            return
        newest = None
        for p in recent:
            batch_id = p.get("batchId")
            if batch_id is None or batch_id in seen or not p.get("numInputRows"):
                continue
            if newest is None or batch_id > newest["batchId"]:
                newest = p
        if newest is None:
            return
        seen.add(newest["batchId"])
        with self._progress_lock, TXN_LOCK:  # not inside a batch's idempotent MERGE
            self._record_lag(newest)
        self._lag_noted_at = time.monotonic()


class OtherWriters:
    """Whether a stream's bronze table can hold ids other writers put there at or after the
    watermark (another source, an earlier checkpoint of the same source), known from the
    Delta log rather than from a scan of the table every batch.

    At a query run's first batch, and whenever the log shows a commit that is not one of
    this stream's appends (`Lakehouse.batch_of`: another writer, maintenance, a schema
    change), the other writers' rows at or after the watermark are scanned once for their
    newest event time. Until the next such commit a batch needs the look-up only while
    the watermark has not passed that time: the watermark only rises, and this stream's
    own appends add no other writer's rows. A stream that alone writes its bronze table
    reads one small log file per batch instead of planning a scan of the table, which
    costs ~0.9 s a batch on a table with a new snapshot every batch (benchmarks/README.md,
    2026-12-07 evening). As before, the check is not atomic with the append: two streams
    must not write one bronze table at the same time."""

    # More commits than this to read one by one: one scan is cheaper.
    MAX_COMMITS = 20

    def __init__(self, lake: Lakehouse, table: str, source_column: str, time_column: str):
        self.lake, self.table = lake, table
        self.source_column, self.time_column = source_column, time_column
        self._stream: str | None = None
        self._table_id: str | None = None  # a re-created table starts over
        self._checked: int | None = None  # the version the last scan covered, or later
        self._newest: datetime | None = None  # other writers' newest time then (>= watermark)
        self.scans = 0

    def lookup_needed(self, stream_id: str, watermark: datetime | None) -> bool:
        """Whether ids of other writers at or after `watermark` can be in the table now."""
        identity = self.lake.identity(self.table)
        if identity is None:
            return False
        table_id, version = identity
        known = stream_id == self._stream and table_id == self._table_id
        if not known or not self._only_own_commits(version):
            source = F.col(self.source_column)
            others = source.isNull() | (source != stream_id)
            if watermark is not None:
                others = others & (F.col(self.time_column) >= F.lit(watermark))
            row = self.lake.read(self.table).where(others).agg(F.max(self.time_column)).first()
            self._stream, self._table_id = stream_id, table_id
            self._checked, self._newest = version, row[0]
            self.scans += 1
            log.info(
                "%s: other writers' newest event at or after the watermark: %s (version %d)",
                self.table,
                self._newest,
                version,
            )
        return self._newest is not None and (watermark is None or self._newest >= watermark)

    def _only_own_commits(self, version: int) -> bool:
        """Whether every commit since the last scan is one of this stream's appends."""
        if self._checked is None or not 0 <= version - self._checked <= self.MAX_COMMITS:
            return False
        for v in range(self._checked + 1, version + 1):
            batch = self.lake.batch_of(self.table, v)
            if batch is None or batch.get(self.source_column) != self._stream:
                return False
        self._checked = version
        return True


def mark_first_seen(
    events: DataFrame, id_column: str, time_column: str, check_every: str = "10 minutes"
) -> DataFrame:
    """A streaming DataFrame of messages with `first_seen` added, from Spark's state store
    (build/java: io.lakehouse.stream.FirstSeen): true for the first message (lowest
    partition, offset) of an id the query does not remember yet, false for its repeats,
    null where `id_column` is null. An id is forgotten once the query's watermark (set by
    the caller with `withWatermark(time_column, ...)`) passes its time, checked every
    `check_every` of processing time (ids in shards, each swept by its own staggered
    timer: a batch sweeps a few shards, not every id).
    Needs the RocksDB state store provider and `noDataMicroBatches.enabled=false` (the
    timers would make Spark run an empty batch after every batch). No row is dropped: a
    job counts its duplicates."""
    spark = events.sparkSession
    marker = spark._jvm.io.lakehouse.stream.FirstSeen  # type: ignore[union-attr]
    return ClassicDataFrame(marker.mark(events._jdf, id_column, time_column, check_every), spark)


def quarantine_batch(lake: Lakehouse, rejected: DataFrame, table: str) -> None:
    """A batch's rejected messages into its quarantine table, once per message: an
    insert-only MERGE on (topic, partition, offset), so a replayed batch adds nothing."""
    lake.merge(
        rejected, table, keys=["topic", "partition", "offset"], update=False, count_rows=False
    )


def publish(lake: Lakehouse, messages: DataFrame, target: StreamSource) -> int:
    """Write Kafka-shaped `messages` to the target topic, or to its Delta stand-in.

    Kafka: produced to the topic (which must exist), partition as given. Delta: an
    insert-only MERGE on (topic, partition, offset), so re-publishing adds nothing
    and the table stays append-only (a stream reading it never sees a rewrite).
    Returns the number of messages.
    """
    rows = messages.count()
    if target.kind == "kafka":
        if not target.bootstrap_servers:
            raise ValueError("target.kind is kafka but target.bootstrap_servers is empty")
        (
            messages.select("key", "value", "partition")
            .write.format("kafka")
            .option("kafka.bootstrap.servers", target.bootstrap_servers)
            .option("topic", target.topic)
            .save()
        )
    else:
        lake.merge(
            messages, target.delta_table, keys=["topic", "partition", "offset"], update=False
        )
    return rows


class StreamOptions(RunOptions):
    """The stream jobs' own CLI option: `--timeout` for processing-time runs."""

    timeout: float | None = Field(
        None,
        description="processing-time trigger only: stop after this many seconds "
        "(default: run until killed)",
    )


def require_source(lake: Lakehouse, source: StreamSource, job: str, publisher: str) -> None:
    """Stop before starting a query on a Delta stand-in that does not exist yet."""
    if source.kind == "delta" and not lake.exists(source.delta_table):
        raise ValueError(
            f"{source.delta_table} does not exist: publish events first "
            f"(python -m jobs run {publisher}) or set {job}.source.kind=kafka"
        )


def run_stream_job(
    ctx,
    runner: StreamRunner,
    process,
    params,
    tables: tuple[str, str, str],
    prepare: Callable[[DataFrame], DataFrame] | None = None,
) -> BatchResult:
    """Run a stream job's query under one logged step and record its totals in the run:
    `tables` = (bronze, quarantine, output); `params` has source, trigger, processing_time."""
    bronze, quarantine, output = tables
    with ctx.step(f"stream {params.source.source_id} -> {output} ({params.trigger})"):
        totals = runner.run(
            process,
            params.trigger,
            params.processing_time,
            getattr(ctx.options, "timeout", None),
            prepare,
        )
    ctx.run.add(bronze, read=totals.read - totals.quarantined, written=totals.written)
    ctx.run.add(quarantine, quarantined=totals.quarantined)
    ctx.run.extra["duplicates"] = totals.duplicates
    if runner.stopped_by:
        ctx.run.extra["stopped_by"] = runner.stopped_by
    return totals
