"""Typed, frozen configuration loaded once at start-up.

`conf/platform.yaml` holds the environments (where Spark runs, where the lake
lives); `conf/jobs/<job>.yaml` holds one job's Spark tuning, skew settings and
parameters. Every problem (missing file, unknown key, wrong type) raises
`ConfigError` naming the file and the dotted key, before any data is touched.
`--set key=value` overrides a job key (`spark.shuffle_partitions=4`) or, with
the `env.` prefix, a key of the selected environment (`env.lakehouse.root=/x`).

Two process environment variables do the same for a whole machine (an Airflow
worker, a notebook server): `LAKEHOUSE_ENV` selects the environment when
`--env` is not given, `LAKEHOUSE_ROOT` overrides its lake root (a `--set
env.lakehouse.root=` still wins). Empty means unset.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
import types
import typing
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    create_model,
    model_validator,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A checkout has its pyproject.toml beside the packages; an installed wheel (a job's
# packed environment, an image) has the packages and conf/ in site-packages.
INSTALLED = not (PROJECT_ROOT / "pyproject.toml").is_file()
DEFAULT_CONF_DIR = PROJECT_ROOT / "conf"
CONF_DIR_VARIABLE = "LAKEHOUSE_CONF_DIR"


def conf_dir_for(conf_dir: Path | str | None = None) -> Path:
    """The config folder: `--conf-dir`, else $LAKEHOUSE_CONF_DIR, else the project's conf/
    (the checkout's, or the copy an installed wheel carries as package data)."""
    chosen = conf_dir or os.environ.get(CONF_DIR_VARIABLE)
    return Path(chosen) if chosen else DEFAULT_CONF_DIR


def path_base(conf_dir: Path) -> Path:
    """What relative local paths in the config are relative to: the folder holding conf/
    (the project root in a checkout, so jobs run from any cwd), or the working directory
    when the config is the one inside an installed package."""
    conf_dir = conf_dir.resolve()
    if INSTALLED and conf_dir == DEFAULT_CONF_DIR.resolve():
        return Path.cwd()
    return conf_dir.parent


class ConfigError(Exception):
    """Bad configuration: the message names the file and the key."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


D = TypeVar("D")

# Constraints a transform's parameter dataclass may declare in a field's metadata
# (`field(default=90, metadata={"ge": 1})`): pydantic's own names.
FIELD_CONSTRAINTS = ("gt", "ge", "lt", "le", "min_length", "max_length")


def model_of(dc: type, *, exclude: tuple[str, ...] = ()) -> type[StrictModel]:
    """A strict config model with the fields, defaults and constraints of a transform's
    parameter dataclass, so each default is written once (in the dataclass).

    `tuple[X, ...]` fields become `list[X]` (YAML has lists); subclass the result to
    add job-level fields and cross-field validators, and build the dataclass back with
    `to_dataclass`.
    """
    hints = typing.get_type_hints(dc)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(dc):
        if f.name in exclude:
            continue
        kind = hints[f.name]
        default = f.default
        if typing.get_origin(kind) is tuple:
            (item, *_rest) = typing.get_args(kind)
            kind = list[item]  # type: ignore[valid-type]
            if default is not dataclasses.MISSING:
                frozen_default = tuple(default)
                default = dataclasses.MISSING
                factory: Any = lambda d=frozen_default: list(d)  # noqa: E731
            else:
                factory = dataclasses.MISSING
        else:
            factory = f.default_factory
        if kind is date:  # YAML gives a date, a string through --set: both parse
            kind = Annotated[date, Strict(False)]
        constraints = {k: v for k, v in f.metadata.items() if k in FIELD_CONSTRAINTS}
        if default is not dataclasses.MISSING:
            info = Field(default=default, **constraints)
        elif factory is not dataclasses.MISSING:
            info = Field(default_factory=factory, **constraints)
        else:
            info = Field(**constraints)
        fields[f.name] = (kind, info)
    model = create_model(f"{dc.__name__}Config", __base__=StrictModel, **fields)
    model.__doc__ = dc.__doc__
    return model


def to_dataclass(model: BaseModel, dc: type[D], **values: Any) -> D:
    """The transform's dataclass from a config model built by `model_of` (lists back to
    tuples); `values` fill or replace fields."""
    names = {f.name for f in dataclasses.fields(dc)}
    data = {k: v for k, v in model.model_dump().items() if k in names}
    data = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return dc(**{**data, **values})


# --------------------------------------------------------------------------- platform

# A Spark byte size: digits and an optional unit (b, k, m, g, t, with or without a trailing b).
BYTE_SIZE = r"^\d+([bkmgtBKMGT][bB]?)?$"


def _int_as_text(value: Any) -> Any:
    """A plain number of bytes (YAML reads `-1` or `1048576` as an int) as Spark's text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


