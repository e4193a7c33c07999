"""Data-quality gate: validate a Spark DataFrame with Great Expectations 1.x before it is written.

Checks are declared as `Check` values; `run_gate` turns them into an expectation
suite named after the table, validates the DataFrame on GE's Spark execution
engine (no conversion to pandas) and returns a `GateResult`; `enforce` raises
`QualityGateError` when a critical check failed. With `docs_root`, suites and
validation results are kept under that folder and GE Data Docs are built there:

    <docs_root>/site/index.html                          the Data Docs site
    <docs_root>/expectations/<layer>/<table>.json        the latest suite of each table
    <docs_root>/validations/<layer>/<table>/<run>/...    every validation result (history)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

KINDS = (
    "not_null",
    "unique",
    "between",
    "all_between",
    "in_set",
    "row_count_equals",
    "row_count_between",
)
ONE_COLUMN_KINDS = ("not_null", "between", "in_set")
TABLE_KINDS = ("row_count_equals", "row_count_between")
SITE_NAME = "lakecore_quality"
MAX_EXAMPLES = 3  # distinct unexpected values quoted in a failure message
SAMPLE_ROWS = 20  # unexpected rows GE fetches (its default), shown in the Data Docs

# GE 1.x keeps "the current context" in a process-global project manager that
# suites and validation definitions look their stores up in: one gate at a time.
_GATE_LOCK = threading.Lock()


class QualityGateError(Exception):
    """A critical check failed: the DataFrame must not be written."""


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Check:
    """One declarative expectation on a DataFrame; build it with the class methods."""

    kind: str
    columns: tuple[str, ...] = ()
    min_value: Any = None
    max_value: Any = None
    values: tuple[Any, ...] = ()
    value: int | None = None
    critical: bool = True
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"check kind {self.kind!r} is not one of {KINDS}")
        if self.kind in ONE_COLUMN_KINDS and len(self.columns) != 1:
            raise ValueError(f"{self.kind} takes exactly one column, got {self.columns}")
        if self.kind in ("unique", "all_between") and not self.columns:
            raise ValueError(f"{self.kind} takes at least one column")
        if self.kind in TABLE_KINDS and self.columns:
            raise ValueError(f"{self.kind} is a table check and takes no column")
        if self.kind in ("between", "all_between", "row_count_between") and (
            self.min_value is None and self.max_value is None
        ):
            raise ValueError(f"{self.kind} needs min_value, max_value or both")
        if self.kind == "in_set" and not self.values:
            raise ValueError("in_set needs at least one value")
        if self.kind == "row_count_equals" and (self.value is None or self.value < 0):
            raise ValueError("row_count_equals needs a value >= 0")
        if not self.name:
            object.__setattr__(self, "name", self._default_name())

    def _default_name(self) -> str:
        cols = ", ".join(self.columns)
        lo = "-inf" if self.min_value is None else _fmt(self.min_value)
        hi = "inf" if self.max_value is None else _fmt(self.max_value)
        if self.kind == "between":
            return f"between({cols}, {lo}, {hi})"
        if self.kind == "all_between":
            return f"all_between({len(self.columns)} columns, {lo}, {hi})"
        if self.kind == "row_count_between":
            return f"row_count_between({lo}, {hi})"
        if self.kind == "row_count_equals":
            return f"row_count_equals({self.value})"
        return f"{self.kind}({cols})"

    @classmethod
    def not_null(cls, column: str, *, critical: bool = True, name: str = "") -> Check:
        return cls("not_null", (column,), critical=critical, name=name)

    @classmethod
    def unique(cls, *columns: str, critical: bool = True, name: str = "") -> Check:
        """No two rows share these columns' values; rows with a null in them are not checked."""
        return cls("unique", tuple(columns), critical=critical, name=name)

    @classmethod
    def between(cls, column: str, min_value: Any = None, max_value: Any = None, **kw: Any) -> Check:
        """Inclusive bounds; nulls are not checked here (use `not_null`)."""
        return cls("between", (column,), min_value=min_value, max_value=max_value, **kw)

    @classmethod
    def all_between(
        cls, columns: Sequence[str], min_value: Any = None, max_value: Any = None, **kw: Any
    ) -> Check:
        """Every one of many columns within inclusive bounds, as one expectation (one Spark job).

        Nulls pass. A failure names each offending column with its count of rows.
        """
        return cls("all_between", tuple(columns), min_value=min_value, max_value=max_value, **kw)

    @classmethod
    def in_set(cls, column: str, values: Sequence[Any] | set[Any], **kw: Any) -> Check:
        """Values of `column` are in `values`; nulls are not checked here (use `not_null`)."""
        ordered = tuple(sorted(values, key=repr)) if isinstance(values, set) else tuple(values)
        return cls("in_set", (column,), values=ordered, **kw)

    @classmethod
    def row_count_equals(cls, value: int, **kw: Any) -> Check:
        return cls("row_count_equals", value=value, **kw)

    @classmethod
    def row_count_between(
        cls, min_value: int | None = None, max_value: int | None = None, **kw: Any
    ) -> Check:
        return cls("row_count_between", min_value=min_value, max_value=max_value, **kw)


