"""One SparkSession for the whole test run, lean settings, Delta enabled."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from catalog.tables import TABLES
from jobs.cli import main as cli_main
from lakecore.config import JobConfig, load_run_config
from lakecore.io import Lakehouse
from lakecore.session import get_spark


def silver(spark, table: str, rows: list[dict]):
    """A silver table from dicts of plain values: every column of its canonical schema,
    missing keys null, values cast from their text like SQL (in the session time zone)."""
    names = TABLES[table].names
    raw = spark.createDataFrame(
        [tuple(None if r.get(c) is None else str(r[c]) for c in names) for r in rows],
        T.StructType([T.StructField(c, T.StringType()) for c in names]),
    )
    return raw.select(*[F.col(c).cast(TABLES[table].type_of(c)).alias(c) for c in names])


# Settings every test run shares: few partitions, no UI, tiny Delta log reads.
# One JVM serves the whole run (40 min, hundreds of lakes): a larger heap than a
# job's, and Spark's status store (kept even with the UI off) remembers few queries.
TEST_ENV_OVERRIDES = [
    "env.spark.master=local[2]",
    "env.spark.conf.spark.driver.memory=6g",
    "env.spark.conf.spark.ui.enabled=false",
    "env.spark.conf.spark.ui.showConsoleProgress=false",
    # Lineage is tested in its own process (test_lineage.py): not on every query here.
    "env.lineage.enabled=false",
    "env.spark.conf.spark.sql.ui.retainedExecutions=50",
    "env.spark.conf.spark.ui.retainedJobs=100",
    "env.spark.conf.spark.ui.retainedStages=100",
    "env.spark.conf.spark.ui.retainedTasks=5000",
    # Delta picks its log store from the session's start-up conf: the s3a tests that run
    # in this session commit through the `s3` environment's store, as its jobs do.
    "env.spark.conf.spark.delta.logStore.s3a.impl=io.lakehouse.delta.S3ConditionalPutLogStore",
]
TEST_JOB_OVERRIDES = [
    "spark.shuffle_partitions=2",
    "spark.aqe.advisory_partition_size=1m",
]


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    lake_root = tmp_path_factory.mktemp("session-lake")
    cfg = load_run_config(
        "query",
        JobConfig,
        overrides=[*TEST_ENV_OVERRIDES, f"env.lakehouse.root={lake_root}", *TEST_JOB_OVERRIDES],
    )
    session = get_spark(cfg, "tests")
    session.conf.set("spark.default.parallelism", "2")
    yield session
    session.stop()


@pytest.fixture(scope="module", autouse=True)
def _release_spark_memory():
    """After each module: forget its lakes. The JVM caches a Delta log (and its state)
    per table path it has seen, and tests leave cached data behind; over a whole run
    that filled the driver's heap (a broadcast failed for memory in the last module)."""
    yield
    spark = SparkSession.getActiveSession()
    if spark is None:  # no Spark yet (pure-Python modules run first)
        return
    spark.catalog.clearCache()
    spark.sparkContext._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    persisted = spark.sparkContext._jsc.getPersistentRDDs()
    for rdd_id in list(persisted.keySet().toArray()):
        persisted.get(rdd_id).unpersist(False)


@pytest.fixture
def lake_root(tmp_path) -> Path:
    root = tmp_path / "lake"
    root.mkdir()
    return root


@pytest.fixture
def lake(spark, lake_root) -> Lakehouse:
    return Lakehouse(spark, str(lake_root))


def run_cli(lake_root: Path | str, *args: str, landing: Path | str | None = None) -> int:
    """Run `python -m jobs <args>` in-process against a test lake (same session)."""
    extra = [f"--set=env.lakehouse.root={lake_root}"]
    if landing is not None:
        extra.append(f"--set=env.lakehouse.landing={landing}")
    extra += [f"--set={o}" for o in TEST_JOB_OVERRIDES]
    return cli_main([*args, *extra])


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public datasets: skip when unset on a user's machine, fail when set but missing."""
    value = os.environ.get("LAKEHOUSE_SHARED_DATA")
    if not value:
        default = Path(__file__).resolve().parents[2] / "shared" / "data"
        if not default.is_dir():
            pytest.skip("public datasets not found: set LAKEHOUSE_SHARED_DATA to ../shared/data")
        return default
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"LAKEHOUSE_SHARED_DATA={value} is set but the folder does not exist")
    return path


