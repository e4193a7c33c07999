"""lakehouse_maintenance: OPTIMIZE and VACUUM of every Delta table of the lake, daily.

Streams commit every few minutes and daily jobs replace partitions: without
compaction the tables gather small files (slower reads and MERGEs), and without
VACUUM every file ever replaced stays on storage. `maintain_tables` does both;
its retention (168 h by default) is in conf/jobs/maintain_tables.yaml.

It runs at 04:30 UTC, after the nightly seller-risk run. A stream's MERGE that
commits while a table is being compacted may lose the race: the maintenance
job retries its commit, and a stream whose batch fails that way is restarted by
`lakehouse stream` (or its AvailableNow run by Airflow) and resumes from its
checkpoint, so neither loses nor duplicates a row.
It publishes no asset: compaction changes files, not data.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from lakecore.airflow_conf import default_args, spark_job

with DAG(
    dag_id="lakehouse_maintenance",
    description="OPTIMIZE (compaction, Z-order) and VACUUM of the lake's Delta tables",
    schedule=CronTriggerTimetable("30 4 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,  # a missed night is covered by the next: maintenance is not per day
    max_active_runs=1,
    default_args=default_args(execution_timeout=timedelta(hours=2)),
    doc_md=__doc__,
    tags=["lakehouse", "maintenance"],
) as dag:
    spark_job("maintain_tables")
