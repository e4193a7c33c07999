"""inventory_reconciliation_hourly: new ledger events and counts -> reconciled book, every hour.

`ds` is the day of the hour just ended; each run reconciles that day's counts
with the events that have arrived so far. Re-runs are idempotent (adjustments
are MERGEd on their count id), so an hour that retries or repeats adds nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, Param

from lakecore.airflow_conf import deadline, default_args, silver_inputs, spark_job

INVENTORY_TABLES = "locations,items,inventory_events,inventory_counts"

with DAG(
    dag_id="inventory_reconciliation_hourly",
    description="ingest inventory files -> conform -> reconcile book against counts",
    schedule=CronDataIntervalTimetable("15 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # the book snapshot is read and rewritten by every run
    # Shorter than the schedule: a stuck hour must not overlap the next one.
    default_args=default_args(execution_timeout=timedelta(minutes=45)),
    params={"source": Param("demo", type="string", description="landing source to ingest")},
    # Warn when an hour's run is not done 50 minutes after it was queued.
    deadline=deadline("inventory_reconciliation_hourly", timedelta(minutes=50)),
    doc_md=__doc__,
    tags=["lakehouse", "inventory"],
) as dag:
    ingest = spark_job(
        "ingest", args=("--source", "{{ params.source }}", "--tables", INVENTORY_TABLES)
    )
    conform = spark_job("conform", args=("--tables", silver_inputs("inventory_reconciliation")))
    reconcile = spark_job("inventory_reconciliation")
    ingest >> conform >> reconcile
