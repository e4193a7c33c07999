"""Running one job: config first (nothing written on error), then Spark, then the run record.

Exit codes of the command line (jobs.cli): 0 success (or nothing to do), 1 the
job failed (recorded as FAILED in ops.job_runs), 2 bad usage or bad config
(nothing was written), 3 a quality gate withheld the output (recorded as FAILED;
a retry would fail the same way).
"""

from __future__ import annotations

import logging
import sys
from datetime import date

from lakecore.config import J, JobConfig, RunConfig, load_run_config
from lakecore.io import Lakehouse
from lakecore.job import JobContext, JobSpec, RunOptions
from lakecore.jobmeta import TABLE_NAME
from lakecore.runs import JobRun, last_run_inputs
from lakecore.session import get_spark

log = logging.getLogger("jobs")

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_GATE = 3


class UsageError(Exception):
    pass


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("py4j", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _parse_date(value: str, flag: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{flag} {value!r}: expected a date as YYYY-MM-DD") from None


def resolve_dates(spec: JobSpec, options: RunOptions) -> tuple[date | None, date | None]:
    given = [a for a in ("date", "start", "end") if getattr(options, a, None)]
    if not spec.dated:
        if given:
            raise UsageError(f"job {spec.name} takes no date (got --{given[0]})")
        return None, None
    if options.date and (options.start or options.end):
        raise UsageError("use either --date or --start/--end, not both")
    if options.date:
        d = _parse_date(options.date, "--date")
        return d, d
    if bool(options.start) != bool(options.end):
        raise UsageError("--start and --end go together")
    if options.start and options.end:
        start, end = _parse_date(options.start, "--start"), _parse_date(options.end, "--end")
        if end < start:
            raise UsageError(f"--end {end} is before --start {start}")
        return start, end
    return None, None


def run_job(spec: JobSpec, options: RunOptions) -> int:
    """Run one job: config first (nothing written on error), then Spark, then record."""
    if not isinstance(options, spec.options_model):
        raise UsageError(f"job {spec.name} takes {spec.options_model.__name__} options")
    start, end = resolve_dates(spec, options)
    cfg = run_config(spec.name, spec.config_model, options)
    spark = get_spark(cfg, spec.name)
    lake = Lakehouse(spark, cfg.lake_root)
    run = JobRun(job=spec.name, env=cfg.env_name, config_hash=cfg.config_hash)
    ctx = JobContext(spec=spec, cfg=cfg, spark=spark, lake=lake, run=run, options=options)
    log.info("run %s: job %s, env %s, lake %s", run.run_id, spec.name, cfg.env_name, lake.root)
    try:
        if spec.dated and start is None and not spec.date_optional:
            if spec.default_date is None:
                raise UsageError(f"job {spec.name} needs --date or --start/--end")
            start = end = spec.default_date(ctx)
            log.info("%s: no date given, using the latest date in its input: %s", spec.name, start)
        ctx.start, ctx.end = start, end
        run.logical_start, run.logical_end = start, end
        inputs = input_versions(lake, spec)
        skippable = spec.dated and spec.default_date is not None and not options.force
        if skippable and inputs == last_run_inputs(
            lake, spec.name, config_hash=cfg.config_hash, dates=(start, end)
        ):
            log.info(
                "%s %s..%s: no input changed since its last run: nothing to do (--force runs it)",
                spec.name, start, end,
            )  # fmt: skip
            run.noop = True
            run.extra["inputs"] = inputs
        else:
            spec.run(ctx)
            # Tables the job also writes are compared as it left them.
            after = input_versions(lake, spec)
            written = set(spec.meta.tables_written())
            run.extra["inputs"] = {**inputs, **{t: v for t, v in after.items() if t in written}}
    except Exception as exc:
        run.record(spark, lake, "FAILED", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        ctx.release()
    run.record(spark, lake, "NO_OP" if run.noop else "SUCCEEDED")
    return 0


def input_versions(lake: Lakehouse, spec: JobSpec) -> dict[str, int]:
    """The Delta version of every table the job declares it reads (those that exist)."""
    names = {alt.strip() for r in spec.reads for alt in r.split("|")}
    versions = {n: lake.version(n) for n in sorted(names) if TABLE_NAME.match(n)}
    return {n: v for n, v in versions.items() if v is not None}


def open_lake(options: RunOptions, app: str = "query") -> Lakehouse:
    """A session on the environment's lake, for reading (query, tables, summaries)."""
    cfg = run_config("query", JobConfig, options)
    return Lakehouse(get_spark(cfg, app), cfg.lake_root)


def run_config(job: str, model: type[J], options: RunOptions) -> RunConfig[J]:
    """The validated config of one command: YAML, `--env`, `--set` and `--conf`."""
    return load_run_config(
        job,
        model,
        options.env,
        list(options.overrides),
        options.conf_dir,
        spark_conf=list(options.spark_conf),
    )


def print_table_summary(lake: Lakehouse) -> None:
    names = lake.tables()
    width = max((len(n) for n in names), default=10)
    print(f"\n{'table'.ljust(width)}  {'rows':>12}  location")
    for name in names:
        print(f"{name.ljust(width)}  {lake.count(name):>12,}  {lake.path(name)}")
    print(f"{len(names)} tables under {lake.root}")
