"""Build the driver JVM's class-data-sharing archive (`make setup`; `python -m lakecore.class_archive`).

A job's JVM spends seconds loading and verifying the same ~20,000 classes (Spark, Delta,
Hadoop) every time it starts. Java's dynamic CDS archive keeps them pre-parsed: a run of
a small Delta workload with `-XX:ArchiveClassesAtExit` writes it, and every later driver
JVM maps it (`lakecore.spark_conf.class_archive_conf`). Measured on the 2-core machine:
a small write/MERGE/read job 22.8 s -> 18.7 s; `open_lake` 7.2 s -> 4.7 s.

The archive belongs to this JDK build and this classpath: after a JDK or jar change the
JVM ignores it (silently) until `make setup` builds it again (the stamp depends on the pom).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lakecore.spark_conf import CLASS_ARCHIVE

# What the archive is trained on: a session with Delta, a write, a MERGE, a change-feed
# read and an aggregate (the classes every job loads), then a clean JVM exit.
WORKLOAD = """
import sys
from pyspark.sql import functions as F
from lakecore.job import RunOptions
from lakecore.runner import open_lake

lake = open_lake(RunOptions(overrides=(f"env.lakehouse.root={sys.argv[1]}",
                                       "env.lineage.enabled=false",
                                       "env.spark.master=local[1]")))
df = lake.spark.range(100).withColumn("v", F.col("id") % 7)
lake.overwrite(df, "silver.t")
lake.ensure_change_feed("silver.t")
lake.merge(df.withColumn("v", F.col("v") + 1), "silver.t", ["id"])
lake.changes("silver.t", 1, lake.version("silver.t")).count()
lake.read("silver.t").groupBy("v").agg(F.count("*")).collect()
spark = lake.spark
gateway = spark.sparkContext._gateway
spark.stop()
# The archive is written when the JVM exits: wait for it, not only for Python.
gateway.shutdown()
if getattr(gateway, "proc", None) is not None:
    gateway.proc.stdin.close()
    gateway.proc.wait(timeout=300)
"""


def build(archive: Path = CLASS_ARCHIVE) -> Path:
    """Write `archive` (replacing it) from one run of WORKLOAD; returns its path."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    for stale in (archive, partial):
        stale.unlink(missing_ok=True)  # a stale archive must not be read while training
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="class-archive-") as lake:
        env = {
            **os.environ,
            "JAVA_TOOL_OPTIONS": f"-XX:ArchiveClassesAtExit={partial} -Xlog:cds=off "
            "-Xlog:cds+dynamic=off",
        }
        done = subprocess.run(
            [sys.executable, "-c", WORKLOAD, lake],
            env=env,
            capture_output=True,
            text=True,
        )
    if done.returncode != 0 or not partial.is_file():
        tail = "\n".join((done.stderr or "").splitlines()[-20:])
        raise RuntimeError(f"class archive not written (exit {done.returncode}):\n{tail}")
    partial.rename(archive)
    size = archive.stat().st_size / 2**20
    print(f"class archive {archive} ({size:.0f} MB) in {time.monotonic() - t0:.0f}s")
    return archive


if __name__ == "__main__":
    build()
