"""`lakehouse` (or `python -m jobs`, `spark-submit jobs/main.py`): list, run, stream, health,
config, query, tables, alert, demo.

Exit codes: 0 success, 1 the job failed (recorded as FAILED in ops.job_runs),
2 bad usage or bad config (nothing was written), 3 a quality gate withheld the
output (recorded as FAILED), 4 `health` found an unhealthy stream.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import types
import typing
from typing import Any

import yaml
from pydantic import ValidationError

from jobs.demo import run_demo
from jobs.registry import registry
from lakecore.alerts import SEVERITIES, record_alert
from lakecore.config import ConfigError
from lakecore.job import JobSpec, RunOptions
from lakecore.quality import QualityGateError
from lakecore.runner import (
    EXIT_FAILED,
    EXIT_GATE,
    EXIT_USAGE,
    UsageError,
    open_lake,
    print_table_summary,
    run_config,
    run_job,
    setup_logging,
)
from lakecore.session import MissingJarsError
from lakecore.spark_conf import effective_spark_conf
from lakecore.sql_guard import NotReadOnlyError, check_read_only
from lakecore.streaming import StreamOptions
from lakecore.supervise import RestartPolicy, supervise

log = logging.getLogger("jobs")


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
    p.add_argument(
        "--conf",
        dest="spark_conf",
        action="append",
        default=[],
        metavar="spark.KEY=VALUE",
        help="a Spark setting, over the job's YAML and the environment's "
        "(spark-submit's own --conf wins); repeatable",
    )
    p.add_argument(
        "--conf-dir",
        default=None,
        help="config folder (default: $LAKEHOUSE_CONF_DIR, else the project's conf/)",
    )
    p.add_argument("-v", "--verbose", action="store_true")


def _scalar_type(annotation: Any) -> type:
    """str/int/float of an option's annotation (`X | None` counts as X)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    return annotation if annotation in (str, int, float, bool) else str


def add_option_arguments(p: argparse.ArgumentParser, model: type[RunOptions]) -> None:
    """A job's own options, as `--flags` built from its options model."""
    for name, info in model.own_fields().items():
        kind = _scalar_type(info.annotation)
        flag = "--" + name.replace("_", "-")
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        kw: dict[str, Any] = {"dest": name, "help": info.description}
        if kind is bool:
            kw["action"] = "store_true"
        else:
            kw["type"] = kind
            if info.is_required():
                kw["required"] = True
            else:
                kw["default"] = info.default
            if "choices" in extra:
                kw["choices"] = list(extra["choices"])  # type: ignore[arg-type]
        p.add_argument(flag, **kw)


