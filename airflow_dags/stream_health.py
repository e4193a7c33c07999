"""streaming_available_now: the streaming jobs as scheduled incremental runs.

Each task starts a Structured Streaming query with the AvailableNow trigger: it
drains what arrived since its checkpoint and stops, so a stream costs a cluster
only while there is something to read. Checkpoints make every run pick up
exactly where the last one ended. Streaming jobs of this checkout only: a job
whose module is not here yet gets no task.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from lakecore.airflow_conf import default_args, has_job, spark_job

STREAMS = ("seller_risk_stream", "inventory_stream")

with DAG(
    dag_id="streaming_available_now",
    description="AvailableNow runs of the streaming jobs every 15 minutes",
    schedule=CronTriggerTimetable("*/15 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,  # a missed slot is covered by the next run: the checkpoint holds the backlog
    max_active_runs=1,  # one query per checkpoint at a time
    default_args=default_args(execution_timeout=timedelta(minutes=30)),
    doc_md=__doc__,
    tags=["lakehouse", "streaming"],
) as dag:
    for job in STREAMS:
        if has_job(job):
            spark_job(job)