@dataclass(frozen=True)
class FailedCheck:
    name: str
    kind: str
    critical: bool
    detail: str
    unexpected_count: int | None = None
    observed_value: Any = None
    examples: tuple[Any, ...] = ()

    def __str__(self) -> str:
        return f"{self.name}: {self.detail}"


@dataclass(frozen=True)
class GateResult:
    """Outcome of one gate. `success` is False only when a critical check failed."""

    table: str
    success: bool
    failed: tuple[FailedCheck, ...]
    statistics: dict[str, float] = field(default_factory=dict)
    docs_index: str | None = None
    seconds: float = 0.0

    @property
    def failed_names(self) -> list[str]:
        return [f.name for f in self.failed]

    @property
    def critical_failures(self) -> list[FailedCheck]:
        return [f for f in self.failed if f.critical]

    @property
    def warnings(self) -> list[FailedCheck]:
        return [f for f in self.failed if not f.critical]


def enforce(result: GateResult) -> GateResult:
    """Raise `QualityGateError` if a critical check failed; log the non-critical ones."""
    for failure in result.warnings:
        log.warning("%s: non-critical check failed: %s", result.table, failure)
    critical = result.critical_failures
    if critical:
        listed = "; ".join(str(f) for f in critical)
        raise QualityGateError(
            f"{result.table} failed {len(critical)} critical expectation(s): {listed}"
        )
    return result


# ---------------------------------------------------------------------- running
def run_gate(
    df: DataFrame,
    table: str,
    checks: Sequence[Check],
    docs_root: str | os.PathLike[str] | None = None,
    *,
    run_name: str | None = None,
    cache: bool = True,
) -> GateResult:
    """Validate `df` against `checks` with GE on Spark; build Data Docs under `docs_root`.

    `cache` persists `df` for the duration of the gate (GE runs one Spark job per
    metric) unless the caller already cached it, and validates a local checkpoint of
    it; the gate unpersists only what it cached.
    `run_name` (a job run id, a logical date) groups results in the Data Docs.
    """
    checks = tuple(checks)
    _check_spec(df, table, checks, docs_root)
    t0 = time.monotonic()
    cached_here = cache and not df.is_cached
    if cached_here:
        df.persist()
    try:
        # GE runs each metric as a query, and a query over df re-plans df's whole
        # lineage (seconds each for a job's output). A local checkpoint of the cached
        # rows plans as one scan. On disk: df stays cached for the caller's write, and
        # a second copy in memory would double that (the files go with the checkpoint).
        rows = df.localCheckpoint(eager=True, storageLevel=StorageLevel.DISK_ONLY) if cache else df
        with _GATE_LOCK:
            suite_result = _validate(rows, table, checks, docs_root, run_name)
    finally:
        if cached_here:
            df.unpersist()
    # GE reorders results; each expectation carries its check's name in `meta`.
    outcome = {r.expectation_config.meta["check"]: r for r in suite_result.results}
    by_name = {c.name: c for c in checks}
    failed = tuple(
        _failure(c, outcome[c.name].result, outcome[c.name].exception_info)
        for c in checks
        if not outcome[c.name].success
    )
    failed = tuple(_with_columns(rows, f, by_name[f.name]) for f in failed)
    docs_index = None
    if docs_root is not None:
        docs_index = str(Path(docs_root, "site", "index.html").resolve())
    result = GateResult(
        table=table,
        success=not any(f.critical for f in failed),
        failed=failed,
        statistics=dict(suite_result.statistics),
        docs_index=docs_index,
        seconds=round(time.monotonic() - t0, 3),
    )
    log.info(
        "quality gate %s: %s, %d/%d checks passed in %.1fs%s",
        table,
        "passed" if result.success else "FAILED",
        len(checks) - len(failed),
        len(checks),
        result.seconds,
        f", docs {docs_index}" if docs_index else "",
    )
    return result


