"""Config errors stop a job with exit code 2, naming the file and the key, before any write."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from jobs.cli import main as cli_main
from jobs.ingest import IngestConfig
from lakecore.config import PROJECT_ROOT, ConfigError, JobConfig, S3Config, load_run_config
from lakecore.job import JobSpec, RunOptions
from lakecore.runner import UsageError, resolve_dates


@pytest.fixture
def conf_dir(tmp_path) -> Path:
    dst = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", dst)
    return dst


@pytest.fixture(autouse=True)
def _no_machine_overrides(monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_ENV", raising=False)
    monkeypatch.delenv("LAKEHOUSE_ROOT", raising=False)
    monkeypatch.delenv("LAKEHOUSE_CONF_DIR", raising=False)


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def test_defaults_load_and_resolve_paths(conf_dir):
    cfg = load_run_config("ingest", IngestConfig, conf_dir=conf_dir)
    assert cfg.env_name == "local"
    assert cfg.lake_root == str((conf_dir.parent / "lakehouse").resolve())
    assert cfg.job.spark.shuffle_partitions == 8
    assert cfg.job.ingest.sources["demo"] == "{landing}/demo"


def test_unknown_key_names_file_and_key(conf_dir):
    f = conf_dir / "jobs" / "ingest.yaml"
    _write(f, f.read_text() + "\nspark_typo: 1\n")
    with pytest.raises(ConfigError) as err:
        load_run_config("ingest", IngestConfig, conf_dir=conf_dir)
    assert str(f) in str(err.value)
    assert "unknown key 'spark_typo'" in str(err.value)


def test_wrong_type_names_nested_key(conf_dir):
    f = conf_dir / "jobs" / "ingest.yaml"
    _write(f, f.read_text().replace("shuffle_partitions: 8", "shuffle_partitions: eight"))
    with pytest.raises(ConfigError) as err:
        load_run_config("ingest", IngestConfig, conf_dir=conf_dir)
    assert "key 'spark.shuffle_partitions'" in str(err.value)
    assert "'eight'" in str(err.value)


def test_missing_file(conf_dir):
    (conf_dir / "jobs" / "ingest.yaml").unlink()
    with pytest.raises(ConfigError, match=r"ingest\.yaml: config file not found"):
        load_run_config("ingest", IngestConfig, conf_dir=conf_dir)


def test_set_overrides_typed_values(conf_dir):
    cfg = load_run_config(
        "ingest",
        IngestConfig,
        overrides=[
            "spark.shuffle_partitions=3",
            "env.lakehouse.root=/tmp/x",
            "skew.salt_buckets=4",
        ],
        conf_dir=conf_dir,
    )
    assert cfg.job.spark.shuffle_partitions == 3
    assert cfg.job.skew.salt_buckets == 4
    assert cfg.lake_root == "/tmp/x"


def test_set_unknown_key_is_rejected(conf_dir):
    with pytest.raises(ConfigError, match=r"unknown key .spark\.no_such_setting."):
        load_run_config(
            "ingest", IngestConfig, overrides=["spark.no_such_setting=1"], conf_dir=conf_dir
        )


def test_unknown_environment(conf_dir):
    with pytest.raises(ConfigError, match=r"environments\.staging. not found"):
        load_run_config("ingest", IngestConfig, env_name="staging", conf_dir=conf_dir)


def test_machine_environment_variables(conf_dir, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_ENV", "cluster")
    monkeypatch.setenv("LAKEHOUSE_ROOT", "/data/lake")
    cfg = load_run_config("ingest", IngestConfig, conf_dir=conf_dir)
    assert (cfg.env_name, cfg.lake_root) == ("cluster", "/data/lake")
    assert cfg.env.spark.master == "spark://spark-master:7077"
    # --env and --set are more specific than the machine's variables.
    cfg = load_run_config(
        "ingest",
        IngestConfig,
        env_name="local",
        overrides=["env.lakehouse.root=/tmp/y"],
        conf_dir=conf_dir,
    )
    assert (cfg.env_name, cfg.lake_root) == ("local", "/tmp/y")
    monkeypatch.setenv("LAKEHOUSE_ENV", "")
    monkeypatch.setenv("LAKEHOUSE_ROOT", "")
    cfg = load_run_config("ingest", IngestConfig, conf_dir=conf_dir)
    assert (cfg.env_name, cfg.lake_root) == (
        "local",
        str((conf_dir.parent / "lakehouse").resolve()),
    )


def test_cli_exits_2_and_writes_nothing(conf_dir, tmp_path, capsys):
    f = conf_dir / "jobs" / "ingest.yaml"
    _write(f, f.read_text().replace("salt_buckets: 8", "salt_buckets: many"))
    lake = tmp_path / "lake"
    code = cli_main(
        [
            "run",
            "ingest",
            "--source",
            "demo",
            "--conf-dir",
            str(conf_dir),
            f"--set=env.lakehouse.root={lake}",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert str(f) in err and "skew.salt_buckets" in err
    assert not lake.exists()


def _spec(dated: bool) -> JobSpec:
    return JobSpec(
        name="x", description="", config_model=JobConfig, run=lambda ctx: None, dated=dated
    )


def _ns(**kw) -> RunOptions:
    return RunOptions(**kw)


def test_resolve_dates_single_and_range():
    assert resolve_dates(_spec(True), _ns(date="2025-01-31")) == (date(2025, 1, 31),) * 2
    assert resolve_dates(_spec(True), _ns(start="2025-01-01", end="2025-01-03")) == (
        date(2025, 1, 1),
        date(2025, 1, 3),
    )
    assert resolve_dates(_spec(True), _ns()) == (None, None)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"date": "2025-13-01"}, "--date '2025-13-01': expected a date"),
        ({"start": "2025-01-05", "end": "2025-01-01"}, "is before --start"),
        ({"start": "2025-01-05"}, "go together"),
        ({"date": "2025-01-01", "start": "2025-01-01", "end": "2025-01-02"}, "either --date"),
    ],
)
def test_resolve_dates_errors(kw, message):
    with pytest.raises(UsageError, match=message):
        resolve_dates(_spec(True), _ns(**kw))


def test_undated_job_rejects_a_date():
    with pytest.raises(UsageError, match="takes no date"):
        resolve_dates(_spec(False), _ns(date="2025-01-01"))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("spark.aqe.advisory_partition_size", "64 megs"),
        ("spark.aqe.skew_join_threshold", "-1"),
        ("spark.broadcast_threshold", "-2"),
        ("spark.aqe.skew_join_factor", "0.5"),
        ("skew.hot_key_share", "0"),
        ("spark.driver_memory", "8 GB"),
        ("spark.executor_memory", "2gigs"),
    ],
)
def test_bad_tuning_values_name_the_key(conf_dir, key, value):
    with pytest.raises(ConfigError, match=rf"key '{key}'"):
        load_run_config("ingest", IngestConfig, overrides=[f"{key}={value}"], conf_dir=conf_dir)


def test_job_tuning_reaches_the_session_conf(conf_dir):
    from lakecore.session import job_sql_conf

    cfg = load_run_config(
        "ingest",
        IngestConfig,
        overrides=["spark.broadcast_threshold=-1", "spark.aqe.parallelism_first=false"],
        conf_dir=conf_dir,
    )
    conf = job_sql_conf(cfg.job)
    assert conf["spark.sql.autoBroadcastJoinThreshold"] == "-1"
    assert conf["spark.sql.adaptive.coalescePartitions.parallelismFirst"] == "false"
    assert conf["spark.sql.adaptive.advisoryPartitionSizeInBytes"] == "64m"


def test_cluster_environments_validate_and_size_executors(conf_dir):
    """Every documented environment loads; executor sizing becomes spark.executor.* settings."""
    sized = {}
    for env in ("standalone", "kubernetes", "yarn", "cluster"):
        cfg = load_run_config("ingest", IngestConfig, env_name=env, conf_dir=conf_dir)
        sized[env] = cfg.env.executor_sizing.spark_conf()
    assert sized["standalone"] == {
        "spark.executor.cores": "2",
        "spark.executor.memory": "6g",
        "spark.executor.instances": "2",
        "spark.cores.max": "4",
    }
    assert sized["kubernetes"]["spark.dynamicAllocation.maxExecutors"] == "10"
    assert sized["yarn"]["spark.executor.memoryOverhead"] == "2g"


def test_executor_sizing_refuses_fixed_and_dynamic_counts_together(conf_dir):
    with pytest.raises(ConfigError, match=r"instances \(fixed\) or min/max_executors"):
        load_run_config(
            "ingest",
            IngestConfig,
            env_name="standalone",
            overrides=["env.executor_sizing.max_executors=4"],
            conf_dir=conf_dir,
        )


def test_a_short_vacuum_retention_needs_to_be_allowed(conf_dir):
    from jobs.maintain_tables import MaintainConfig

    key = "maintain_tables.vacuum_retention_hours"
    with pytest.raises(
        ConfigError, match=rf"maintain_tables\.yaml: key '{key}'.*allow_short_retention"
    ):
        load_run_config(
            "maintain_tables", MaintainConfig, overrides=[f"{key}=24"], conf_dir=conf_dir
        )
    cfg = load_run_config(
        "maintain_tables",
        MaintainConfig,
        overrides=[f"{key}=24", "maintain_tables.allow_short_retention=true"],
        conf_dir=conf_dir,
    )
    assert cfg.job.maintain_tables.vacuum_retention_hours == 24
    with pytest.raises(ConfigError, match=r"key 'maintain_tables\.tables'.*<layer>\.<table>"):
        load_run_config(
            "maintain_tables",
            MaintainConfig,
            overrides=["maintain_tables.tables=[gold]"],
            conf_dir=conf_dir,
        )


def test_model_of_takes_defaults_and_bounds_from_the_dataclass():
    import dataclasses as dc

    from lakecore.config import model_of, to_dataclass

    @dc.dataclass(frozen=True)
    class Params:
        windows: tuple[int, ...] = dc.field(default=(1, 7), metadata={"min_length": 1})
        days: int = dc.field(default=90, metadata={"ge": 1})
        when: date = date(2025, 1, 1)
        rate: float = 0.5

    Model = model_of(Params)
    assert to_dataclass(Model(), Params) == Params()  # the dataclass's defaults, once
    got = Model(windows=[30, 1], days=3, when="2025-02-01")  # YAML lists, --set strings
    assert to_dataclass(got, Params, rate=0.25) == Params((30, 1), 3, date(2025, 2, 1), 0.25)
    for bad in ({"days": 0}, {"windows": []}, {"days": 1.5}, {"other": 1}):
        with pytest.raises(ValidationError):
            Model(**bad)


def test_unknown_key_names_the_closest_and_the_valid_keys():
    from jobs.registry import registry

    spec = registry()["seller_risk_features"]
    with pytest.raises(ConfigError) as err:
        load_run_config(spec.name, spec.config_model, overrides=["seller_risk.windws=[1]"])
    msg = str(err.value)
    assert "seller_risk_features.yaml: unknown key 'seller_risk.windws'" in msg
    assert "did you mean 'seller_risk.windows'?" in msg and "active_days" in msg


def test_set_accepts_the_job_name_for_its_own_section():
    from jobs.registry import registry

    spec = registry()["als_embeddings"]
    cfg = load_run_config(spec.name, spec.config_model, overrides=["als_embeddings.rank=7"])
    assert cfg.job.als.rank == 7


def test_cli_config_prints_the_resolved_config_with_secrets_masked(capsys):
    import yaml

    conf_key = "env.spark.conf.spark.sql.files.maxPartitionBytes=64"
    code = cli_main(["config", "ingest", "--set", "ingest.parallel_tables=1", "--set", conf_key])
    assert code == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["job"] == "ingest" and doc["settings"]["ingest"]["parallel_tables"] == 1
    conf = doc["environment"]["spark"]["conf"]
    # One key with dots, merged into the map: the YAML's other keys stay.
    assert conf["spark.sql.files.maxPartitionBytes"] == "64"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    # What the session gets: `--conf` over the job's YAML (ingest's shuffle partitions).
    code = cli_main(["config", "ingest", "--conf", "spark.sql.shuffle.partitions=9"])
    assert code == 0
    assert (
        yaml.safe_load(capsys.readouterr().out)["spark_conf"]["spark.sql.shuffle.partitions"] == "9"
    )
    assert cli_main(["config", "ingest", "--conf", "sql.shuffle.partitions=9"]) == 2
    assert "not a Spark setting" in capsys.readouterr().err
    from jobs.cli import masked

    assert masked({"s3": {"secret_key": "abc", "region": "x"}, "token": None}) == {
        "s3": {"secret_key": "***", "region": "x"},
        "token": None,
    }


def test_cli_list_json_and_demo_rejects_an_unknown_section(capsys):
    import json

    assert cli_main(["list", "--json"]) == 0
    jobs = {j["name"]: j for j in json.loads(capsys.readouterr().out)}
    assert jobs["ingest"]["writes"][:2] == ["bronze.<table>", "quarantine.<table>"]
    assert jobs["seller_risk_features"]["dated"] is True
    assert cli_main(["demo", "--set", "generate_demo.orders=5"]) == 2
    assert "did you mean 'generate_demo_data'?" in capsys.readouterr().err


def test_the_config_folder_is_the_option_then_the_variable_then_the_project(monkeypatch, tmp_path):
    from lakecore.config import DEFAULT_CONF_DIR, conf_dir_for, path_base

    assert conf_dir_for() == DEFAULT_CONF_DIR
    monkeypatch.setenv("LAKEHOUSE_CONF_DIR", "")
    assert conf_dir_for() == DEFAULT_CONF_DIR  # empty: unset
    monkeypatch.setenv("LAKEHOUSE_CONF_DIR", str(tmp_path / "env-conf"))
    assert conf_dir_for() == tmp_path / "env-conf"
    assert conf_dir_for(tmp_path / "cli-conf") == tmp_path / "cli-conf"
    # In a checkout, relative paths are relative to the folder holding conf/.
    assert path_base(DEFAULT_CONF_DIR) == DEFAULT_CONF_DIR.resolve().parent
    assert path_base(tmp_path / "job" / "conf") == tmp_path / "job"
    with pytest.raises(ConfigError, match="LAKEHOUSE_CONF_DIR"):
        load_run_config("ingest", JobConfig, conf_dir=tmp_path / "missing")


def test_an_s3_compatible_endpoint_gets_the_plain_upload_path():
    """RocksDB state uploads go through S3A's copyFromLocalFile, whose optimized path
    failed against moto's server ("Status Code: 100"); AWS itself keeps the default."""
    key = "spark.hadoop.fs.s3a.optimized.copy.from.local.enabled"
    assert S3Config(endpoint="http://127.0.0.1:9000").spark_conf()[key] == "false"
    assert key not in S3Config().spark_conf()
