"""`ops.ingested_files`: which landing file versions each table has read (the Auto
Loader pattern, as a Delta ledger).

Why a ledger and not Spark's file streaming source: landing files come in five
formats with per-source reading rules (headerless TSV with positional names,
latin-1 MovieLens, corrupt-record capture), which `lakecore.landing` applies to
a list of files; a ledger keeps that one reader, works the same on local disk
and s3a, and can be queried (`jobs query "select * from ops.ingested_files"`).

A file is identified by its path, size and modification time. A path seen
before with the same size and time is skipped; a path whose size or time changed
is read again whole (its rows upserted on the table's keys, its quarantine rows
replaced) and a warning names it: landing files are meant to be immutable, and a
rewritten file is usually a corrected re-delivery. Rows a changed file no longer
holds stay in bronze (nothing says they were withdrawn). Appends only: rows are
added after the table's bronze and quarantine writes, so a run that fails between
the two reads the same files again next time, and the keyed writes make that a
no-op.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakecore.io import Lakehouse, latest_per_key
from lakecore.landing import LandingFile

INGESTED_FILES = "ops.ingested_files"
SCHEMA = T.StructType(
    [
        T.StructField("source", T.StringType(), False),
        T.StructField("table", T.StringType(), False),
        T.StructField("path", T.StringType(), False),
        T.StructField("size", T.LongType(), False),
        T.StructField("modified_ms", T.LongType(), False),
        T.StructField("rows_read", T.LongType(), False),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("ingested_at", T.TimestampType(), False),
    ]
)


@dataclass(frozen=True)
class FilePlan:
    new: tuple[LandingFile, ...]
    changed: tuple[LandingFile, ...]
    unchanged: tuple[LandingFile, ...]

    @property
    def to_read(self) -> list[LandingFile]:
        return sorted((*self.new, *self.changed), key=lambda f: f.path)

    def summary(self) -> dict[str, int]:
        return {"new": len(self.new), "changed": len(self.changed), "skipped": len(self.unchanged)}


def plan_files(
    files: Iterable[LandingFile], seen: Mapping[str, tuple[int, int]], reprocess: bool = False
) -> FilePlan:
    """Split listed files into never read, changed since read, and already read."""
    new, changed, unchanged = [], [], []
    for f in files:
        before = seen.get(f.path)
        if before is None:
            new.append(f)
        elif before != (f.size, f.modified_ms) or reprocess:
            changed.append(f)
        else:
            unchanged.append(f)
    return FilePlan(tuple(new), tuple(changed), tuple(unchanged))


class IngestedFiles:
    """Reads the ledger once and appends it once: `record()` (called by each table as it
    finishes, from parallel threads) collects rows, `flush()` writes them in one commit.
    Call `flush()` in a `finally`: a table that finished is recorded even when another
    failed, and a table whose write failed is not (its files are read again next run)."""

    def __init__(self, lake: Lakehouse, source: str):
        self.lake, self.source = lake, source
        self._lock = threading.Lock()
        self._seen: dict[str, dict[str, tuple[int, int]]] | None = None
        self._pending: list[tuple] = []

    def seen(self, table: str) -> dict[str, tuple[int, int]]:
        """path -> (size, modified_ms) of the latest version of each file of `table` read
        (the source's whole ledger is read once, at the first call)."""
        with self._lock:
            if self._seen is None:
                self._seen = self._read_all()
        return self._seen.get(table, {})

    def _read_all(self) -> dict[str, dict[str, tuple[int, int]]]:
        if not self.lake.exists(INGESTED_FILES):
            return {}
        files = self.lake.read(INGESTED_FILES).where(F.col("source") == self.source)
        rows = (
            latest_per_key(files, ["table", "path"], F.col("ingested_at").desc())
            .select("table", "path", "size", "modified_ms")
            .collect()
        )
        out: dict[str, dict[str, tuple[int, int]]] = {}
        for r in rows:
            out.setdefault(r.table, {})[r.path] = (r.size, r.modified_ms)
        return out

    def record(
        self,
        table: str,
        files: Iterable[LandingFile],
        rows_by_file: Mapping[str, int],
        run_id: str,
    ) -> None:
        now = datetime.now(UTC)
        rows = [
            (
                self.source,
                table,
                f.path,
                f.size,
                f.modified_ms,
                rows_by_file.get(f.path, 0),
                run_id,
                now,
            )
            for f in files
        ]
        with self._lock:
            self._pending.extend(rows)

    def flush(self) -> int:
        """Append the recorded rows (one Delta commit); returns how many."""
        with self._lock:
            rows, self._pending = self._pending, []
        if rows:
            self.lake.append(self.lake.spark.createDataFrame(rows, SCHEMA), INGESTED_FILES)
        return len(rows)
