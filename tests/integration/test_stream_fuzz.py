"""Fuzzed messages through a real broker: the streams quarantine or process each one, and never die.

One seeded batch of hostile messages per stream (STREAM_FUZZ_SEED picks another):
random bytes, invalid UTF-8, empty and null values, null and huge (over 1 MB) keys and
values, NUL bytes, arrays, scalars, two objects in one value, objects nested far too
deep, and otherwise valid events whose fields hold hostile values (1e308, 1e400, NaN,
Infinity, -0, numbers beyond 64 bits, amounts with a third decimal place, times out of
any range or as epoch numbers, very long text, objects where text belongs), with
valid events mixed in. Keys and values are produced as raw bytes.

seller_risk_stream and inventory_stream each run once (AvailableNow) on their batch:
the run succeeds, every message is in bronze or in quarantine exactly once (by topic,
partition and offset), every quarantined one has a reason (the one expected where the
case pins it), the valid events are processed (in bronze, counted in gold).
seller_risk_alerts runs on the seller batch in real-time mode for a few seconds: it
does not die, and it alerts on exactly the large orders the seller stream accepted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from pyspark.sql import functions as F

from lakecore.io import Lakehouse
from lakecore.streaming import PROGRESS
from tests.conftest import run_cli
from tests.stream_helpers import consume_json, kafka_sets, produce

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("STREAM_FUZZ_SEED", "24"))
SELLER_TOPIC, INVENTORY_TOPIC, ALERTS_TOPIC = "fuzz_seller_events", "fuzz_inventory", "fuzz_alerts"
# Records up to 4 MB on the fuzz topics (Kafka's default is about 1 MB): a huge key and
# a huge value can travel together.
MAX_RECORD = 4 * 1024 * 1024
MB = 1024 * 1024
START = dt.datetime(2025, 6, 30, 10, 0, tzinfo=dt.UTC)

# Expectations: VALID (bronze), BAD (quarantine, any reason), ANY (either), or a reason.
VALID, BAD, ANY = "valid", "bad", "any"
RAW = "\u0000raw:"  # a string value starting so is put in the JSON as raw text, not quoted

# Field values no event should carry, each as JSON (RAW + text: written as is).
HOSTILE = [
    None,
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "\ufeff",
    "x" * 5000,
    True,
    [],
    [1, 2],
    {},
    {"a": {"b": {"c": 1}}},
    0,
    -1,
    1e308,
    -1e308,
    RAW + "1e400",
    RAW + "-1e400",
    RAW + "NaN",
    RAW + "Infinity",
    RAW + "-Infinity",
    "NaN",
    "Infinity",
    RAW + "-0",
    RAW + "-0.0",
    RAW + "1e-400",
    2**63,
    -(2**63) - 1,
    10**30,
    12.345,
    "12.345",
    "1e2",
    0.1 + 0.2,
    1751284800,  # epoch seconds
    1751284800000,  # epoch milliseconds
    253402300800,  # 10000-01-01 in epoch seconds
    -62135596801,
    -9223372036855,
    "2025-02-30T00:00:00Z",
    "2025-06-30T12:00:00+99:00",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "+99999-01-01T00:00:00Z",
    "-290308-12-21T19:59:06Z",
    "+294247-01-10T04:00:54.775807Z",
    "1969-12-31T23:59:59Z",
]


def to_json(event: dict) -> str:
    """The event as JSON text; RAW values go in unquoted (tokens json.dumps cannot write)."""
    text = json.dumps(event)
    for value in event.values():
        if isinstance(value, str) and value.startswith(RAW):
            text = text.replace(json.dumps(value), value.removeprefix(RAW), 1)
    return text


def iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def garbage(rng: random.Random, valid_text: str) -> list[tuple[bytes | None, bytes | None, str]]:
    """Messages that are not one JSON object in UTF-8 (and copies of `valid_text` with a
    random byte flipped), with what to expect of each."""
    one = valid_text.encode()
    out: list[tuple[bytes | None, bytes | None, str]] = [
        (b"k", None, "empty_value"),
        (None, None, "empty_value"),
        (b"k", b"", "malformed_json"),
        (b"", b" \n\t", "malformed_json"),
        (b"k", b"\x00", "malformed_json"),
        (b"k", b"\x00" * 1000, "malformed_json"),
        (b"k", b"\xff\xfe\xfd", "invalid_utf8"),
        (b"k", b"\xc3\x28" + one, "invalid_utf8"),
        (b"k", one.replace(b'"', b'"\xff', 1), "invalid_utf8"),  # inside a string
        (b"k", b"\xef\xbb\xbf" + one, "malformed_json"),  # a byte order mark
        (b"k", one + b"\x00", "malformed_json"),
        (b"k", b"[]", "malformed_json"),
        (b"k", b"[" + one + b"]", "malformed_json"),
        (b"k", b"null", "malformed_json"),
        (b"k", b"true", "malformed_json"),
        (b"k", b"12", "malformed_json"),
        (b"k", b'"text"', "malformed_json"),
        (b"k", one + one, "malformed_json"),
        (b"k", one + b"," + one, "malformed_json"),
        (b"k", one[:-1], "malformed_json"),
        (b"k", b"{" * 100_000 + b"}" * 100_000, "malformed_json"),
        (b"k", b"[" * 100_000 + b"]" * 100_000, "malformed_json"),
        (b"k", one[:-1] + b', "deep": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}", BAD),
        (b"k", b"{" * MB, "malformed_json"),
        (b"\x00" * (MB + 10), rng.randbytes(MB + 100), BAD),
    ]
    for _ in range(20):
        out.append((rng.randbytes(rng.randint(0, 16)), rng.randbytes(rng.randint(1, 300)), BAD))
    for n in range(10):  # valid JSON text with a random byte flipped (ids stay unique)
        text = one.replace(b'"event_id": "', f'"event_id": "flip{n}-{rng.random()}'.encode())
        i = rng.randrange(len(text))
        out.append((b"k", text[:i] + bytes([rng.randrange(256)]) + text[i + 1 :], ANY))
    return out


def as_text(value) -> str:
    """A field value as it appears in the JSON text."""
    is_raw = isinstance(value, str) and value.startswith(RAW)
    return value.removeprefix(RAW) if is_raw else json.dumps(value)


def with_hostile_fields(
    rng: random.Random, base: dict, fields: list[str], pinned: dict[str, dict[str, str]]
) -> list[tuple[bytes | None, bytes | None, str]]:
    """Copies of `base` (a valid event) with one field replaced (a null: removed).

    The first two `fields` get every HOSTILE value, the others a random sample of 8;
    each field also the values `pinned[field]` names (JSON text -> expectation; the
    expectation of the others is ANY).
    Each copy has its own event id; the ids themselves get hostile values that are
    distinct as text (two equal ids would be one event and a duplicate).
    """
    out = []

    def add(field: str, value, expect: str) -> None:
        e = {**base, "event_id": f"h{len(out):04d}"}
        if value is None:
            del e[field]
        else:
            e[field] = value
        out.append((rng.choice([b"k", None]), to_json(e).encode(), expect))

    for field in fields:
        values = HOSTILE if field in fields[:2] else rng.sample(HOSTILE, 8)
        cases = {as_text(v): v for v in values}
        for text in pinned.get(field, {}):
            cases.setdefault(text, None if text == "null" else RAW + text)
        for text, value in cases.items():
            add(field, value, pinned.get(field, {}).get(text, ANY))
    for value in (None, "", " ", "\u0000", "x" * 5000, 0, True, [], [1, 2], {}, 1e308):
        add("event_id", value, ANY)
    return out


# --------------------------------------------------------------------------- seller events
SELLERS = ["s1", "s2", "s3"]


def seller_event(i: int, rng: random.Random, **fields) -> dict:
    return {
        "event_id": f"v{i:04d}",
        "event_type": rng.choice(["order_placed"] * 3 + ["refund", "review_posted"]),
        "seller_id": rng.choice(SELLERS),
        "event_ts": iso(START + dt.timedelta(seconds=30 * i)),
        "amount": round(rng.uniform(1, 900), 2),
        **fields,
    }


def plan_seller_messages(seed: int) -> list[tuple[bytes | None, bytes | None, str]]:
    rng = random.Random(seed)
    valid = [seller_event(i, rng) for i in range(60)]
    out: list[tuple[bytes | None, bytes | None, str]] = [
        (e["seller_id"].encode(), to_json(e).encode(), VALID) for e in valid
    ]
    # Valid, whatever the size of their key or value, or no key at all.
    big = seller_event(100, rng, pad="p" * (MB + 500_000))
    out.append((b"K" * (MB + 100), to_json(big).encode(), VALID))
    out.append((None, to_json(seller_event(101, rng)).encode(), VALID))
    out.append((b"\xff\x00" * 1000, to_json(seller_event(102, rng)).encode(), VALID))
    # Ten of the largest amount for one seller in one window: the window's GMV no longer
    # fits DECIMAL(18, 2) (gmv null), and nothing overflows.
    for j in range(10):
        e = seller_event(110 + j, rng, seller_id="whale", event_type="order_placed")
        e["amount"] = RAW + "9999999999999999.99"
        e["event_ts"] = iso(START)
        out.append((b"whale", to_json(e).encode(), VALID))
    amounts = {
        "1e+308": "invalid_amount",
        "-1e+308": "invalid_amount",
        "1e400": "invalid_amount",
        "NaN": BAD,  # not JSON, though Spark's parsers take some of these
        "Infinity": BAD,
        "-Infinity": BAD,
        '"NaN"': "invalid_amount",
        '"Infinity"': "invalid_amount",
        "9223372036854775808": "invalid_amount",
        "1000000000000000000000000000000": "invalid_amount",
        "12.345": "invalid_amount",
        '"12.345"': "invalid_amount",
        "0.30000000000000004": "invalid_amount",
        "true": "invalid_amount",
        "{}": "invalid_amount",
        "-0": VALID,
        "-0.0": VALID,
        "1e-400": VALID,  # 0.00: what is left at 2 places is exact
        '"12.34"': VALID,
        "9999999999999999.99": VALID,
        "10000000000000000": "invalid_amount",
        "null": VALID,  # absent: amount is optional
    }
    times = {
        '"+99999-01-01T00:00:00Z"': "invalid_event_ts",
        '"9999-12-31T23:59:59Z"': "invalid_event_ts",
        '"0000-01-01T00:00:00Z"': "invalid_event_ts",
        '"-290308-12-21T19:59:06Z"': "invalid_event_ts",
        '"+294247-01-10T04:00:54.775807Z"': "invalid_event_ts",
        '"1969-12-31T23:59:59Z"': "invalid_event_ts",
        "253402300800": "invalid_event_ts",
        "-9223372036855": "invalid_event_ts",
        "1751284800": VALID,  # epoch seconds: 2025-06-30T12:00:00Z
        "null": "missing_event_ts",
        '"2025-02-30T00:00:00Z"': "missing_event_ts",
    }
    scores = {"2147483648": "invalid_score", "3.5": "invalid_score", "-1": VALID}
    long_text = {json.dumps("x" * 1025): BAD, json.dumps("x" * 1024): VALID}
    pinned = {"amount": amounts, "event_ts": times, "score": scores, "seller_id": long_text}
    base = {**seller_event(200, rng), "event_type": "order_placed", "score": 3}
    fields = ["amount", "event_ts", "event_type", "seller_id", "order_id", "buyer_id", "score"]
    out += with_hostile_fields(rng, base, fields, pinned)
    out += garbage(rng, to_json(valid[0]))
    return out


# --------------------------------------------------------------------------- inventory events
def ledger_event(i: int, rng: random.Random, **fields) -> dict:
    kind = rng.choice(["RESTOCK", "SALE", "RETURN", "RESERVE", "RELEASE", "ADJUSTMENT"])
    return {
        "event_id": f"v{i:04d}",
        "location_id": rng.choice(["S1", "S2"]),
        "sku": rng.choice(["K1", "K2", "K3"]),
        "event_type": kind,
        "quantity": rng.randint(1, 20),
        "source": "POS",
        "event_ts": iso(START + dt.timedelta(seconds=30 * i)),
        **fields,
    }


def plan_inventory_messages(seed: int) -> list[tuple[bytes | None, bytes | None, str]]:
    rng = random.Random(seed + 1)
    valid = [ledger_event(i, rng) for i in range(60)]
    out: list[tuple[bytes | None, bytes | None, str]] = [
        (e["location_id"].encode(), to_json(e).encode(), VALID) for e in valid
    ]
    big = ledger_event(100, rng, pad="p" * (MB + 500_000))
    out.append((b"K" * (MB + 100), to_json(big).encode(), VALID))
    out.append((None, to_json(ledger_event(101, rng)).encode(), VALID))
    # The largest quantities one event may move, for one pair: the book stays exact.
    for j, q in enumerate([10**9, 10**9, -(10**9)]):
        e = ledger_event(110 + j, rng, location_id="DC", sku="BIG", event_type="ADJUSTMENT")
        out.append((b"DC", to_json({**e, "quantity": q}).encode(), VALID))
    # Beyond it, the book's 64-bit sums would overflow: three of 2^62 for one pair.
    for j in range(3):
        e = ledger_event(120 + j, rng, location_id="DC", sku="HUGE", event_type="ADJUSTMENT")
        out.append((b"DC", to_json({**e, "quantity": 2**62}).encode(), "invalid_quantity"))
    quantities = {
        "1000000001": "invalid_quantity",
        "-1000000001": "invalid_quantity",
        "9223372036854775807": "invalid_quantity",
        "9223372036854775808": "missing_quantity",  # beyond 64 bits: no number at all
        "1e+308": "missing_quantity",
        "12.345": "missing_quantity",
        "null": "missing_quantity",
    }
    times = {
        '"+99999-01-01T00:00:00Z"': "invalid_event_ts",
        '"9999-12-31T23:59:59Z"': "invalid_event_ts",
        '"+294247-01-10T04:00:54.775807Z"': "invalid_event_ts",
        "-9223372036855": "invalid_event_ts",
        "1751284800": VALID,
    }
    long_text = {json.dumps("x" * 1025): "invalid_sku", json.dumps("x" * 1024): VALID}
    pinned = {"quantity": quantities, "event_ts": times, "sku": long_text}
    base = {**ledger_event(200, rng), "event_type": "ADJUSTMENT"}
    fields = ["quantity", "event_ts", "location_id", "sku", "event_type", "source"]
    out += with_hostile_fields(rng, base, fields, pinned)
    out += garbage(rng, to_json(valid[0]))
    return out


# --------------------------------------------------------------------------- checks
def run_once(lake_root, job: str, servers: str, topic: str) -> None:
    sets = [*kafka_sets(job, servers, 100_000), f"--set={job}.source.topic={topic}"]
    assert run_cli(lake_root, "run", job, *sets) == 0


def check_each_message_once(
    lake: Lakehouse, bronze: str, quarantine: str, plan: list, positions: dict, *columns: str
) -> list:
    """Every produced message is in bronze or quarantine exactly once, as expected;
    returns bronze's rows (position, event_id and `columns`)."""
    b = lake.read(bronze).select("partition", "offset", "event_id", *columns).collect()
    q = lake.read(quarantine).select("partition", "offset", "reason").collect()
    in_bronze = [(r.partition, r.offset) for r in b]
    in_quarantine = {(r.partition, r.offset): r.reason for r in q}
    assert len(in_bronze) == len(set(in_bronze)) and len(q) == len(in_quarantine)
    assert not set(in_bronze) & set(in_quarantine)
    assert set(in_bronze) | set(in_quarantine) == set(positions)  # each one somewhere
    assert all(in_quarantine.values()), "a quarantined message without a reason"
    wrong = []
    kept = set(in_bronze)
    for position, index in positions.items():
        expect = plan[int(index)][2]
        got = VALID if position in kept else in_quarantine[position]
        if expect in (ANY, got) or (expect == BAD and got != VALID):
            continue
        wrong.append((index, expect, got, (plan[int(index)][1] or b"")[:120]))
    assert not wrong, wrong
    assert {f"v{i:04d}" for i in range(60)} <= {r.event_id for r in b}  # the plain valid ones
    assert lake.read(PROGRESS).agg(F.sum("rows_read")).first()[0] == len(plan)
    return b