def _with_columns(df: DataFrame, failure: FailedCheck, check: Check) -> FailedCheck:
    """An all_between failure says which columns, and how many rows each, were outside."""
    if check.kind != "all_between" or failure.detail.startswith("could not"):
        return failure
    offending = _columns_outside(df, check)
    lo = "-inf" if check.min_value is None else _fmt(check.min_value)
    hi = "inf" if check.max_value is None else _fmt(check.max_value)
    listed = ", ".join(f"{c} ({n})" for c, n in offending.items())
    detail = f"{failure.observed_value} row(s) outside [{lo}, {hi}]: {listed}"
    return replace(failure, detail=detail, examples=tuple(offending))


def _check_spec(df: DataFrame, table: str, checks: tuple[Check, ...], docs_root) -> None:
    if not checks:
        raise ValueError(f"quality gate for {table}: no checks given")
    names = [c.name for c in checks]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"quality gate for {table}: check names must be unique: {duplicated}")
    if docs_root is not None and "://" in str(docs_root):
        raise ValueError(f"quality gate for {table}: docs_root must be a local folder: {docs_root}")
    present = set(df.columns)
    missing = sorted({col for c in checks for col in c.columns} - present)
    if missing:
        raise ValueError(
            f"quality gate for {table}: checked columns {missing} are missing; "
            f"present: {sorted(present)}"
        )


# ---------------------------------------------------------------------- GE 1.x
def _import_gx():
    """Import GE lazily: it takes seconds, and jobs that only declare checks don't pay it."""
    # GE logs its own set-up at INFO (docstring registry, temp dirs): WARNING unless set.
    ge_log = logging.getLogger("great_expectations")
    if ge_log.level == logging.NOTSET:
        ge_log.setLevel(logging.WARNING)
    import great_expectations as gx

    return gx


def _backend(base: Path | None) -> dict[str, str]:
    if base is None:
        return {"class_name": "InMemoryStoreBackend"}
    return {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(base)}


def _context(gx, docs_root: str | os.PathLike[str] | None):
    """A fresh ephemeral context per gate; with docs_root, suites, results and docs on disk.

    Data source, validation definition and checkpoint stay in memory, so nothing
    stale is ever reloaded and GE's name-uniqueness rules only apply within one gate.
    Every store is named explicitly: a config without stores gets GE's shared defaults.
    """
    from great_expectations.data_context.types.base import DataContextConfig, ProgressBarsConfig

    root = None if docs_root is None else Path(docs_root).resolve()
    sites = {}
    if root is not None:
        sites[SITE_NAME] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": _backend(root / "site"),
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    stores = {
        "expectations_store": ("ExpectationsStore", root and root / "expectations"),
        "validation_results_store": ("ValidationResultsStore", root and root / "validations"),
        "validation_definition_store": ("ValidationDefinitionStore", None),
        "checkpoint_store": ("CheckpointStore", None),
    }
    config = DataContextConfig(
        expectations_store_name="expectations_store",
        validation_results_store_name="validation_results_store",
        checkpoint_store_name="checkpoint_store",
        stores={
            name: {"class_name": cls, "store_backend": _backend(base)}
            for name, (cls, base) in stores.items()
        },
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _validate(df: DataFrame, table: str, checks: tuple[Check, ...], docs_root, run_name):
    gx = _import_gx()
    from great_expectations.core.run_identifier import RunIdentifier

    context = _context(gx, docs_root)
    # persist=False: GE would persist() the batch and never unpersist it (the gate caches).
    source = context.data_sources.add_spark(name="lakecore", persist=False)
    batch = source.add_dataframe_asset(name=table).add_batch_definition_whole_dataframe("all")
    suite = context.suites.add_or_update(
        gx.ExpectationSuite(name=table, expectations=[_expectation(gx, c) for c in checks])
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=table, data=batch, suite=suite)
    )
    actions = [gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=[SITE_NAME])]
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{table} gate",
            validation_definitions=[definition],
            actions=actions if docs_root is not None else [],
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS},
        )
    )
    # An explicit run_time: without one GE parses run_name as a date ("2025-06-30" becomes
    # midnight), and every re-run of that date overwrites the previous result.
    run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
    result = checkpoint.run(batch_parameters={"dataframe": df}, run_id=run_id)
    (suite_result,) = result.run_results.values()
    return suite_result


