"""Publish a model's tables to S3 (or any S3-compatible store) for online serving.

Layout under `s3://<bucket>/<prefix>/<model_version>/`: one Parquet file per
table (`<table>.parquet`), then `manifest.json` (model version, metrics, row
counts, SHA-256 of every file) written LAST. A reader lists versions by their
manifest and never sees a partial export: a run that fails midway leaves files
without a manifest, which the next run overwrites. A version whose manifest
exists is already published: re-publishing it writes nothing.

Credentials come only from boto3's standard chain (environment, shared
credentials file, instance role); they are never read from config nor logged.
The endpoint URL (a local S3-compatible server, MinIO) is not a credential and
may come from config.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import pyarrow.parquet as pq
from botocore.exceptions import ClientError
from pyspark.sql import DataFrame

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ExportTarget:
    bucket: str
    prefix: str
    endpoint_url: str | None = None
    region: str = "us-east-1"

    def key(self, model_version: str, name: str) -> str:
        return "/".join(p for p in (self.prefix.strip("/"), model_version, name) if p)

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region)


def _exists(client, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def _parquet_bytes(df: DataFrame) -> tuple[bytes, int]:
    table = df.toArrow()
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue(), table.num_rows


def publish(
    target: ExportTarget,
    model_version: str,
    tables: Mapping[str, DataFrame],
    metadata: Mapping[str, Any],
) -> dict[str, Any] | None:
    """Upload `tables` as Parquet, then the manifest; None when the version is already there."""
    client = target.client()
    manifest_key = target.key(model_version, MANIFEST)
    if _exists(client, target.bucket, manifest_key):
        log.info(
            "export: s3://%s/%s exists: version already published", target.bucket, manifest_key
        )
        return None
    files = {}
    for name, df in tables.items():
        body, rows = _parquet_bytes(df)
        key = target.key(model_version, f"{name}.parquet")
        client.put_object(Bucket=target.bucket, Key=key, Body=body)
        files[name] = {
            "key": key,
            "rows": rows,
            "bytes": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        log.info("export: wrote s3://%s/%s (%d rows)", target.bucket, key, rows)
    manifest = {"model_version": model_version, **metadata, "files": files}
    client.put_object(
        Bucket=target.bucket,
        Key=manifest_key,
        Body=json.dumps(manifest, indent=2, sort_keys=True, default=str).encode(),
        ContentType="application/json",
    )
    log.info("export: manifest s3://%s/%s written last", target.bucket, manifest_key)
    return manifest