def build_parser(registry: dict[str, JobSpec]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lakehouse", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="the jobs, and what each reads and writes")
    ls.add_argument("--json", action="store_true", help="one JSON document instead of text")

    c = sub.add_parser("config", help="a job's fully resolved config (YAML + overrides)")
    c.add_argument("job", choices=sorted(registry), metavar="JOB")
    _common_args(c)

    run = sub.add_parser("run", help="run one job")
    run_jobs = run.add_subparsers(dest="job", required=True, metavar="JOB")
    for spec in registry.values():
        jp = run_jobs.add_parser(spec.name, help=spec.description)
        _common_args(jp)
        if spec.dated:
            jp.add_argument("--date", help="logical date YYYY-MM-DD (default: latest in input)")
            jp.add_argument("--start", help="first date of a backfill range")
            jp.add_argument("--end", help="last date of a backfill range (inclusive)")
            jp.add_argument(
                "--force",
                action="store_true",
                help="run even if no input changed since the last run of these dates",
            )
        add_option_arguments(jp, spec.options_model)

    q = sub.add_parser("query", help="run Spark SQL over the lakehouse (tables as layer.table)")
    q.add_argument("sql")
    q.add_argument("--format", choices=("table", "json", "csv"), default="table")
    q.add_argument("--limit", type=int, default=1000, help="rows printed at most (table format)")
    q.add_argument(
        "--write",
        action="store_true",
        help="allow a statement that changes data or tables (DELETE, MERGE, DROP, ...)",
    )
    _common_args(q)

    a = sub.add_parser("alert", help="record an operational alert in ops.alerts")
    a.add_argument("subject", help="one line: what happened")
    a.add_argument("--detail", default=None, help="more text (an error message, a log tail)")
    a.add_argument("--source", default="cli", help="who raises it (airflow, a job's name...)")
    a.add_argument("--severity", choices=SEVERITIES, default="error")
    a.add_argument(
        "--attr",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an attribute (dag_id=..., task_id=...); repeatable",
    )
    _common_args(a)

    streams = sorted(
        n for n, spec in registry.items() if issubclass(spec.options_model, StreamOptions)
    )
    st = sub.add_parser(
        "stream",
        help="run a stream job continuously, restarted on failure (SIGTERM stops it cleanly)",
        description=supervise_doc(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    st.add_argument("job", choices=streams, metavar="JOB", help=" or ".join(streams))
    st.add_argument("--max-restarts", type=int, default=RestartPolicy.max_restarts,
                    help="failures in a row before giving up (default %(default)s)")  # fmt: skip
    st.add_argument("--backoff", type=float, default=RestartPolicy.backoff,
                    help="seconds before the first restart, doubled each time (default %(default)s)")  # fmt: skip
    st.add_argument("--backoff-max", type=float, default=RestartPolicy.backoff_max,
                    help="longest wait between restarts, in seconds (default %(default)s)")  # fmt: skip
    st.add_argument("--healthy-after", type=float, default=RestartPolicy.healthy_after,
                    help="a run this long (s) before failing resets the count (default %(default)s)")  # fmt: skip
    _common_args(st)

    h = sub.add_parser(
        "health", help="lag and last-batch age of the streams; alarms to ops.alerts, exit 4"
    )
    h.add_argument("--job", action="append", choices=streams, default=[], metavar="JOB",
                   help="check only this stream (repeatable; default: every stream)")  # fmt: skip
    h.add_argument("--json", action="store_true", help="one JSON document instead of text")
    h.add_argument("--no-record", dest="record", action="store_false",
                   help="report only: write no alert to ops.alerts")  # fmt: skip
    _common_args(h)

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


def options_from_args(model: type[RunOptions], args: argparse.Namespace) -> RunOptions:
    """The typed options of one command from its parsed arguments."""
    given = {k: v for k, v in vars(args).items() if k in model.model_fields}
    given["overrides"] = tuple(given.get("overrides") or ())
    given["spark_conf"] = tuple(given.get("spark_conf") or ())
    return model(**given)


def cmd_query(args: argparse.Namespace) -> int:
    lake = open_lake(options_from_args(RunOptions, args))
    if not args.write:
        try:
            check_read_only(lake.spark, args.sql)
        except NotReadOnlyError as exc:
            raise UsageError(str(exc)) from None
    lake.register_catalog(args.sql)
    df = lake.spark.sql(args.sql)
    if args.format == "table":
        df.show(args.limit, truncate=False)
    elif args.format == "json":
        for row in df.toJSON().toLocalIterator():
            print(row)
    else:
        df.toPandas().to_csv(sys.stdout, index=False)
    return 0


def cmd_alert(args: argparse.Namespace) -> int:
    attributes = {}
    for item in args.attr:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--attr {item!r}: expected KEY=VALUE")
        attributes[key] = value
    lake = open_lake(options_from_args(RunOptions, args), "alert")
    alert_id = record_alert(lake, args.source, args.severity, args.subject, args.detail, attributes)
    print(alert_id)
    return 0


def supervise_doc() -> str:
    from lakecore import supervise

    return supervise.__doc__ or ""


def _passthrough(args: argparse.Namespace) -> list[str]:
    """The common options of `args` again, for a child `lakehouse run`."""
    out = [] if args.env is None else ["--env", args.env]
    out += [f"--set={o}" for o in args.overrides] + [f"--conf={c}" for c in args.spark_conf]
    out += [] if args.conf_dir is None else ["--conf-dir", args.conf_dir]
    return out + (["-v"] if args.verbose else [])


def cmd_stream(args: argparse.Namespace) -> int:
    policy = RestartPolicy(args.max_restarts, args.backoff, args.backoff_max, args.healthy_after)
    command = [sys.executable, "-m", "jobs", "run", args.job,
               f"--set={args.job}.trigger=processing_time", *_passthrough(args)]  # fmt: skip
    return supervise(command, policy, args.job)


def cmd_health(jobs: dict[str, JobSpec], args: argparse.Namespace) -> int:
    from lakecore import health

    names = args.job or [n for n, s in jobs.items() if issubclass(s.options_model, StreamOptions)]
    # Each job's config sees the environment's keys and its own section's keys only.
    env_only = [o for o in args.overrides if not any(o.startswith(f"{n}.") for n in jobs)]
    lake = open_lake(
        RunOptions(env=args.env, overrides=tuple(env_only), spark_conf=tuple(args.spark_conf),
                   conf_dir=args.conf_dir), "health",
    )  # fmt: skip
    report = []
    for name in sorted(names):
        own = [o for o in args.overrides if o.startswith(f"{name}.")]
        options = RunOptions(env=args.env, overrides=(*env_only, *own), conf_dir=args.conf_dir)
        params = getattr(run_config(name, jobs[name].config_model, options).job, name)
        result = health.stream_health(lake, name, params.source, params.alarms)
        if args.record:
            health.record(lake, result)
        report.append(result)
    if args.json:
        print(json.dumps([r.as_dict() for r in report], indent=2))
    else:
        print(health.format_report(report))
    return health.EXIT_UNHEALTHY if any(not r.healthy for r in report) else 0


def cmd_tables(args: argparse.Namespace) -> int:
    print_table_summary(open_lake(options_from_args(RunOptions, args)))
    return 0


def cmd_list(registry: dict[str, JobSpec], as_json: bool = False) -> int:
    if as_json:
        jobs = [dataclasses.asdict(spec.meta) for spec in registry.values()]
        print(json.dumps(jobs, indent=2))
        return 0
    for spec in registry.values():
        dated = " (dated: --date | --start/--end)" if spec.dated else ""
        print(f"{spec.name}{dated}\n    {spec.description}")
        print(f"    reads:  {', '.join(spec.reads) or '-'}")
        print(f"    writes: {', '.join(spec.writes) or '-'}")
    return 0


SECRET_WORDS = ("secret", "password", "token", "access_key", "credential")


def masked(value: Any, key: str = "") -> Any:
    """The config with the values of secret-looking keys replaced by ***."""
    if isinstance(value, dict):
        return {k: masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    if value is not None and any(w in key.lower() for w in SECRET_WORDS):
        return "***"
    return value


def cmd_config(spec: JobSpec, options: RunOptions) -> int:
    cfg = run_config(spec.name, spec.config_model, options)
    doc = {
        "job": spec.name,
        "env": cfg.env_name,
        "files": [str(cfg.platform_file), str(cfg.job_file)],
        "config_hash": cfg.config_hash,
        "environment": cfg.env.model_dump(mode="json"),
        "settings": cfg.job.model_dump(mode="json"),
        "spark_conf": effective_spark_conf(cfg),
    }
    print(yaml.safe_dump(masked(doc), sort_keys=False), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    jobs = registry()
    parser = build_parser(jobs)
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "verbose", False))
    try:
        if args.command == "list":
            return cmd_list(jobs, args.json)
        if args.command == "config":
            return cmd_config(jobs[args.job], options_from_args(RunOptions, args))
        if args.command == "run":
            spec = jobs[args.job]
            return run_job(spec, options_from_args(spec.options_model, args))
        if args.command == "query":
            return cmd_query(args)
        if args.command == "tables":
            return cmd_tables(args)
        if args.command == "stream":
            return cmd_stream(args)
        if args.command == "health":
            return cmd_health(jobs, args)
        if args.command == "alert":
            return cmd_alert(args)
        if args.command == "demo":
            return run_demo(
                jobs, options_from_args(RunOptions, args), kafka=args.kafka, summary=args.summary
            )
    except (ConfigError, UsageError, MissingJarsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except QualityGateError as exc:
        log.error("quality gate failed: %s", exc)
        print(f"error: quality gate failed: {exc}", file=sys.stderr)
        return EXIT_GATE
    except BrokenPipeError:  # `lakehouse list | head`: the reader left, not an error
        sys.stderr.close()
        return 0
    except ValidationError as exc:
        for err in exc.errors():
            flag = "--" + "-".join(str(x) for x in err["loc"]).replace("_", "-")
            print(f"error: {flag}: {err['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        log.exception("failed: %s", exc)
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE
