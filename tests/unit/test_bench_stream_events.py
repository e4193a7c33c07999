"""The streaming benchmark's generators produce events the stream jobs accept.

A generator whose events the parser rejected would benchmark the quarantine
path instead of the gold MERGE, and nothing would say so.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter

from benchmarks.bench_stream import JOBS, MOVES, SELLER_EVENTS
from transforms.inventory.stream import parse_inventory_messages
from transforms.seller_risk.events import parse_events

RAW = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
PARSERS = {"inventory_stream": parse_inventory_messages, "seller_risk_stream": parse_events}


def test_every_generated_event_is_valid_and_every_type_occurs(spark):
    args = argparse.Namespace(skus=50, sellers=20)
    for job, spec in JOBS.items():
        rng, keys = random.Random(7), spec["keys"](args)
        events = [spec["event"](rng, i, keys, args, "x") for i in range(300)]
        raw = spark.createDataFrame(
            [(k.encode(), v.encode(), "t", 0, i, None) for i, (k, v) in enumerate(events)], RAW
        )
        parsed = sorted(PARSERS[job](raw).collect(), key=lambda r: r.offset)
        assert Counter(r.reason for r in parsed) == Counter({None: 300}), job
        assert len({r.event_id for r in parsed}) == 300, job
        types = {r.event_type for r in parsed}
        assert types == set(MOVES if job == "inventory_stream" else SELLER_EVENTS), job
        key = "location_id" if job == "inventory_stream" else "seller_id"
        assert all(r[key] == k for r, (k, _) in zip(parsed, events, strict=True)), job
