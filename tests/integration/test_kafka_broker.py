"""The local Kafka broker is real: a client produces to it, Spark's Kafka source reads back."""

from __future__ import annotations

import json

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from devtools.kafka_broker import KafkaBroker, KafkaBrokerError

pytestmark = pytest.mark.integration


def test_spark_reads_what_a_client_produced(spark, kafka):
    servers = kafka.bootstrap_servers
    assert servers.startswith("127.0.0.1:")
    admin = AdminClient({"bootstrap.servers": servers})
    for future in admin.create_topics([NewTopic("roundtrip", num_partitions=2)]).values():
        future.result(timeout=30)
    producer = Producer({"bootstrap.servers": servers, "enable.idempotence": True})
    for i in range(10):
        producer.produce("roundtrip", key=f"s{i % 3}", value=json.dumps({"n": i}))
    assert producer.flush(30) == 0
    rows = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", servers)
        .option("subscribe", "roundtrip")
        .option("startingOffsets", "earliest")
        .load()
        .selectExpr("CAST(key AS STRING) AS k", "CAST(value AS STRING) AS v", "partition")
        .collect()
    )
    assert sorted(json.loads(r.v)["n"] for r in rows) == list(range(10))
    assert {r.partition for r in rows} <= {0, 1}
    # One key always lands in one partition.
    assert all(len({r.partition for r in rows if r.k == k}) == 1 for k in ("s0", "s1", "s2"))


def test_status_start_twice_and_stop(kafka, tmp_path):
    with pytest.raises(KafkaBrokerError, match="already running"):
        KafkaBroker(kafka.data_dir).start()
    idle = KafkaBroker(tmp_path / "none")
    assert idle.state() is None
    assert idle.stop() is False
    with pytest.raises(KafkaBrokerError, match="no Kafka broker running"):
        _ = idle.bootstrap_servers
