"""What a job is: its spec (config model, tables read and written) and run context."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from pyspark import StorageLevel, inheritable_thread_target
from pyspark.sql import DataFrame, SparkSession

from lakecore.config import JobConfig, RunConfig
from lakecore.io import Lakehouse
from lakecore.jobmeta import META_FIELDS, JobMeta
from lakecore.quality import Check, GateResult, enforce, run_gate
from lakecore.runs import JobRun

DESCRIPTION = "spark.job.description"


class RunOptions(BaseModel):
    """The command-line options every job takes. A job with options of its own declares a
    subclass (its fields become `--flags`: name, type, default and `description`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    overrides: tuple[str, ...] = ()
    spark_conf: tuple[str, ...] = ()  # `--conf spark.x=y`
    conf_dir: str | None = None
    verbose: bool = False
    # Dated jobs only: one logical date, or a backfill range (YYYY-MM-DD, checked by
    # lakecore.runner.resolve_dates).
    date: str | None = None
    start: str | None = None
    end: str | None = None
    # Dated jobs skip dates whose inputs have not changed since their last run; not so.
    force: bool = False

    @classmethod
    def own_fields(cls) -> dict[str, Any]:
        """The fields a job's options add to the common ones."""
        return {k: v for k, v in cls.model_fields.items() if k not in RunOptions.model_fields}


@dataclass(frozen=True)
class JobSpec:
    """A job: its metadata (read statically by the scheduler, see lakecore.jobmeta),
    its config model, its options model and its run function."""

    name: str
    description: str
    config_model: type[JobConfig]
    run: Callable[[JobContext], None]
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    dated: bool = False
    # Latest logical date present in the job's input (never the wall clock).
    default_date: Callable[[JobContext], date] | None = None
    options_model: type[RunOptions] = RunOptions
    in_demo: bool = True
    # A dated job that also runs without a date (it then covers everything).
    date_optional: bool = False

    @property
    def meta(self) -> JobMeta:
        return JobMeta(**{f: getattr(self, f) for f in META_FIELDS})


@dataclass
class JobContext:
    spec: JobSpec
    cfg: RunConfig[Any]
    spark: SparkSession
    lake: Lakehouse
    run: JobRun
    options: RunOptions = field(default_factory=RunOptions)
    start: date | None = None
    end: date | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("jobs"))
    _gated: list[DataFrame] = field(default_factory=list, repr=False)
    # What a job's default_date computed and its run can reuse (e.g. a persisted input).
    shared: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def job(self) -> Any:
        return self.cfg.job

    def dates(self) -> list[date]:
        if self.start is None or self.end is None:
            return []
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Log the start and the duration of one step of long work."""
        t0 = time.monotonic()
        self.log.info("%s: %s ...", self.spec.name, what)
        yield
        self.log.info("%s: %s done in %.1fs", self.spec.name, what, time.monotonic() - t0)

    def steps(self, work: Sequence[tuple[str, Callable[[], None]]], parallel: int = 1) -> None:
        """Run independent (what, fn) steps, `parallel` at a time, each logged like step().

        Small tables spend most of their time in the driver (planning, Delta commits),
        so two at once keep two cores busy. The first failure cancels the steps not
        yet started, waits for the running ones (each failure is logged) and is raised.
        """
        labelled = [(f"[{i}/{len(work)}] {what}", fn) for i, (what, fn) in enumerate(work, 1)]

        def timed(what: str, fn: Callable[[], None]) -> None:
            sc = self.spark.sparkContext if self.spark is not None else None
            before = sc.getLocalProperty(DESCRIPTION) if sc else None
            if sc:  # the step's Spark jobs carry its name (UI, event log)
                sc.setLocalProperty(DESCRIPTION, f"{self.spec.name}: {what}")
            try:
                with self.step(what):
                    fn()
            except Exception:
                self.log.exception("%s: %s failed", self.spec.name, what)
                raise
            finally:
                if sc:
                    sc.setLocalProperty(DESCRIPTION, before)  # type: ignore[arg-type]

        if parallel <= 1 or len(work) <= 1:
            for what, fn in labelled:
                timed(what, fn)
            return
        # Worker threads start with the job group and properties of this one.
        run = inheritable_thread_target(self.spark)(timed) if self.spark is not None else timed
        pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix=self.spec.name)
        futures = [pool.submit(run, what, fn) for what, fn in labelled]
        try:
            for future in as_completed(futures):
                future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def gate(self, df: DataFrame, table: str, checks: list[Check]) -> GateResult:
        """Great Expectations gate before `table` is written: raise if a critical check fails.

        The outcome goes to the run record (`_extra.quality.<table>`), so a FAILED run
        in ops.job_runs names the failing expectations; Data Docs go to the env's
        `lakehouse.quality_docs` folder and their path is logged.
        """
        docs = self.cfg.env.lakehouse.quality_docs
        if not df.is_cached:
            # Each expectation is a Spark query over df, and the caller writes df next:
            # compute it once (released by release() when the run ends).
            self._gated.append(df.persist(StorageLevel.MEMORY_AND_DISK))
        with self.step(f"quality gate {table}"):
            result = run_gate(
                df, table, checks, docs, run_name=f"{self.spec.name}-{self.run.run_id}"
            )
        self.run.extra.setdefault("quality", {})[table] = {
            "success": result.success,
            "failed": [str(f) for f in result.failed],
            "docs": result.docs_index,
        }
        self.log.info("%s: Data Docs for %s: %s", self.spec.name, table, result.docs_index)
        return enforce(result)

    def release(self) -> None:
        """Unpersist what gate() cached."""
        while self._gated:
            self._gated.pop().unpersist()
