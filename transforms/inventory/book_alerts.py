"""Real-time inventory alerts: each ledger event against the current book of its pair.

Stateless (transforms.common.rule_alerts): the book is `gold.inventory_book_current`
as `inventory_stream` last committed it, broadcast and re-read at each batch boundary
of the real-time query; the event is judged against it alone, so events still in
flight in the stream are not in the book yet. Rules are SQL boolean expressions over
the event (`event_type`, `quantity`, `source`, `location_id`, `sku`, `event_ts`, its
effect `d_on_hand` and `d_reserved`) and the pair's book (`book_on_hand`,
`book_reserved`, `book_available`, `book_events`, `book_last_event_ts`; null for a
pair the book has never seen).
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.common.rule_alerts import rule_alerts, source_position
from transforms.inventory.ledger import PAIR, with_deltas
from transforms.inventory.stream import parse_inventory_messages

BOOK_CONTEXT = ("on_hand", "reserved", "available", "events", "last_event_ts")


def book_context(book: DataFrame) -> DataFrame:
    """The current book per pair, columns prefixed `book_`."""
    return book.select(*PAIR, *[F.col(c).alias(f"book_{c}") for c in BOOK_CONTEXT])


def evaluate_book_rules(
    raw: DataFrame, book: DataFrame, rules: Mapping[str, str], severities: Mapping[str, str]
) -> DataFrame:
    """Kafka messages -> one alert row per (valid event, rule that fires), keyed by location.

    Invalid messages raise no alert (the inventory stream quarantines them)."""
    events = with_deltas(parse_inventory_messages(raw).where(F.col("reason").isNull()))
    joined = events.join(F.broadcast(book), list(PAIR), "left")
    evidence = F.struct(*[F.col(f"book_{c}").alias(c) for c in BOOK_CONTEXT])
    # `source` is where the message came from (as in every alert): the ledger's own
    # `source` (POS, ONLINE...) is quoted as `event_source`.
    quoted = ("event_id", *PAIR, "event_type", "quantity", F.col("source").alias("event_source"),
              "event_ts", source_position(), evidence.alias("book"))  # fmt: skip
    return rule_alerts(joined, rules, severities, quoted, key="location_id")