ByteSize = Annotated[str, BeforeValidator(_int_as_text), StringConstraints(pattern=BYTE_SIZE)]


class SparkEnvConfig(StrictModel):
    master: str = "local[*]"
    conf: dict[str, str] = Field(default_factory=dict)
    # Spark event logs under <lake root>/_spark_events, for the history server
    # (docs/operations.md). A remote root's folder must exist (Spark does not create it).
    event_log: bool = False


class LakehouseConfig(StrictModel):
    root: str = "./lakehouse"
    landing: str = "./landing"
    checkpoints: str | None = None
    # Great Expectations Data Docs (a local folder: GE writes them with local file IO).
    # Default: <root>/_quality when the lake is local; a cluster env must set it.
    quality_docs: str | None = None


class ExecutorSizing(StrictModel):
    """Executors of a cluster environment, applied as spark.executor.* when the session starts.

    Sized from the per-job settings (conf/jobs/*.yaml): a job's shuffle_partitions
    should be 2-4x the total executor cores (cores x max_executors), and one
    core's share of executor memory should hold a few advisory-size partitions.
    """

    cores: int = Field(ge=1)
    memory: ByteSize
    memory_overhead: ByteSize | None = None
    # Fixed count (standalone, YARN without dynamic allocation) or a dynamic-allocation range.
    instances: int | None = Field(default=None, ge=1)
    min_executors: int | None = Field(default=None, ge=0)
    max_executors: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _count(self) -> ExecutorSizing:
        if self.instances is not None and self.max_executors is not None:
            raise ValueError("give instances (fixed) or min/max_executors (dynamic), not both")
        if (self.min_executors or 0) > (self.max_executors or self.min_executors or 0):
            raise ValueError(
                f"min_executors {self.min_executors} > max_executors {self.max_executors}"
            )
        return self

    def spark_conf(self) -> dict[str, str]:
        conf = {"spark.executor.cores": str(self.cores), "spark.executor.memory": self.memory}
        if self.memory_overhead:
            conf["spark.executor.memoryOverhead"] = self.memory_overhead
        if self.instances is not None:
            conf["spark.executor.instances"] = str(self.instances)
            # Standalone has no instance count: it grants cores up to cores.max.
            conf["spark.cores.max"] = str(self.instances * self.cores)
        if self.max_executors is not None:
            conf["spark.dynamicAllocation.enabled"] = "true"
            conf["spark.dynamicAllocation.shuffleTracking.enabled"] = "true"
            conf["spark.dynamicAllocation.minExecutors"] = str(self.min_executors or 0)
            conf["spark.dynamicAllocation.maxExecutors"] = str(self.max_executors)
        return conf

    @property
    def total_cores(self) -> int:
        return self.cores * (self.instances or self.max_executors or 1)


class S3Config(StrictModel):
    """The S3 API behind s3a:// paths: AWS S3 (no endpoint), MinIO, Ceph... Credentials
    are never configured here: the AWS SDK's default chain finds them (environment
    variables, Java system properties, a profile, web identity, an instance or pod role)."""

    endpoint: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/.*)?$")
    region: str = Field(default="us-east-1", min_length=1)
    path_style_access: bool = False  # true for MinIO, Ceph and most S3-compatible servers

    def spark_conf(self) -> dict[str, str]:
        prefix = "spark.hadoop.fs.s3a."
        conf = {
            prefix + "aws.credentials.provider": CREDENTIALS_CHAIN,
            prefix + "endpoint.region": self.region,
            prefix + "path.style.access": str(self.path_style_access).lower(),
        }
        if self.endpoint:
            conf[prefix + "endpoint"] = self.endpoint
            conf[prefix + "connection.ssl.enabled"] = str(self.endpoint.startswith("https")).lower()
            # S3A's optimized copyFromLocalFile (the SDK's transfer manager, which RocksDB
            # state uploads go through) fails against some S3-compatible servers (moto:
            # "Status Code: 100"); the plain upload works with every S3 API.
            conf[prefix + "optimized.copy.from.local.enabled"] = "false"
        return conf


CREDENTIALS_CHAIN = "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
# Spark/Hadoop settings that would carry a credential: refused wherever they are given.
_CREDENTIAL_KEY = re.compile(
    r"(access[._-]?key|secret|session[._-]?token|password|credentials?$)", re.IGNORECASE
)