# The demo at a scale that keeps the suite quick yet gives every fraud pattern
# and every drift kind enough rows to show (the ground-truth tests rely on it).
DEMO_TEST_SCALE = [
    "generate_demo_data.orders=12000",
    "generate_demo_data.customers=3000",
    "generate_demo_data.products=1200",
]


@pytest.fixture(scope="session")
def demo_lake(spark, tmp_path_factory) -> Lakehouse:
    """`python -m jobs demo` once per test run: generate, ingest and every batch job."""
    root = tmp_path_factory.mktemp("demo")
    lake_root, landing = root / "lake", root / "landing"
    sets = [f"--set={s}" for s in DEMO_TEST_SCALE]
    assert run_cli(lake_root, "demo", "--no-summary", *sets, landing=landing) == 0
    return Lakehouse(spark, str(lake_root))


@pytest.fixture(scope="session")
def olist_lake(spark, shared_data, tmp_path_factory) -> Lakehouse:
    """Olist ingested (bronze) and conformed (silver) once per test run, read in place."""
    lake_root = tmp_path_factory.mktemp("olist") / "lake"
    source = ["--source", "olist", "--path", str(shared_data / "olist")]
    assert run_cli(lake_root, "run", "ingest", *source) == 0
    assert run_cli(lake_root, "run", "conform") == 0
    return Lakehouse(spark, str(lake_root))


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    """A real Kafka broker (KRaft, one node) on 127.0.0.1 for the tests that stream."""
    from devtools.kafka_broker import KafkaBroker

    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    broker.start(owner_pid=os.getpid())
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory):
    """Airflow 3 configured for this test run: its own AIRFLOW_HOME, sqlite, the repo's DAGs.

    Airflow reads its configuration when it is first imported, so the variables
    are set before any test imports it (nothing else in the suite does).
    """
    import sys

    from lakecore.config import PROJECT_ROOT

    if "airflow" in sys.modules:
        pytest.fail("airflow was imported before the airflow_home fixture configured it")
    home = tmp_path_factory.mktemp("airflow")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "airflow_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        # The OpenLineage provider's own events (task runs) go to a file the DAG tests read.
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(home / "openlineage.jsonl"), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "lakehouse-airflow",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def airflow_db(airflow_home):
    """The metadata DB `dag.test()` needs: `airflow db migrate` on the fixture's sqlite file."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return airflow_home


# `make test TEST_WORKERS=N` runs the suite on N pytest-xdist workers (`--dist
# loadgroup`), each with its own SparkSession (the default, 0, is one process: on
# 2 cores two workers gained nothing). Tests that share an expensive session
# fixture must share a worker (or it is built twice), and so must a module's tests
# (module-scoped fixtures): modules joined by the costly fixtures they use form one
# group, any other module is its own. Costly groups go out first, unit modules last,
# so the short ones fill the gaps at the end.
COSTLY_FIXTURES = ("demo_lake", "kafka", "olist_lake", "airflow_home")


def xdist_groups(items) -> dict[str, str]:
    """module -> group: modules sharing a costly fixture, transitively, share a group."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for item in items:
        module = item.module.__name__
        find(module)
        for fixture in COSTLY_FIXTURES:
            if fixture in item.fixturenames:
                parent[find(module)] = find(fixture)
    return {m: find(m) for m in parent if m not in COSTLY_FIXTURES}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if not hasattr(config, "workerinput"):  # not an xdist worker: nothing to group
        return
    groups = xdist_groups(items)

    def rank(item) -> tuple[int, str]:
        group = groups[item.module.__name__]
        if group in COSTLY_FIXTURES:
            return (0, str(COSTLY_FIXTURES.index(group)))
        return (1 if ".integration." in group else 2, "")

    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[item.module.__name__]))
    items.sort(key=rank)  # stable: collection order within a rank
