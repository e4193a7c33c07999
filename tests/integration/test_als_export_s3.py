"""S3 export against a real S3-compatible server (moto's standalone server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import io
import json
import logging

import boto3
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from devtools.s3_server import moto_server
from lakecore.s3_export import ExportTarget, publish

pytestmark = pytest.mark.integration

SECRET = "not-a-real-secret-key-0123456789"


@pytest.fixture(scope="module")
def s3_server():
    with moto_server() as url:
        yield url


@pytest.fixture
def bucket(s3_server, monkeypatch, request):
    # The standard credential chain: environment variables, as on a real host.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    name = request.node.name.replace("_", "-")[:50]
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").create_bucket(Bucket=name)
    return name


def objects(target: ExportTarget) -> dict[str, bytes]:
    client = target.client()
    listed = client.list_objects_v2(Bucket=target.bucket).get("Contents", [])
    return {
        o["Key"]: client.get_object(Bucket=target.bucket, Key=o["Key"])["Body"].read()
        for o in listed
    }


def test_publish_writes_parquet_then_a_manifest_with_checksums(spark, s3_server, bucket, caplog):
    target = ExportTarget(bucket, "recs/als", endpoint_url=s3_server)
    recs = spark.createDataFrame(
        [("u1", 1, "a", 0.9), ("u1", 2, "b", 0.5)],
        "user_id string, rank int, item_id string, score double",
    )
    items = spark.createDataFrame([("a", [0.1, 0.2])], "item_id string, vector array<float>")
    with caplog.at_level(logging.DEBUG):
        manifest = publish(
            target,
            "v1",
            {"user_recommendations": recs, "item_embeddings": items},
            {"metrics": {"ndcg_at_10": 0.5}},
        )
    stored = objects(target)
    assert sorted(stored) == [
        "recs/als/v1/item_embeddings.parquet",
        "recs/als/v1/manifest.json",
        "recs/als/v1/user_recommendations.parquet",
    ]
    on_s3 = json.loads(stored["recs/als/v1/manifest.json"])
    assert on_s3 == json.loads(json.dumps(manifest))
    assert on_s3["model_version"] == "v1" and on_s3["metrics"] == {"ndcg_at_10": 0.5}
    for name, rows in (("user_recommendations", 2), ("item_embeddings", 1)):
        body = stored[f"recs/als/v1/{name}.parquet"]
        assert on_s3["files"][name]["sha256"] == hashlib.sha256(body).hexdigest()
        assert on_s3["files"][name]["rows"] == rows == pq.read_table(io.BytesIO(body)).num_rows
    assert pq.read_table(io.BytesIO(stored["recs/als/v1/user_recommendations.parquet"])).to_pylist()[0] == {
        "user_id": "u1", "rank": 1, "item_id": "a", "score": 0.9
    }  # fmt: skip
    assert SECRET not in caplog.text


def test_republishing_a_version_is_a_no_op(spark, s3_server, bucket):
    target = ExportTarget(bucket, "p", endpoint_url=s3_server)
    first = spark.createDataFrame([("a", 1)], "item_id string, n int")
    assert publish(target, "v7", {"t": first}, {}) is not None
    before = objects(target)
    changed = spark.createDataFrame([("b", 2)], "item_id string, n int")
    assert publish(target, "v7", {"t": changed}, {}) is None
    assert objects(target) == before


def test_a_failure_midway_leaves_no_manifest_and_a_retry_completes(spark, s3_server, bucket):
    target = ExportTarget(bucket, "p", endpoint_url=s3_server)
    good = spark.createDataFrame([("a", 1)], "item_id string, n int")
    broken = good.select("item_id", F.raise_error(F.lit("disk on fire")).alias("n"))
    with pytest.raises(Exception, match="disk on fire"):
        publish(target, "v2", {"first": good, "second": broken, "third": good}, {})
    assert sorted(objects(target)) == ["p/v2/first.parquet"]  # no manifest: not published
    manifest = publish(target, "v2", {"first": good, "second": good, "third": good}, {})
    assert set(manifest["files"]) == {"first", "second", "third"}
    assert "p/v2/manifest.json" in objects(target)


def test_an_upload_the_server_refuses_leaves_no_manifest(spark, s3_server, bucket, monkeypatch):
    """The server itself fails the second upload (NoSuchBucket): the export stops, unpublished."""
    target = ExportTarget(bucket, "p", endpoint_url=s3_server)
    real_client = ExportTarget.client
    puts = []

    def misdirect_second_put(params, **_):
        puts.append(params["Key"])
        if len(puts) == 2:
            params["Bucket"] = "no-such-bucket"

    def client(self):
        c = real_client(self)
        c.meta.events.register("before-parameter-build.s3.PutObject", misdirect_second_put)
        return c

    monkeypatch.setattr(ExportTarget, "client", client)
    good = spark.createDataFrame([("a", 1)], "item_id string, n int")
    with pytest.raises(Exception, match="NoSuchBucket"):
        publish(target, "v3", {"first": good, "second": good, "third": good}, {})
    monkeypatch.setattr(ExportTarget, "client", real_client)
    assert sorted(objects(target)) == ["p/v3/first.parquet"]  # no manifest: not published
