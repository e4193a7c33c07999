"""seller_risk_model_weekly: a fresh training set, then a candidate model behind its gate.

Sundays at 05:00 UTC, after the nightly features: `seller_risk_training_set`
rebuilds gold.seller_risk_training_<name> from the labels (lake outcomes by
default, conf/jobs/seller_risk_training_set.yaml) joined point in time with the
feature snapshots; `seller_risk_model` trains the candidates on a time split and
publishes the best only if its test AUC beats the hand score and the model in
use (gold.model_registry). A week with no new labelled day gives the same
training set rows; the model job then finds its version trained and is a no-op.
The next nightly `seller_risk_scoring` picks the published model up.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from lakecore.airflow_conf import default_args, spark_job

with DAG(
    dag_id="seller_risk_model_weekly",
    description="seller risk training set -> trained, tested and gated classifier",
    schedule=CronTriggerTimetable("0 5 * * 0", timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,  # a model is trained on what the lake holds now, not per missed week
    max_active_runs=1,
    default_args=default_args(execution_timeout=timedelta(hours=3)),
    doc_md=__doc__,
    tags=["lakehouse", "seller-risk"],
) as dag:
    training_set = spark_job("seller_risk_training_set")
    model = spark_job("seller_risk_model")
    training_set >> model
