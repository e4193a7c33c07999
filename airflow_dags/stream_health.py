"""stream_health: every 5 minutes, the always-on streams' lag and last-batch age.

The streams run continuously outside Airflow (`lakehouse stream <job>` under systemd or
Kubernetes: deploy/); Airflow checks them. The task runs `lakehouse health`: a stream
whose lag (messages, seconds) or time since its last batch passes the thresholds in its
YAML (`<job>.alarms`) gets an `error` row in `ops.alerts`, and the task fails (exit 4,
not retried: the next run checks again) so the DAG's failure notifiers fire too. A
stream that recovers gets an `info` row. Backfills and the demo still drain a stream
with AvailableNow: `lakehouse run seller_risk_stream` (its default trigger).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from lakecore.airflow_conf import default_args, health_check

with DAG(
    dag_id="stream_health",
    description="Lag and staleness alarms of the always-on streams, every 5 minutes",
    schedule=CronTriggerTimetable("*/5 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,  # only the current state matters
    max_active_runs=1,
    default_args=default_args(execution_timeout=timedelta(minutes=4)),
    doc_md=__doc__,
    tags=["lakehouse", "streaming"],
) as dag:
    health_check()
