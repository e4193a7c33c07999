"""inventory_book_alerts: ledger events -> alerts on a Kafka topic, in Spark's real-time mode.

The sub-second path beside `inventory_stream` (which keeps the exact book in Delta): each
ledger event is joined with its pair's current book (`gold.inventory_book_current`,
broadcast) and checked against the rules in the job's YAML, so a sale of stock the book
does not have, a sale of an item never stocked there or a large manual adjustment is on
the alerts topic within a second, keyed by location, with the rule, the event, where it
came from and the book it was judged against. How real-time mode runs it:
lakecore.realtime.
"""

from __future__ import annotations

from pydantic import Field

from lakecore.config import JobConfig
from lakecore.job import JobContext, JobSpec
from lakecore.realtime import AlertOptions, AlertParams, run_alert_query
from lakecore.streaming import StreamSource
from transforms.inventory.book_alerts import book_context, evaluate_book_rules

BOOK = "gold.inventory_book_current"
EMPTY_BOOK = (
    "location_id string, sku string, book_on_hand long, book_reserved long, "
    "book_available long, book_events long, book_last_event_ts timestamp"
)

DEFAULT_RULES = {
    # A sale or reservation of more than the book has available: an oversell, or a book
    # that drifted from the shelf.
    "oversell": "event_type IN ('SALE', 'RESERVE') AND quantity > book_available",
    # Stock leaving a pair the book has never seen at that location.
    "unknown_pair": "event_type IN ('SALE', 'TRANSFER_OUT', 'RESERVE') AND book_on_hand IS NULL",
    # A manual correction of many units at once.
    "large_adjustment": "event_type = 'ADJUSTMENT' AND abs(quantity) >= 100",
}


class BookAlertParams(AlertParams):
    source: StreamSource = StreamSource(kind="kafka", topic="inventory_events")
    alerts_topic: str = "inventory_book_alerts"
    # rule name -> SQL condition over the event (event_type, quantity, d_on_hand...) and
    # the pair's book (book_on_hand, book_reserved, book_available, book_events,
    # book_last_event_ts; null for a pair the book has never seen)
    rules: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_RULES), min_length=1)


class BookAlertConfig(JobConfig):
    inventory_book_alerts: BookAlertParams = BookAlertParams()


def run(ctx: JobContext) -> None:
    # No book, no job (TableNotFoundError, exit 1): judged against an empty one, every
    # sale would be an `unknown_pair` until a restart re-read the book.
    p = ctx.job.inventory_book_alerts
    run_alert_query(ctx, "inventory_book_alerts", p, EMPTY_BOOK,
                    lambda: book_context(ctx.lake.read(BOOK)), evaluate_book_rules)  # fmt: skip


SPEC = JobSpec(
    name="inventory_book_alerts",
    description="ledger events (Kafka) -> stock alerts on a Kafka topic, in real-time mode",
    config_model=BookAlertConfig,
    run=run,
    reads=("kafka:inventory_events", BOOK),
    writes=("kafka:inventory_book_alerts",),
    options_model=AlertOptions,
    in_demo=False,
)
