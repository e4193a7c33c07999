"""recommendations_weekly: retrain ALS once its inputs are fresh, not on a clock.

Data-aware: a run starts when both assets it reads have been updated since the
last run: `silver.interactions` (loaded weekly by `interactions_weekly`) and
`gold.inventory_book_snapshot` (reconciled hourly). The weekly interactions feed
therefore sets the cadence, and the model never trains on a week whose stock
has not been reconciled. Every scheduled run is evaluated (`als.evaluate`),
so the model gate guards what the schedule publishes. An asset-triggered run
has no logical date: the model's as-of date is the day the run was queued.
The DAG exists once the `als_embeddings` job is in the checkout.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from lakecore.airflow_conf import default_args, has_job, spark_job, table_asset

if has_job("als_embeddings"):
    with DAG(
        dag_id="recommendations_weekly",
        description="ALS embeddings, top-N recommendations, similar items, popularity baseline",
        schedule=table_asset("silver.interactions") & table_asset("gold.inventory_book_snapshot"),
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,  # one model version published at a time
        default_args=default_args(execution_timeout=timedelta(hours=4)),
        doc_md=__doc__,
        tags=["lakehouse", "recommendations"],
    ) as dag:
        spark_job(
            "als_embeddings",
            # Scheduled models are always scored, so the model gate can refuse one
            # whose nDCG@10 fell below the last published model's.
            args=("--set=als.evaluate=true",),
            date_template="{{ dag_run.run_after | ds }}",
        )
