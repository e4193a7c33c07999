"""`lakehouse health`'s pure parts: processed offsets merged across progress rows."""

from __future__ import annotations

import json

from lakecore.health import StreamHealth, _merged_offsets, format_report


def test_offsets_are_merged_per_partition_by_their_highest_value():
    rows = [
        json.dumps({"t": {"0": 5, "1": 9}}),
        None,  # a batch whose offsets were never recorded
        json.dumps({"t": {"0": 7}, "u": {"0": 1}}),
        json.dumps({"t": {"1": 3}}),
    ]
    assert _merged_offsets(rows) == {"t": {"0": 7, "1": 9}, "u": {"0": 1}}


def test_the_report_names_each_breach():
    sick = StreamHealth("seller_risk_stream", "kafka-x", None, None, 12, 0.0, ["no batch ever"])
    well = StreamHealth("inventory_stream", "delta-y", "2025-06-30 10:00:00", 3.0, 0, 0.0)
    text = format_report([sick, well])
    assert "seller_risk_stream     UNHEALTHY" in text and "  - no batch ever" in text
    assert "inventory_stream       ok" in text and "3s ago" in text
    assert sick.as_dict()["healthy"] is False and well.healthy
