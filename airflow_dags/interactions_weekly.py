"""interactions_weekly: the weekly interactions feed -> silver.interactions (an asset).

Its update, together with the hourly inventory book, triggers
`recommendations_weekly`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, Param

from lakecore.airflow_conf import default_args, spark_job

FEED_TABLES = "customers,products,interactions"

with DAG(
    dag_id="interactions_weekly",
    description="ingest the week's interactions (with their products and customers) -> silver",
    schedule=CronDataIntervalTimetable("0 1 * * 1", timezone="UTC"),  # Mondays 01:00 UTC
    start_date=pendulum.datetime(2025, 1, 6, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(execution_timeout=timedelta(hours=1)),
    params={"source": Param("demo", type="string", description="landing source to ingest")},
    doc_md=__doc__,
    tags=["lakehouse", "recommendations"],
) as dag:
    ingest = spark_job("ingest", args=("--source", "{{ params.source }}", "--tables", FEED_TABLES))
    conform = spark_job("conform", args=("--tables", FEED_TABLES))
    ingest >> conform
