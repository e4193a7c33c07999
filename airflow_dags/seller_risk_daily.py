"""seller_risk_daily: landing files -> silver -> gold.seller_risk_features for yesterday -> scores, events.

Runs at 02:00 UTC for the day that just ended (`ds` = the data interval's start).
The Great Expectations gate runs inside `seller_risk_features` before it
publishes: a failing check fails that task, so nothing downstream sees the day.
`seller_risk_scoring` then adds the published model's probability, its reason
codes and the day's feature drift (seller_risk_model_weekly trains the model).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, Param

from lakecore.airflow_conf import deadline, default_args, silver_inputs, spark_job

with DAG(
    dag_id="seller_risk_daily",
    description="ingest -> conform -> seller risk features (GE gate) -> scores and drift, seller events",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,  # a backfill is one `--start/--end` run, not 500 DAG runs
    max_active_runs=1,  # every run rewrites silver and the same gold partitions
    default_args=default_args(execution_timeout=timedelta(hours=2)),
    params={"source": Param("demo", type="string", description="landing source to ingest")},
    # Warn when the night's run is not done by 06:00 UTC (4 h after it was queued).
    deadline=deadline("seller_risk_daily", timedelta(hours=4)),
    doc_md=__doc__,
    tags=["lakehouse", "seller-risk"],
) as dag:
    ingest = spark_job("ingest", args=("--source", "{{ params.source }}"))
    # Only the silver tables this DAG's jobs read: the other DAGs conform their own.
    conform = spark_job(
        "conform", args=("--tables", silver_inputs("seller_risk_features", "publish_seller_events"))
    )
    features = spark_job("seller_risk_features")
    export = spark_job("publish_seller_events", task_id="export_seller_events")
    score = spark_job("seller_risk_scoring")
    ingest >> conform >> features >> [score, export]
