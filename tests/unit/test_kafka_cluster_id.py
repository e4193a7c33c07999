"""The broker's cluster id must always parse as the storage tool's option value."""

import base64
import uuid

from devtools import kafka_broker


def test_cluster_id_never_starts_with_a_dash(monkeypatch):
    # The first draw encodes to an id starting with "-"; it must be drawn again.
    dash_first = uuid.UUID(bytes=b"\xf8" + bytes(15))
    assert base64.urlsafe_b64encode(dash_first.bytes).decode().startswith("-")
    draws = iter([dash_first, uuid.UUID(int=1)])
    monkeypatch.setattr(kafka_broker.uuid, "uuid4", lambda: next(draws))

    cluster_id = kafka_broker._cluster_id()

    assert cluster_id == base64.urlsafe_b64encode(uuid.UUID(int=1).bytes).decode().rstrip("=")
    assert len(cluster_id) == 22


def test_cluster_ids_are_kafka_uuid_text():
    for _ in range(500):
        cluster_id = kafka_broker._cluster_id()
        assert len(cluster_id) == 22 and not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
