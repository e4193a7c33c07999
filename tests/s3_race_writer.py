"""One Spark driver appending to a Delta table on S3 in lock-step with another driver.

Run by tests/integration/test_s3a_lake.py as a subprocess per driver (`python -m
tests.s3_race_writer URL TABLE WHO N SYNC_DIR [SET...]`, each SET a `--set` of the `s3`
environment, e.g. its Delta log store): each of the N rounds waits for the
other driver at a barrier (files in SYNC_DIR), then appends one row `(WHO, round)`,
so both commit the same table version at about the same moment. Driver `a` creates
the table first and, once both are done, prints the rows kept per driver, the
table's versions and the commits Delta retried as one `RESULT {json}` line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from delta.tables import DeltaTable

from jobs.conform import SPEC
from lakecore.config import load_run_config
from lakecore.session import get_spark


def _wait_for(path: Path, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.005)


def main(url: str, table: str, who: str, rounds: int, sync: Path, extra: list[str]) -> None:
    sets = [
        f"env.lakehouse.root={table.rsplit('/', 1)[0]}/lake",
        f"env.s3.endpoint={url}",
        "env.s3.path_style_access=true",
        "env.spark.master=local[1]",
        "env.spark.conf.spark.driver.memory=1g",
        "env.spark.conf.spark.ui.enabled=false",
        "env.lineage.enabled=false",
        *extra,
    ]
    run = load_run_config("conform", SPEC.config_model, "s3", sets)
    spark = get_spark(run, f"race-{who}")
    other = "b" if who == "a" else "a"
    if who == "a":
        spark.createDataFrame([("init", -1)], "who string, i int").write.format("delta").save(table)
    (sync / f"ready-{who}").touch()
    _wait_for(sync / f"ready-{other}")
    errors = []
    for i in range(rounds):
        (sync / f"go-{who}-{i}").touch()
        _wait_for(sync / f"go-{other}-{i}")
        row = spark.createDataFrame([(who, i)], "who string, i int")
        try:
            row.write.format("delta").mode("append").save(table)
        except Exception as e:  # a conflict the log store detected: recorded, not raised
            errors.append(str(e).splitlines()[0][:300])
    (sync / f"done-{who}").touch()
    result: dict = {"who": who, "errors": errors}
    if who == "a":
        _wait_for(sync / f"done-{other}")
        df = spark.read.format("delta").load(table)
        result["rows"] = {r[0]: r[1] for r in df.groupBy("who").count().collect()}
        history = DeltaTable.forPath(spark, table).history()
        result["versions"] = history.count()
        # A commit Delta retried after a refused N.json was read at an older version.
        result["retried"] = history.where("readVersion < version - 1").count()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    url, table, who, rounds, sync = sys.argv[1:6]
    main(url, table, who, int(rounds), Path(sync), sys.argv[6:])
