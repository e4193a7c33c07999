"""Seller risk: event facts from the silver tables, each with the day it became known.

Days are integers (days since 1970-01-01 of the session-time-zone date) so
that window frames can be value ranges (`rangeBetween`). Money is summed in
integer cents: exact, so sums do not depend on the order Spark adds rows in
(a backfill and a single-day run give bit-identical features), and far cheaper
in window frames than wide DECIMALs.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

DAY_SECONDS = 86_400

SELLER_ORDER_COLUMNS = (
    "seller_id",
    "order_id",
    "ordered_at",
    "event_day",
    "has_order_row",
    "items",
    "gmv_cents",
    "freight_cents",
    "limit_at",
    "status",
    "carrier_at",
    "delivered_at",
    "estimated_at",
    "buyer_id",
    "buyer_created_at",
    "priced_items",
)


def day_number(ts: Column | str) -> Column:
    """Days since 1970-01-01 of a timestamp's (or date's) calendar date."""
    return F.unix_date(F.to_date(ts))


def cents(amount: Column | str) -> Column:
    """Money (DECIMAL, 2 places) as whole cents (long): exact sums."""
    return F.round(F.col(amount) * 100 if isinstance(amount, str) else amount * 100).cast("long")


def normalized_text(text: Column | str) -> Column:
    """Lower case, punctuation and runs of spaces folded to one space: templated reviews match."""
    folded = F.regexp_replace(F.lower(text), r"[^\p{L}\p{N}]+", " ")
    return F.trim(folded)


def build_seller_orders(items: DataFrame, orders: DataFrame, customers: DataFrame) -> DataFrame:
    """One row per (seller, order) with its event time, money, fulfilment and buyer.

    Olist's orders table is partial while order_items is complete: an item whose
    order row is missing is a real sale, so it is kept (`has_order_row` false)
    with event time = its earliest `shipping_limit_at` (a few days after the
    purchase, so it never counts before it happened) and no status or buyer.
    `event_day` is null only when neither time is known. `priced_items` holds
    the (product_id, price) of its lines with a positive price.
    """
    lines = items.groupBy("order_id", "seller_id").agg(
        F.count(F.lit(1)).alias("items"),
        F.sum(cents("price")).alias("gmv_cents"),
        F.sum(cents(F.coalesce(F.col("freight_value"), F.lit(0)))).alias("freight_cents"),
        F.min("shipping_limit_at").alias("limit_at"),
        # sorted: the same array whatever order Spark collects the lines in
        F.array_sort(
            F.collect_list(F.when(F.col("price") > 0, F.struct("product_id", "price")))
        ).alias("priced_items"),
    )
    heads = orders.select(
        "order_id",
        "customer_id",
        "status",
        "purchased_at",
        F.col("delivered_carrier_at").alias("carrier_at"),
        F.col("delivered_customer_at").alias("delivered_at"),
        F.col("estimated_delivery_at").alias("estimated_at"),
        F.lit(True).alias("has_order_row"),
    )
    people = customers.select(
        "customer_id", "customer_unique_id", F.col("created_at").alias("buyer_created_at")
    )
    ordered_at = F.coalesce(F.col("purchased_at"), F.col("limit_at"))
    return (
        lines.join(heads, on="order_id", how="left")
        .join(people, on="customer_id", how="left")
        .withColumns(
            {
                "ordered_at": ordered_at,
                "event_day": day_number(ordered_at),
                "has_order_row": F.coalesce(F.col("has_order_row"), F.lit(False)),
                "buyer_id": F.coalesce(F.col("customer_unique_id"), F.col("customer_id")),
            }
        )
        .select(*SELLER_ORDER_COLUMNS)
    )


def build_review_facts(
    reviews: DataFrame, seller_orders: DataFrame, young_account_days: int, min_text_length: int
) -> DataFrame:
    """One row per (review, seller of the reviewed order), known on the review's day.

    Account age is taken when the reviewed order was placed: fake-review farms
    open accounts right before buying, and the review itself comes after a
    delivery of variable length. `template_text` is the normalized comment when
    it is long enough to be a template (short stock phrases repeat naturally).
    """
    age_s = F.unix_timestamp("ordered_at") - F.unix_timestamp("buyer_created_at")
    text = normalized_text(F.col("comment_message"))
    return (
        reviews.where(F.col("created_at").isNotNull())
        .join(
            seller_orders.select("order_id", "seller_id", "ordered_at", "buyer_created_at"),
            on="order_id",
            how="inner",
        )
        .select(
            "seller_id",
            day_number("created_at").alias("day"),
            F.col("score").cast("long").alias("score"),
            F.col("buyer_created_at").isNotNull().alias("has_account_age"),
            (age_s < young_account_days * DAY_SECONDS).alias("is_young_account"),
            F.when(F.length(text) >= min_text_length, text).alias("template_text"),
        )
    )


def build_case_facts(after_sales: DataFrame, seller_orders: DataFrame) -> DataFrame:
    """One row per (seller, order, case type): the order's day and the first case's day.

    A case names its seller; when it does not, it counts for every seller of the
    order. Several cases of one type on one order count once (rates stay <= 1).
    """
    cases = after_sales.where(
        F.col("opened_at").isNotNull() & F.col("case_type").isNotNull()
    ).select(
        "order_id",
        F.col("seller_id").alias("case_seller_id"),
        "case_type",
        day_number("opened_at").alias("open_day"),
    )
    placed = seller_orders.where(F.col("event_day").isNotNull()).select(
        "order_id", "seller_id", "event_day"
    )
    is_sellers_case = F.col("case_seller_id").isNull() | (
        F.col("case_seller_id") == F.col("seller_id")
    )
    return (
        cases.join(placed, on="order_id", how="inner")
        .where(is_sellers_case)
        .groupBy("seller_id", "order_id", "case_type")
        .agg(F.min("event_day").alias("order_day"), F.min("open_day").alias("open_day"))
    )


def build_item_prices(seller_orders: DataFrame, products: DataFrame) -> DataFrame:
    """Priced items: (seller, category, day, log price); prices are log-normal, so z in log space."""
    lines = seller_orders.where(F.col("event_day").isNotNull()).select(
        "seller_id", F.col("event_day").alias("day"), F.explode("priced_items").alias("line")
    )
    return (
        lines.select("seller_id", "day", "line.product_id", "line.price")
        .join(products.select("product_id", "category"), on="product_id", how="left")
        .where(F.col("category").isNotNull())
        .select("seller_id", "category", "day", F.log(F.col("price")).alias("log_price"))
    )


def build_listings(products: DataFrame) -> DataFrame:
    """(seller, listing day); Olist has neither products.seller_id nor listed_at: empty there."""
    return products.where(F.col("seller_id").isNotNull() & F.col("listed_at").isNotNull()).select(
        "seller_id", day_number("listed_at").alias("day")
    )


def earliest_event_day(rows: DataFrame) -> Column:
    """The earliest day any timestamp or date of `rows` falls on (an aggregate): the
    first as-of day the rows can count towards."""
    dated = [
        F.to_date(F.col(f.name))
        for f in rows.schema.fields
        if isinstance(f.dataType, T.TimestampType | T.DateType) and not f.name.startswith("_")
    ]
    if not dated:
        return F.lit(None).cast("date")
    return F.min(F.least(*dated) if len(dated) > 1 else dated[0])
