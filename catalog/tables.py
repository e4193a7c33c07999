"""Canonical tables: declared once (columns, types, keys, value rules).

Every source (demo generator, Olist, MovieLens, Walmart) is mapped onto these
by `ingest`; bronze and silver tables carry exactly these columns, bronze
adding lineage (`_source`, `_source_file`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import types as T

S, L, I, D, B = T.StringType(), T.LongType(), T.IntegerType(), T.DoubleType(), T.BooleanType()
TS, DT = T.TimestampType(), T.DateType()
# Money is exact: DECIMAL with a declared scale, never double. A landing value with
# more decimal places than its column's scale, or beyond its precision, is quarantined
# (`bad_scale:<col>`, `out_of_range:<col>`), never rounded. Cents for amounts; unit costs
# carry 4 places (a cost share of a price); fuel is priced per gallon to 3 places.
MONEY = T.DecimalType(18, 2)
UNIT_COST = T.DecimalType(18, 4)
FUEL_PRICE = T.DecimalType(18, 3)

INVENTORY_EVENT_TYPES = (
    "SALE",
    "RETURN",
    "RESTOCK",
    "TRANSFER_OUT",
    "TRANSFER_IN",
    "ADJUSTMENT",
    "RESERVE",
    "RELEASE",
)
# What each ledger event type does to a (location, sku): on-hand units move by
# sign x quantity; RESERVE/RELEASE (buy online, pick up in store) move units
# between available and reserved and leave on-hand as it is.
ON_HAND_SIGN = {
    "RESTOCK": 1,
    "RETURN": 1,
    "TRANSFER_IN": 1,
    "ADJUSTMENT": 1,
    "SALE": -1,
    "TRANSFER_OUT": -1,
    "RESERVE": 0,
    "RELEASE": 0,
}
RESERVED_SIGN = {"RESERVE": 1, "RELEASE": -1}
INVENTORY_SOURCES = ("POS", "ONLINE", "WAREHOUSE", "RFID")
COUNT_METHODS = ("RFID", "CYCLE")
INTERACTION_TYPES = ("view", "cart", "purchase", "rating")
AFTER_SALE_TYPES = ("RETURN", "REFUND", "CHARGEBACK", "DISPUTE")
ORDER_STATUSES = (
    "created",
    "approved",
    "invoiced",
    "processing",
    "shipped",
    "delivered",
    "canceled",
    "unavailable",
)
LOCATION_TYPES = ("STORE", "DC")
# Ledger rows that inventory_reconciliation writes into silver.inventory_events
# (event_id = prefix + count_id): no source lands them, conform keeps them.
RECON_PREFIX = "recon:"
_AFTER_RECON = RECON_PREFIX[:-1] + chr(ord(RECON_PREFIX[-1]) + 1)
# A range rather than LIKE: Delta skips every file whose event_id min/max lies outside.
RECON_ROWS = (
    f"event_type = 'ADJUSTMENT' AND event_id >= '{RECON_PREFIX}' AND event_id < '{_AFTER_RECON}'"
)
ABC_CLASSES = ("A", "B", "C")


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[tuple[str, T.DataType], ...]
    keys: tuple[str, ...]
    # column -> SQL boolean expression that a valid non-null value satisfies
    rules: dict[str, str] = field(default_factory=dict)
    # columns that must not be null besides the keys
    required: tuple[str, ...] = ()
    description: str = ""
    # SQL predicate of silver rows that a job writes and no source lands: a
    # conform (also a full refresh) leaves them as they are.
    job_owned_rows: str | None = None

    @property
    def struct(self) -> T.StructType:
        return T.StructType([T.StructField(c, t, c not in self.keys) for c, t in self.columns])

    @property
    def names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def type_of(self, column: str) -> T.DataType:
        return dict(self.columns)[column]


def _in(values: tuple[str, ...]) -> str:
    return "IN (" + ", ".join(f"'{v}'" for v in values) + ")"


TABLES: dict[str, TableSchema] = {
    t.name: t
    for t in [
        TableSchema(
            "sellers",
            (
                ("seller_id", S),
                ("zip_code_prefix", S),
                ("city", S),
                ("state", S),
                ("registered_at", TS),
            ),
            keys=("seller_id",),
            description="marketplace sellers",
        ),
        TableSchema(
            "customers",
            (
                ("customer_id", S),
                ("customer_unique_id", S),
                ("zip_code_prefix", S),
                ("city", S),
                ("state", S),
                ("created_at", TS),
            ),
            keys=("customer_id",),
            description="buyers (customer_id is per order in Olist; customer_unique_id is the person)",
        ),
        TableSchema(
            "products",
            (
                ("product_id", S),
                ("seller_id", S),
                ("category", S),
                ("title", S),
                ("name_length", I),
                ("description_length", I),
                ("photos_qty", I),
                ("weight_g", D),
                ("length_cm", D),
                ("height_cm", D),
                ("width_cm", D),
                ("listed_at", TS),
            ),
            keys=("product_id",),
            rules={
                "weight_g": "weight_g >= 0",
                "photos_qty": "photos_qty >= 0",
                "name_length": "name_length >= 0",
            },
            description="catalogue (Olist products, MovieLens movies, demo listings)",
        ),
        TableSchema(
            "categories",
            (("category", S), ("category_english", S)),
            keys=("category",),
            description="category name translations",
        ),
        TableSchema(
            "orders",
            (
                ("order_id", S),
                ("customer_id", S),
                ("status", S),
                ("purchased_at", TS),
                ("approved_at", TS),
                ("delivered_carrier_at", TS),
                ("delivered_customer_at", TS),
                ("estimated_delivery_at", TS),
            ),
            keys=("order_id",),
            required=("purchased_at",),
            rules={"status": f"status {_in(ORDER_STATUSES)}"},
        ),
        TableSchema(
            "order_items",
            (
                ("order_id", S),
                ("order_item_id", I),
                ("product_id", S),
                ("seller_id", S),
                ("shipping_limit_at", TS),
                ("price", MONEY),
                ("freight_value", MONEY),
            ),
            keys=("order_id", "order_item_id"),
            required=("seller_id", "price"),
            rules={
                "price": "price >= 0",
                "freight_value": "freight_value >= 0",
                "order_item_id": "order_item_id >= 1",
            },
        ),
        TableSchema(
            "payments",
            (
                ("order_id", S),
                ("payment_sequential", I),
                ("payment_type", S),
                ("installments", I),
                ("payment_value", MONEY),
            ),
            keys=("order_id", "payment_sequential"),
            rules={"payment_value": "payment_value >= 0", "installments": "installments >= 0"},
        ),
        TableSchema(
            "reviews",
            (
                ("review_id", S),
                ("order_id", S),
                ("score", I),
                ("comment_title", S),
                ("comment_message", S),
                ("created_at", TS),
                ("answered_at", TS),
            ),
            # Olist reuses a review id across orders: the pair is the key.
            keys=("review_id", "order_id"),
            required=("score",),
            rules={"score": "score BETWEEN 1 AND 5"},
        ),
        TableSchema(
            "after_sales",
            (
                ("case_id", S),
                ("order_id", S),
                ("seller_id", S),
                ("case_type", S),
                ("amount", MONEY),
                ("opened_at", TS),
            ),
            keys=("case_id",),
            required=("case_type", "opened_at"),
            rules={"case_type": f"case_type {_in(AFTER_SALE_TYPES)}", "amount": "amount >= 0"},
            description="returns, refunds, chargebacks and disputes (labels that arrive late)",
        ),
        TableSchema(
            "interactions",
            (
                ("user_id", S),
                ("item_id", S),
                ("event_type", S),
                ("event_ts", TS),
                ("rating", D),
            ),
            keys=("user_id", "item_id", "event_type", "event_ts"),
            rules={
                "event_type": f"event_type {_in(INTERACTION_TYPES)}",
                "rating": "rating BETWEEN 0 AND 5",
            },
        ),
        TableSchema(
            "locations",
            (
                ("location_id", S),
                ("location_type", S),
                ("region", S),
                ("store_format", S),
                ("size_sqft", L),
            ),
            keys=("location_id",),
            required=("location_type",),
            rules={
                "location_type": f"location_type {_in(LOCATION_TYPES)}",
                "size_sqft": "size_sqft > 0",
            },
        ),
        TableSchema(
            "items",
            (("sku", S), ("category", S), ("abc_class", S), ("unit_cost", UNIT_COST)),
            keys=("sku",),
            required=("abc_class", "unit_cost"),
            rules={"abc_class": f"abc_class {_in(ABC_CLASSES)}", "unit_cost": "unit_cost >= 0"},
        ),
        TableSchema(
            "inventory_events",
            (
                ("event_id", S),
                ("location_id", S),
                ("sku", S),
                ("event_type", S),
                ("quantity", L),
                ("source", S),
                ("event_ts", TS),
                ("ingested_at", TS),
            ),
            keys=("event_id",),
            required=("location_id", "sku", "event_type", "quantity", "event_ts"),
            rules={
                "event_type": f"event_type {_in(INVENTORY_EVENT_TYPES)}",
                "source": f"source {_in(INVENTORY_SOURCES)}",
                # the stream's bound too (transforms/inventory/stream.py MAX_QUANTITY): the
                # book adds quantities as 64-bit integers
                "quantity": "abs(quantity) <= 1000000000",
            },
            job_owned_rows=RECON_ROWS,
        ),
        TableSchema(
            "inventory_counts",
            (
                ("count_id", S),
                ("location_id", S),
                ("sku", S),
                ("counted_qty", L),
                ("count_ts", TS),
                ("method", S),
            ),
            keys=("count_id",),
            required=("location_id", "sku", "counted_qty", "count_ts"),
            rules={"counted_qty": "counted_qty >= 0", "method": f"method {_in(COUNT_METHODS)}"},
        ),
        TableSchema(
            "store_sales",
            (
                ("store_id", S),
                ("dept_id", S),
                ("week_date", DT),
                ("weekly_sales", MONEY),
                ("is_holiday", B),
            ),
            keys=("store_id", "dept_id", "week_date"),
            required=("weekly_sales",),
            description="Walmart weekly sales per store and department (negative = net returns)",
        ),
        TableSchema(
            "store_features",
            (
                ("store_id", S),
                ("week_date", DT),
                ("temperature", D),
                ("fuel_price", FUEL_PRICE),
                ("markdown1", MONEY),
                ("markdown2", MONEY),
                ("markdown3", MONEY),
                ("markdown4", MONEY),
                ("markdown5", MONEY),
                ("cpi", D),
                ("unemployment", D),
                ("is_holiday", B),
            ),
            keys=("store_id", "week_date"),
        ),
    ]
}


def table(name: str) -> TableSchema:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown canonical table {name!r}; known: {', '.join(TABLES)}") from None