def refuse_credentials(keys: Any, where: str) -> None:
    """A credential in config would end up in logs, run records and version control."""
    for key in keys:
        if _CREDENTIAL_KEY.search(str(key)) and not str(key).endswith("credentials.provider"):
            raise ConfigError(
                f"{where}: key '{key}' would hold a credential: credentials are never read "
                "from config; the AWS SDK's default chain finds them (AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, a profile, a web identity, an instance or pod role)"
            )


class NotifierConfig(StrictModel):
    """An Airflow notifier every failed task also calls (Slack, email...): its class's
    import path and keyword arguments, e.g.
    `{class: airflow.providers.slack.notifications.slack.SlackNotifier,
      kwargs: {slack_conn_id: slack, channel: "#data-alerts", text: "..."}}`."""

    class_: str = Field(alias="class", min_length=3, pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")
    kwargs: dict[str, Any] = Field(default_factory=dict)


class LineageConfig(StrictModel):
    """OpenLineage events of every Spark job (the openlineage-spark listener).

    `file` (default): JSON lines appended to `location`, by default
    <lake root>/_lineage/openlineage.jsonl (a local lake only: the listener writes
    with local file IO); `console`: the driver's log; `http`: a Marquez or other
    OpenLineage server at `url`."""

    enabled: bool = True
    transport: Literal["file", "console", "http"] = "file"
    location: str | None = None
    url: str | None = None
    namespace: str = Field(default="lakehouse", min_length=1)

    @model_validator(mode="after")
    def _transport_settings(self) -> LineageConfig:
        if self.transport == "http" and not self.url:
            raise ValueError("transport 'http' needs 'url' (e.g. http://marquez:5000)")
        return self


class AlertsConfig(StrictModel):
    # Besides ops.alerts, which every failed Airflow task writes to (lakecore.alerts).
    notifiers: list[NotifierConfig] = Field(default_factory=list)


class EnvConfig(StrictModel):
    description: str = ""
    spark: SparkEnvConfig = SparkEnvConfig()
    lakehouse: LakehouseConfig = LakehouseConfig()
    alerts: AlertsConfig = AlertsConfig()
    lineage: LineageConfig = LineageConfig()
    s3: S3Config | None = None  # for s3a:// lake and landing paths
    # None for local mode (the driver is the executor: spark.driver.memory).
    executor_sizing: ExecutorSizing | None = None


class PlatformConfig(StrictModel):
    default_env: str = "local"
    environments: dict[str, EnvConfig]


# --------------------------------------------------------------------------- jobs


class AqeConfig(StrictModel):
    """Adaptive query execution; the defaults are Spark 4's own."""

    enabled: bool = True
    coalesce_partitions: bool = True
    # Spark's default (true) ignores advisory_partition_size when coalescing and only keeps
    # the default parallelism busy; false coalesces to advisory-sized partitions.
    parallelism_first: bool = True
    advisory_partition_size: ByteSize = "64m"
    skew_join: bool = True
    skew_join_factor: float = Field(default=5.0, gt=1)
    skew_join_threshold: ByteSize = "256m"


class SparkJobConfig(StrictModel):
    """Spark settings one job needs; applied by the session factory only."""

    # Spark takes these as Java ints; a million partitions is already absurd.
    shuffle_partitions: int = Field(default=8, ge=1, le=1_000_000)
    default_parallelism: int | None = Field(default=None, ge=1, le=1_000_000)
    # "-1" turns broadcast joins off.
    broadcast_threshold: Annotated[
        str,
        BeforeValidator(_int_as_text),
        StringConstraints(pattern=r"^(-1|\d+([bkmgtBKMGT][bB]?)?)$"),
    ] = "10m"
    driver_memory: ByteSize | None = None
    executor_memory: ByteSize | None = None
    aqe: AqeConfig = AqeConfig()
    extra: dict[str, str] = Field(default_factory=dict)


class SkewConfig(StrictModel):
    """Salting of hot keys in aggregations AQE cannot split (transforms/common/skew.py).

    A key holding >= hot_key_share of a sample (sample_fraction of the rows) is
    aggregated in salt_buckets pieces first; off unless `enabled`.
    """

    enabled: bool = False
    hot_key_share: float = Field(default=0.05, gt=0, le=1)
    salt_buckets: int = Field(default=16, ge=1, le=100_000)
    sample_fraction: float = Field(default=0.1, gt=0, le=1)


class JobConfig(StrictModel):
    """Base of every job's config: each job adds its own section."""

    description: str = ""
    spark: SparkJobConfig = SparkJobConfig()
    skew: SkewConfig = SkewConfig()


J = TypeVar("J", bound=JobConfig)


@dataclass(frozen=True)
class RunConfig(Generic[J]):
    """Everything one run was configured with, and where it came from."""

    env_name: str
    env: EnvConfig
    job: J
    platform_file: Path
    job_file: Path
    # `--conf spark.x=y` of this run: over the job's YAML and the environment's
    # (spark-submit's own --conf still wins: lakecore.session).
    spark_conf: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def lake_root(self) -> str:
        return self.env.lakehouse.root

    @property
    def config_hash(self) -> str:
        payload = {"env": self.env.model_dump(mode="json"), "job": self.job.model_dump(mode="json")}
        if self.spark_conf:
            payload["spark_conf"] = self.spark_conf
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# --------------------------------------------------------------------------- loading


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(
            f"{path}: config file not found (the config folder is --conf-dir, else "
            f"${CONF_DIR_VARIABLE}, else the project's conf/)"
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def parse_overrides(pairs: list[str] | None) -> list[tuple[str, Any]]:
    """`key=value` strings to (dotted key, YAML-typed value)."""
    out: list[tuple[str, Any]] = []
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: expected key=value")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {pair!r}: value is not valid YAML: {exc}") from exc
        out.append((key.strip(), value))
    return out


# Maps keyed by Spark setting names, which hold dots themselves: `--set
# env.spark.conf.spark.sql.x=1` sets the key `spark.sql.x` of `spark.conf` (a
# string, as Spark takes it) and keeps the map's other keys.
SPARK_CONF_MAPS = ("spark.conf.", "spark.extra.")


def _set_dotted(data: dict[str, Any], key: str, value: Any, source: str) -> None:
    for prefix in SPARK_CONF_MAPS:
        if key.startswith(prefix) and len(key) > len(prefix):
            section, name = prefix.rstrip(".").split(".")
            conf = data.setdefault(section, {}).setdefault(name, {})
            if not isinstance(conf, dict):
                raise ConfigError(f"{source}: key '{prefix.rstrip('.')}' is not a section")
            conf[key[len(prefix) :]] = value if isinstance(value, str) else json.dumps(value)
            return
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: key '{key}': '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def _fields_at(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """The keys a model accepts at `loc` (a path of field names and mapping keys)."""
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        model = field.annotation
        origin = typing.get_origin(model)
        if origin is dict:  # dict[str, Model]: the next part is a mapping key
            model = ("dict", typing.get_args(model)[1])
        while isinstance(model, tuple):
            model = model[1]
        if typing.get_origin(model) in (typing.Union, types.UnionType):
            models = [a for a in typing.get_args(model) if a is not type(None)]
            model = models[0] if len(models) == 1 else None
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _unknown_key(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """`unknown key 'a.b'`, with the closest valid key and the valid keys of its section."""
    key = ".".join(str(p) for p in loc)
    parent = loc[:-1]
    # A dict[str, Model] value's fields: skip the mapping key in the path.
    valid = _fields_at(model, parent) or _fields_at(model, tuple(p for p in parent[:-1]))
    if not valid:
        return f"unknown key '{key}'"
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
    hint = f"; did you mean '{'.'.join([*map(str, parent), close[0]])}'?" if close else ""
    return f"unknown key '{key}'{hint} (valid here: {', '.join(valid)})"


def _validate(model: type[BaseModel], data: dict[str, Any], path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            if err["type"] == "extra_forbidden":
                problems.append(_unknown_key(model, tuple(err["loc"])))
            elif err["type"] == "missing":
                problems.append(f"missing key '{key}'")
            else:
                got = err.get("input")
                problems.append(f"key '{key}': {err['msg']} (got {got!r})")
        raise ConfigError(f"{path}: " + "; ".join(problems)) from None


def _resolve_local(path_str: str, base: Path) -> str:
    if "://" in path_str:
        return path_str
    path = Path(path_str)
    return str(path if path.is_absolute() else (base / path).resolve())


def _quality_docs(lake: LakehouseConfig, base: Path, platform_file: Path) -> str:
    if lake.quality_docs is not None:
        if "://" in lake.quality_docs:
            raise ConfigError(
                f"{platform_file}: key 'lakehouse.quality_docs' must be a local folder, "
                f"got {lake.quality_docs!r}"
            )
        return _resolve_local(lake.quality_docs, base)
    if "://" in lake.root:
        raise ConfigError(
            f"{platform_file}: key 'lakehouse.quality_docs' is required when the lake root "
            f"is remote ({lake.root}): Data Docs are written to a local folder"
        )
    return str(Path(_resolve_local(lake.root, base), "_quality"))


def own_section(job_model: type[BaseModel]) -> str | None:
    """The job's own YAML section (beside `spark`, `skew`, `description`), if one."""
    own = [f for f in job_model.model_fields if f not in JobConfig.model_fields]
    return own[0] if len(own) == 1 else None


def load_run_config(
    job_name: str,
    job_model: type[J],
    env_name: str | None = None,
    overrides: list[str] | None = None,
    conf_dir: Path | str | None = None,
    spark_conf: list[str] | None = None,
) -> RunConfig[J]:
    """Load and validate the platform and job config; raise ConfigError on any problem.

    `spark_conf`: the run's `--conf KEY=VALUE` Spark settings (keys `spark.*`)."""
    cli_conf = parse_spark_conf(spark_conf or [])
    conf_dir = conf_dir_for(conf_dir)
    platform_file = conf_dir / "platform.yaml"
    job_file = conf_dir / "jobs" / f"{job_name}.yaml"
    platform_raw = _read_yaml(platform_file)
    job_raw = _read_yaml(job_file)

    env_overrides: list[tuple[str, Any]] = []
    section = own_section(job_model)
    for key, value in parse_overrides(overrides):
        if key.startswith("env."):
            env_overrides.append((key[len("env.") :], value))
            continue
        head, _, rest = key.partition(".")
        if head == job_name and section and section != job_name and rest:
            key = f"{section}.{rest}"  # `--set seller_risk_features.x` = `seller_risk.x`
        _set_dotted(job_raw, key, value, f"{job_file} (--set)")

    platform = _validate(PlatformConfig, platform_raw, platform_file)
    name = env_name or os.environ.get("LAKEHOUSE_ENV") or platform.default_env
    if name not in platform.environments:
        known = ", ".join(sorted(platform.environments))
        raise ConfigError(f"{platform_file}: key 'environments.{name}' not found (known: {known})")
    env_raw = platform_raw["environments"][name] or {}
    if os.environ.get("LAKEHOUSE_ROOT"):
        env_overrides.insert(0, ("lakehouse.root", os.environ["LAKEHOUSE_ROOT"]))
    for key, value in env_overrides:
        _set_dotted(env_raw, key, value, f"{platform_file} (--set env.)")
    spark_raw = env_raw.get("spark") if isinstance(env_raw, dict) else None
    if isinstance(spark_raw, dict) and isinstance(spark_raw.get("conf"), dict):
        refuse_credentials(spark_raw["conf"], f"{platform_file} (environments.{name}.spark.conf)")
    if isinstance(env_raw, dict) and isinstance(env_raw.get("s3"), dict):
        refuse_credentials(env_raw["s3"], f"{platform_file} (environments.{name}.s3)")
    refuse_credentials(cli_conf, "--conf")
    env = _validate(EnvConfig, env_raw, platform_file)

    base = path_base(conf_dir)
    lake = env.lakehouse
    resolved = LakehouseConfig(
        root=_resolve_local(lake.root, base),
        landing=_resolve_local(lake.landing, base),
        checkpoints=_resolve_local(lake.checkpoints, base) if lake.checkpoints else None,
        quality_docs=_quality_docs(lake, base, platform_file),
    )
    lineage = env.lineage
    if lineage.location:
        lineage = lineage.model_copy(update={"location": _resolve_local(lineage.location, base)})
    env = env.model_copy(update={"lakehouse": resolved, "lineage": lineage})
    job = _validate(job_model, job_raw, job_file)
    return RunConfig(
        env_name=name,
        env=env,
        job=job,
        platform_file=platform_file,
        job_file=job_file,
        spark_conf=cli_conf,
    )


def parse_spark_conf(items: list[str]) -> dict[str, str]:
    """`--conf KEY=VALUE` items (spark-submit's spelling) as a dict; the last one wins."""
    conf: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"--conf {item!r}: expected KEY=VALUE (e.g. spark.sql.shuffle.partitions=8)"
            )
        if not key.startswith("spark."):
            raise ConfigError(
                f"--conf {item!r}: {key} is not a Spark setting (keys start with 'spark.'); "
                "job settings are changed with --set"
            )
        conf[key] = value
    return conf