def alerts_of(servers: str, expected: set) -> set:
    """(event id, rule) of the alerts on ALERTS_TOPIC."""
    return {
        (a["event_id"], a["rule"]) for _, a in consume_json(servers, ALERTS_TOPIC, len(expected))
    }


def test_seller_stream_and_alerts_survive_a_fuzzed_batch(spark, kafka, tmp_path):
    servers = kafka.bootstrap_servers
    plan = plan_seller_messages(SEED)
    kinds = [(k, v, str(i)) for i, (k, v, _) in enumerate(plan)]
    positions = produce(servers, SELLER_TOPIC, 1, kinds, max_message_bytes=MAX_RECORD)
    lake_root = tmp_path / "lake"

    run_once(lake_root, "seller_risk_stream", servers, SELLER_TOPIC)

    lake = Lakehouse(spark, str(lake_root))
    bronze = check_each_message_once(
        lake, "bronze.seller_events", "quarantine.seller_events", plan, positions,
        "seller_id", "event_type", "amount",
    )  # fmt: skip
    # Every valid event is in the hour windows once; GMV is exact where it fits.
    gold = (
        lake.read("gold.seller_risk_realtime")
        .where("window_minutes = 60")
        .select("seller_id", "orders", "gmv", "events")
        .collect()
    )
    assert sum(w.events for w in gold) == len(bronze)
    whale = [(w.orders, w.gmv) for w in gold if w.seller_id == "whale"]
    assert whale == [(10, None)]  # 10 x 9999999999999999.99: beyond DECIMAL(18, 2)
    placed = [r for r in bronze if r.event_type == "order_placed"]
    for seller in SELLERS:
        amounts = [r.amount for r in placed if r.seller_id == seller and r.amount is not None]
        assert sum(w.gmv for w in gold if w.seller_id == seller) == sum(amounts)

    # Real-time alerts on the same messages, no baseline: the only rule that can fire is
    # large_order_new_seller, on exactly the large orders the stream accepted.
    admin = AdminClient({"bootstrap.servers": servers})
    for future in admin.create_topics([NewTopic(ALERTS_TOPIC, num_partitions=1)]).values():
        future.result(timeout=30)
    alert_sets = [
        f"--set=seller_risk_alerts.source.bootstrap_servers={servers}",
        f"--set=seller_risk_alerts.source.topic={SELLER_TOPIC}",
        "--set=seller_risk_alerts.source.starting_offsets=earliest",
        f"--set=seller_risk_alerts.alerts_topic={ALERTS_TOPIC}",
        "--set=seller_risk_alerts.batch_duration=5 seconds",
    ]
    assert run_cli(lake_root, "run", "seller_risk_alerts", *alert_sets, "--timeout=15") == 0
    large = {(r.event_id, "large_order_new_seller") for r in placed if (r.amount or 0) > 500}
    assert len(large) > 10
    assert alerts_of(servers, large) == large


def test_inventory_stream_survives_a_fuzzed_batch(spark, kafka, tmp_path):
    servers = kafka.bootstrap_servers
    plan = plan_inventory_messages(SEED)
    kinds = [(k, v, str(i)) for i, (k, v, _) in enumerate(plan)]
    positions = produce(servers, INVENTORY_TOPIC, 3, kinds, max_message_bytes=MAX_RECORD)
    lake_root = tmp_path / "lake"

    run_once(lake_root, "inventory_stream", servers, INVENTORY_TOPIC)

    lake = Lakehouse(spark, str(lake_root))
    bronze = check_each_message_once(
        lake, "bronze.inventory_stream_events", "quarantine.inventory_stream_events", plan,
        positions,
    )  # fmt: skip
    book = lake.read("gold.inventory_book_current").collect()
    assert sum(p.events for p in book) == len(bronze)  # every valid event moved its pair
    dc = {p.sku: (p.on_hand, p.events) for p in book if p.location_id == "DC"}
    assert dc == {"BIG": (10**9, 3)}  # not HUGE: its quantities are quarantined