def _expectation(gx, check: Check):
    ex = gx.expectations
    common = {
        "meta": {"check": check.name},
        "severity": "critical" if check.critical else "warning",
        # Shown on the suite's Data Docs page (the validation page shows neither meta nor notes).
        "notes": f"{check.name}: {'critical' if check.critical else 'reported only'}",
    }
    col = check.columns[0] if check.columns else None
    lo, hi = check.min_value, check.max_value
    if check.kind == "not_null":
        return ex.ExpectColumnValuesToNotBeNull(column=col, **common)
    if check.kind == "unique" and len(check.columns) == 1:
        return ex.ExpectColumnValuesToBeUnique(column=col, **common)
    if check.kind == "unique":
        return ex.ExpectCompoundColumnsToBeUnique(
            column_list=list(check.columns), ignore_row_if="any_value_is_missing", **common
        )
    if check.kind == "between":
        return ex.ExpectColumnValuesToBeBetween(column=col, min_value=lo, max_value=hi, **common)
    if check.kind == "all_between":
        return ex.UnexpectedRowsExpectation(
            unexpected_rows_query=f"SELECT * FROM {{batch}} WHERE {_outside(check)}",
            description=f"{check.name}: {', '.join(check.columns)}",
            **common,
        )
    if check.kind == "in_set":
        return ex.ExpectColumnValuesToBeInSet(column=col, value_set=list(check.values), **common)
    if check.kind == "row_count_equals":
        return ex.ExpectTableRowCountToEqual(value=check.value, **common)
    return ex.ExpectTableRowCountToBeBetween(min_value=lo, max_value=hi, **common)


def _outside(check: Check, column: str | None = None) -> str:
    """SQL condition true for a row with a value outside the bounds (null is not outside)."""
    parts = []
    for col in (column,) if column else check.columns:
        ref = f"`{col.replace('`', '``')}`"
        if check.min_value is not None:
            parts.append(f"{ref} < {check.min_value!r}")
        if check.max_value is not None:
            parts.append(f"{ref} > {check.max_value!r}")
    return " OR ".join(parts)


def _columns_outside(df: DataFrame, check: Check) -> dict[str, int]:
    """For a failed all_between: each offending column and its number of rows outside."""
    from pyspark.sql import functions as F

    counts = df.agg(
        *[F.count_if(F.expr(_outside(check, c))).alias(str(i)) for i, c in enumerate(check.columns)]
    ).first()
    return {c: int(counts[i]) for i, c in enumerate(check.columns) if counts[i]}


def _failure(check: Check, result: dict[str, Any], exception_info: Any) -> FailedCheck:
    """What a failed expectation observed, in words a job log can show."""
    base = {"name": check.name, "kind": check.kind, "critical": check.critical}
    error = _exception_message(exception_info)
    if error is not None:
        # e.g. in_set values of another type than the column: Spark's cast fails.
        return FailedCheck(**base, detail=f"could not be evaluated: {error}")
    if check.kind in TABLE_KINDS or check.kind == "all_between":
        observed = result.get("observed_value")
        if check.kind == "all_between":
            return FailedCheck(**base, detail=f"{observed} row(s) outside", observed_value=observed)
        return FailedCheck(**base, detail=f"observed {observed} rows", observed_value=observed)
    count = int(result.get("unexpected_count") or 0)
    # partial_unexpected_list is a sample (the first rows Spark returns), so are GE's
    # partial_unexpected_counts: quote distinct examples, never per-value counts.
    sample = result.get("partial_unexpected_list") or []
    distinct = {tuple(v.values()) if isinstance(v, dict) else v for v in sample}
    examples = tuple(sorted(distinct, key=repr)[:MAX_EXAMPLES])
    if check.kind == "not_null":
        detail = f"{count} null value(s)"
    elif check.kind == "unique":
        keys = [k if isinstance(k, tuple) else (k,) for k in examples]
        shown = ", ".join(f"({', '.join(map(_show, k))})" for k in keys)
        detail = f"{count} row(s) with a duplicated key, e.g. {shown}"
    else:
        detail = f"{count} unexpected value(s), e.g. {', '.join(map(_show, examples))}"
    return FailedCheck(**base, detail=detail, unexpected_count=count, examples=examples)


def _exception_message(info: Any) -> str | None:
    """GE's exception_info is either one {raised_exception, exception_message} or one per metric."""
    if not isinstance(info, dict):
        return None
    found = [info] if "raised_exception" in info else list(info.values())
    for item in found:
        if isinstance(item, dict) and item.get("exception_message"):
            return str(item["exception_message"]).strip().splitlines()[0][:300]
    return None
