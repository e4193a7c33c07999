"""Synthetic orders and what hangs off them: customers, order items, payments.

`build_order_plan` makes one wide row per order (seller, customer, timeline,
status, the items as an array); the landing tables are projections of it, so
they agree with each other by construction (payments sum the items, item
sellers are the order's seller, canceled orders have no delivery).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from demo_data.core import DAY_S, HOUR_S, DemoParams, toward_legit, ts
from demo_data.products import Catalog
from demo_data.sellers import SellerPlan, with_place
from transforms.common.seeded import by_class, hex_id, randint, uniform, weighted

# Shares of a fraudster's orders that carry its pattern; camouflage scales them
# by `DemoParams.pattern_strength`, and moves the fraud rates toward legit.
BURST_ORDER_SHARE = 0.6  # velocity_burst: orders placed in the last `burst_days`
PUPPET_ORDER_SHARE = 0.6  # fake_reviews: orders from accounts made days before
RING_ORDER_SHARE = 0.8  # buyer_collusion: orders from its ring of customers
RING_SIZE = 4
NEW_CUSTOMER_SHARE = 0.03  # legit orders from accounts created in the window
NEW_CUSTOMER_MAX_AGE_DAYS = 20
PUPPET_MAX_AGE_DAYS = 2
REGULAR_CUSTOMER_AGE_DAYS = (30, 730)  # before the window starts
CANCEL_RATE = {"legit": 0.015, "noisy": 0.06, "high_cancellation_chargeback": 0.30}
LATE_RATE = {"legit": 0.05, "noisy": 0.18, "high_cancellation_chargeback": 0.20}
SHIPPING_LIMIT_DAYS = (2, 4)
TRANSIT_DAYS = (1, 10)
# Puppet orders ship at once and arrive fast: their 5-star review follows
# the account's creation by days.
PUPPET_TRANSIT_DAYS = (0, 1)
ESTIMATE_DAYS = (10, 20)
ITEMS_PER_ORDER = ((1, 0.85), (2, 0.11), (3, 0.04))
PAYMENT_TYPES = (("credit_card", 0.74), ("boleto", 0.19), ("debit_card", 0.02), ("voucher", 0.05))
SPLIT_PAYMENT_SHARE = 0.03  # a voucher plus the main payment


def _u(p: DemoParams, purpose: str) -> Column:
    return uniform(p.seed, purpose, "order_idx")


def with_order_seller(orders: DataFrame, p: DemoParams) -> DataFrame:
    """The seller, and the class the order acts out (the seller's, unless camouflaged)."""
    plan = SellerPlan.of(p)
    klass = plan.event_klass("seller_rank", _u(p, "order_pattern"))
    return orders.withColumn("seller_rank", plan.rank_for(_u(p, "seller"))).withColumns(
        {"seller_id": plan.seller_id("seller_rank"), "klass": klass}
    )


def with_purchase_time(orders: DataFrame, p: DemoParams) -> DataFrame:
    """Uniform over the window; velocity_burst orders crowd into its last days."""
    u = _u(p, "purchase")
    burst_span = p.burst_days * DAY_S
    burst_share = BURST_ORDER_SHARE * p.pattern_strength
    is_burst = (F.col("klass") == "velocity_burst") & (_u(p, "burst") < burst_share)
    purchase = F.when(is_burst, F.lit(p.end_s - burst_span) + F.floor(u * burst_span)).otherwise(
        F.lit(p.start_s) + F.floor(u * p.days * DAY_S)
    )
    return orders.withColumn("purchase_s", purchase.cast("long"))


def with_order_customer(orders: DataFrame, p: DemoParams) -> DataFrame:
    """Regular customers; fresh accounts; fake_reviews puppets; collusion rings."""
    klass = F.col("klass")
    u_kind = _u(p, "customer_kind")
    puppet_share = PUPPET_ORDER_SHARE * p.pattern_strength
    ring_share = RING_ORDER_SHARE * p.pattern_strength
    kind = (
        F.when((klass == "fake_reviews") & (u_kind < puppet_share), F.lit("puppet"))
        .when((klass == "buyer_collusion") & (u_kind < ring_share), F.lit("ring"))
        .when(_u(p, "new_customer") < NEW_CUSTOMER_SHARE, F.lit("new"))
        .otherwise(F.lit("regular"))
    )
    ring_member = F.floor(_u(p, "ring_member") * RING_SIZE)
    ring_idx = F.pmod(
        F.xxhash64(F.lit(p.seed), F.lit("ring"), "seller_rank", ring_member), F.lit(p.customers)
    )
    customer_idx = F.when(F.col("customer_kind") == "ring", ring_idx).otherwise(
        F.floor(_u(p, "customer") * p.customers)
    )
    is_fresh = F.col("customer_kind").isin("new", "puppet")
    max_age = F.when(F.col("customer_kind") == "puppet", PUPPET_MAX_AGE_DAYS).otherwise(
        NEW_CUSTOMER_MAX_AGE_DAYS
    )
    return (
        orders.withColumn("customer_kind", kind)
        .withColumn("customer_idx", customer_idx.cast("long"))
        .withColumns(
            {
                "customer_id": F.when(
                    is_fresh, hex_id(p.seed, "order_customer", "order_idx")
                ).otherwise(customer_id(F.col("customer_idx"), p)),
                "customer_created_s": F.when(
                    is_fresh,
                    F.col("purchase_s") - HOUR_S - F.floor(_u(p, "fresh_age") * max_age * DAY_S),
                ).cast("long"),
            }
        )
    )


def with_order_timeline(orders: DataFrame, p: DemoParams) -> DataFrame:
    """Approval, shipping limit, carrier and customer delivery, status at the window end."""
    purchase = F.col("purchase_s")
    cancel_rate = toward_legit(CANCEL_RATE, CANCEL_RATE["legit"], p)
    late_rate = toward_legit(LATE_RATE, LATE_RATE["legit"], p)
    is_canceled = _u(p, "cancel") < by_class("klass", cancel_rate, CANCEL_RATE["legit"])
    is_puppet = F.col("customer_kind") == "puppet"
    is_late = ~is_puppet & (_u(p, "late") < by_class("klass", late_rate, LATE_RATE["legit"]))
    approved = purchase + 300 + F.floor(_u(p, "approve") * 12 * HOUR_S)
    limit = purchase + randint(_u(p, "limit"), *SHIPPING_LIMIT_DAYS) * DAY_S
    ship_u = F.when(is_puppet, 0.2).otherwise(1.0) * _u(p, "carrier")
    on_time = F.col("approved_s") + F.floor(ship_u * (F.col("limit_s") - F.col("approved_s")))
    late = F.col("limit_s") + HOUR_S + F.floor(_u(p, "carrier") * 4 * DAY_S)
    transit_days = F.when(
        is_puppet, randint(_u(p, "transit_days"), *PUPPET_TRANSIT_DAYS)
    ).otherwise(randint(_u(p, "transit_days"), *TRANSIT_DAYS))
    transit = transit_days * DAY_S + F.floor(_u(p, "transit") * DAY_S)
    estimate = purchase + randint(_u(p, "estimate"), *ESTIMATE_DAYS) * DAY_S
    timed = orders.withColumns(
        {
            "is_canceled": is_canceled,
            "is_late": is_late,
            "approved_s": approved.cast("long"),
            "limit_s": limit.cast("long"),
            "estimated_s": (F.floor(estimate / DAY_S) * DAY_S).cast("long"),
        }
    ).withColumn("carrier_s", F.when(F.col("is_late"), late).otherwise(on_time).cast("long"))
    timed = timed.withColumn("customer_s", (F.col("carrier_s") + transit).cast("long"))
    end = F.lit(p.end_s)
    status = (
        F.when(F.col("is_canceled"), F.lit("canceled"))
        .when(F.col("approved_s") >= end, F.lit("created"))
        .when(F.col("carrier_s") >= end, F.lit("processing"))
        .when(F.col("customer_s") >= end, F.lit("shipped"))
        .otherwise(F.lit("delivered"))
    )
    # Canceled orders never ship; half were canceled before approval.
    approved_kept = ~F.col("is_canceled") | (_u(p, "cancel_stage") < 0.5)
    return timed.withColumn("status", status).withColumns(
        {
            "approved_s": F.when(approved_kept & (F.col("approved_s") < end), F.col("approved_s")),
            "carrier_s": F.when(
                ~F.col("is_canceled") & (F.col("carrier_s") < end), F.col("carrier_s")
            ),
            "customer_s": F.when(F.col("status") == "delivered", F.col("customer_s")),
        }
    )


def with_order_lines(orders: DataFrame, p: DemoParams) -> DataFrame:
    """Items from the seller's listings, priced by formula; `total` = sum(price + freight).

    Items take consecutive listings from a random start, so an order repeats a
    product only when its seller has fewer listings than the order has items.
    One column per item slot, not a `transform` lambda: lambdas run interpreted.
    """
    cat = Catalog.of(p)
    rank = F.col("seller_rank")
    n_on_sale = F.col("n_on_sale")
    slots = range(1, len(ITEMS_PER_ORDER) + 1)

    def line(k: int) -> Column:
        # `listing_k` is a column, not an inlined expression: Spark does not
        # share subexpressions inside a CASE branch.
        listing = F.col(f"listing_{k}")
        u = uniform(p.seed, f"freight_paid_{k}", "order_idx")
        item = F.struct(
            F.lit(k).alias("order_item_id"),
            cat.product_id(rank, listing).alias("product_id"),
            cat.price(rank, listing).alias("price"),
            F.round(cat.freight(rank, listing) * (0.9 + 0.2 * u), 2).alias("freight_value"),
            (F.lit(k) <= n_on_sale).alias("is_first_of_product"),
        )
        return F.when(F.col("n_items") >= k, item)

    start = F.xxhash64(F.lit(p.seed), F.lit("first_item"), "order_idx")
    lined = (
        orders.withColumns(
            {
                "n_items": weighted(ITEMS_PER_ORDER, _u(p, "n_items")).cast("int"),
                "n_listings": cat.listings("seller_rank"),
            }
        )
        .withColumn("n_on_sale", F.col("n_listings") - cat.new_listings(rank, F.col("n_listings")))
        .withColumn("start", F.pmod(start, n_on_sale))
        .withColumns({f"listing_{k}": F.pmod(F.col("start") + (k - 1), n_on_sale) for k in slots})
        .withColumns({f"line_{k}": line(k) for k in slots})
    )
    paid = [
        F.coalesce(F.col(f"line_{k}.price") + F.col(f"line_{k}.freight_value"), F.lit(0.0))
        for k in slots
    ]
    return lined.select(
        *orders.columns,
        F.slice(F.array(*[F.col(f"line_{k}") for k in slots]), 1, F.col("n_items")).alias("lines"),
        F.round(sum(paid[1:], paid[0]), 2).alias("total"),
    )


def build_order_plan(base: DataFrame, p: DemoParams) -> DataFrame:
    """One row per order with everything the order-derived tables need."""
    return (
        base.withColumnRenamed("id", "order_idx")
        .withColumn("order_id", hex_id(p.seed, "order", "order_idx"))
        .transform(with_order_seller, p)
        .transform(with_purchase_time, p)
        .transform(with_order_customer, p)
        .transform(with_order_timeline, p)
        .transform(with_order_lines, p)
    )


def customer_id(idx: str, p: DemoParams) -> Column:
    return hex_id(p.seed, "customer", idx)


def build_customers(base: DataFrame, plan: DataFrame, p: DemoParams) -> DataFrame:
    """Regular customers (created before the window) plus each order's fresh account."""
    age = randint(uniform(p.seed, "customer_age", "id"), *REGULAR_CUSTOMER_AGE_DAYS) * DAY_S
    regular = base.select(
        customer_id("id", p).alias("customer_id"),
        (F.lit(p.start_s) - age - F.floor(uniform(p.seed, "customer_hour", "id") * DAY_S)).alias(
            "created_s"
        ),
    )
    fresh = plan.where(F.col("customer_kind").isin("new", "puppet")).select(
        "customer_id", F.col("customer_created_s").alias("created_s")
    )
    return (
        regular.unionByName(fresh)
        .withColumns({"customer_unique_id": F.col("customer_id"), "created_at": ts("created_s")})
        .transform(with_place, p.seed, "customer_id")
    )


def orders_from_plan(plan: DataFrame) -> DataFrame:
    return plan.select(
        "order_id",
        "customer_id",
        "status",
        ts("purchase_s").alias("purchased_at"),
        ts("approved_s").alias("approved_at"),
        ts("carrier_s").alias("delivered_carrier_at"),
        ts("customer_s").alias("delivered_customer_at"),
        ts("estimated_s").alias("estimated_delivery_at"),
    )


def order_items_from_plan(plan: DataFrame) -> DataFrame:
    return plan.select(
        "order_id",
        "seller_id",
        ts("limit_s").alias("shipping_limit_at"),
        F.explode("lines").alias("x"),
    ).select(
        "order_id",
        "x.order_item_id",
        "x.product_id",
        "seller_id",
        "shipping_limit_at",
        "x.price",
        "x.freight_value",
    )


def payments_from_plan(plan: DataFrame, p: DemoParams) -> DataFrame:
    """One payment per order, a few split voucher + main; values sum to the order total."""
    kind = weighted(PAYMENT_TYPES, _u(p, "payment_type"))
    installments = F.when(kind == "credit_card", randint(_u(p, "installments"), 1, 10)).otherwise(1)
    voucher = F.round(F.col("total") * (0.1 + 0.4 * _u(p, "voucher")), 2)

    def payment(seq: int, ptype: Column, inst: Column, value: Column) -> Column:
        return F.struct(
            F.lit(seq).alias("payment_sequential"),
            ptype.alias("payment_type"),
            inst.cast("int").alias("installments"),
            value.alias("payment_value"),
        )

    is_split = _u(p, "split") < SPLIT_PAYMENT_SHARE
    payments = F.when(
        is_split,
        F.array(
            payment(1, F.lit("voucher"), F.lit(1), voucher),
            payment(2, kind, installments, F.round(F.col("total") - voucher, 2)),
        ),
    ).otherwise(F.array(payment(1, kind, installments, F.col("total"))))
    return plan.select("order_id", F.explode(payments).alias("x")).select("order_id", "x.*")
