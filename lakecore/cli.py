"""`python -m jobs` / `spark-submit jobs/main.py`: list, run, query, tables, demo.

Exit codes: 0 success, 1 the job failed (recorded as FAILED in ops.job_runs),
2 bad usage or bad config (nothing was written).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date

from lakecore.config import ConfigError, JobConfig, load_run_config
from lakecore.io import Lakehouse
from lakecore.job import JobContext, JobSpec
from lakecore.runs import JobRun
from lakecore.session import MissingJarsError, get_spark

log = logging.getLogger("jobs")

EXIT_FAILED = 1
EXIT_USAGE = 2


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


def resolve_dates(spec: JobSpec, args: argparse.Namespace) -> tuple[date | None, date | None]:
    given = [a for a in ("date", "start", "end") if getattr(args, a, None)]
    if not spec.dated:
        if given:
            raise UsageError(f"job {spec.name} takes no date (got --{given[0]})")
        return None, None
    if args.date and (args.start or args.end):
        raise UsageError("use either --date or --start/--end, not both")
    if args.date:
        d = _parse_date(args.date, "--date")
        return d, d
    if bool(args.start) != bool(args.end):
        raise UsageError("--start and --end go together")
    if args.start:
        start, end = _parse_date(args.start, "--start"), _parse_date(args.end, "--end")
        if end < start:
            raise UsageError(f"--end {end} is before --start {start}")
        return start, end
    return None, None


def _common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", default=None, help="environment in conf/platform.yaml")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a job config key (env.<key> for the environment); repeatable",
    )
    p.add_argument("--conf-dir", default=None, help="config folder (default: ./conf)")
    p.add_argument("-v", "--verbose", action="store_true")


def build_parser(registry: dict[str, JobSpec]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the jobs, and what each reads and writes")

    run = sub.add_parser("run", help="run one job")
    run_jobs = run.add_subparsers(dest="job", required=True, metavar="JOB")
    for spec in registry.values():
        jp = run_jobs.add_parser(spec.name, help=spec.description)
        _common_args(jp)
        if spec.dated:
            jp.add_argument("--date", help="logical date YYYY-MM-DD (default: latest in input)")
            jp.add_argument("--start", help="first date of a backfill range")
            jp.add_argument("--end", help="last date of a backfill range (inclusive)")
        if spec.add_arguments:
            spec.add_arguments(jp)

    q = sub.add_parser("query", help="run Spark SQL over the lakehouse (tables as layer.table)")
    q.add_argument("sql")
    q.add_argument("--format", choices=("table", "json", "csv"), default="table")
    q.add_argument("--limit", type=int, default=1000, help="rows printed at most (table format)")
    _common_args(q)

    t = sub.add_parser("tables", help="every table in the lakehouse with its row count")
    _common_args(t)

    d = sub.add_parser("demo", help="generate demo data, ingest it, run every batch job")
    d.add_argument(
        "--kafka",
        action="store_true",
        help="start a local Kafka broker and run the streams through it (default: Delta stand-ins)",
    )
    d.add_argument(
        "--no-summary",
        dest="summary",
        action="store_false",
        help="skip the closing table of every table and its row count",
    )
    _common_args(d)
    return parser


def run_job(spec: JobSpec, args: argparse.Namespace) -> int:
    """Run one job: config first (nothing written on error), then Spark, then record."""
    start, end = resolve_dates(spec, args)
    cfg = load_run_config(spec.name, spec.config_model, args.env, args.overrides, args.conf_dir)
    spark = get_spark(cfg, spec.name)
    lake = Lakehouse(spark, cfg.lake_root)
    run = JobRun(job=spec.name, env=cfg.env_name, config_hash=cfg.config_hash)
    ctx = JobContext(spec=spec, cfg=cfg, spark=spark, lake=lake, run=run, args=args)
    log.info("run %s: job %s, env %s, lake %s", run.run_id, spec.name, cfg.env_name, lake.root)
    try:
        if spec.dated and start is None:
            if spec.default_date is None:
                raise UsageError(f"job {spec.name} needs --date or --start/--end")
            start = end = spec.default_date(ctx)
            log.info("%s: no date given, using the latest date in its input: %s", spec.name, start)
        ctx.start, ctx.end = start, end
        run.logical_start, run.logical_end = start, end
        spec.run(ctx)
    except Exception as exc:
        run.record(spark, lake, "FAILED", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        ctx.release()
    run.record(spark, lake, "SUCCEEDED")
    return 0


def _session_for_reading(args: argparse.Namespace) -> Lakehouse:
    cfg = load_run_config("query", JobConfig, args.env, args.overrides, args.conf_dir)
    spark = get_spark(cfg, "query")
    return Lakehouse(spark, cfg.lake_root)


def cmd_query(args: argparse.Namespace) -> int:
    lake = _session_for_reading(args)
    lake.register_catalog()
    df = lake.spark.sql(args.sql)
    if args.format == "table":
        df.show(args.limit, truncate=False)
    elif args.format == "json":
        for row in df.toJSON().toLocalIterator():
            print(row)
    else:
        df.toPandas().to_csv(sys.stdout, index=False)
    return 0


def cmd_tables(args: argparse.Namespace) -> int:
    lake = _session_for_reading(args)
    print_table_summary(lake)
    return 0


def print_table_summary(lake: Lakehouse) -> None:
    names = lake.tables()
    width = max((len(n) for n in names), default=10)
    print(f"\n{'table'.ljust(width)}  {'rows':>12}  location")
    for name in names:
        print(f"{name.ljust(width)}  {lake.count(name):>12,}  {lake.path(name)}")
    print(f"{len(names)} tables under {lake.root}")


def cmd_list(registry: dict[str, JobSpec]) -> int:
    for spec in registry.values():
        dated = " (dated: --date | --start/--end)" if spec.dated else ""
        print(f"{spec.name}{dated}\n    {spec.description}")
        print(f"    reads:  {', '.join(spec.reads) or '-'}")
        print(f"    writes: {', '.join(spec.writes) or '-'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from jobs import registry
    from jobs.demo import run_demo

    REGISTRY = registry()
    parser = build_parser(REGISTRY)
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "verbose", False))
    try:
        if args.command == "list":
            return cmd_list(REGISTRY)
        if args.command == "run":
            return run_job(REGISTRY[args.job], args)
        if args.command == "query":
            return cmd_query(args)
        if args.command == "tables":
            return cmd_tables(args)
        if args.command == "demo":
            return run_demo(REGISTRY, args)
    except (ConfigError, UsageError, MissingJarsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        log.exception("failed: %s", exc)
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


def dump_json(obj: object) -> str:
    return json.dumps(obj, default=str, sort_keys=True)
