"""`ops.alerts`: one row per operational alert (a failed Airflow task, a missed deadline).

Airflow's failure notifier (`lakecore.airflow_conf.failure_notifier`) records its
alerts here through `lakehouse alert`, so they sit beside `ops.job_runs` and are
read the same way (`lakehouse query "select * from ops.alerts"`, the notebooks).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pyspark.sql import types as T

from lakecore.io import Lakehouse

ALERTS = "ops.alerts"
SEVERITIES = ("info", "warning", "error")
ALERTS_SCHEMA = T.StructType(
    [
        T.StructField("alert_id", T.StringType(), False),
        T.StructField("raised_at", T.TimestampType(), False),
        T.StructField("source", T.StringType(), False),  # airflow, a job's name...
        T.StructField("severity", T.StringType(), False),
        T.StructField("subject", T.StringType(), False),
        T.StructField("detail", T.StringType(), True),
        # dag_id, task_id, run_id, try_number, log_url... whatever the source knows
        T.StructField("attributes", T.MapType(T.StringType(), T.StringType()), True),
    ]
)


def record_alert(
    lake: Lakehouse,
    source: str,
    severity: str,
    subject: str,
    detail: str | None = None,
    attributes: dict[str, str] | None = None,
) -> str:
    """Append one alert; returns its id."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r}: one of {', '.join(SEVERITIES)}")
    alert_id = uuid.uuid4().hex
    row = (alert_id, datetime.now(UTC), source, severity, subject, detail, attributes or {})
    lake.append(lake.spark.createDataFrame([row], ALERTS_SCHEMA), ALERTS)
    return alert_id
