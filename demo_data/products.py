"""Synthetic categories and products (listings).

A product is the `listing`-th listing (0-based) of the seller with rank
`rank`; how many listings a seller has, and every attribute of a listing
(category, price, weight, listing time), are column expressions of
(rank, listing). Order lines therefore price their items without joining the
catalogue: the generator stays narrow (no shuffle) at any scale.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from demo_data.core import CATEGORIES, DAY_S, HOUR_S, DemoParams, ts
from demo_data.sellers import SellerPlan
from transforms.common.seeded import array_literal, at, hex_id, normal, pick, randint, uniform

# Listings of a seller are mostly in its main category.
MAIN_CATEGORY_SHARE = 0.7
PRICE_SIGMA = 0.35  # log-normal spread of a listing's price around its category's
# price_below_category sellers price at 20-40% of normal: 60-80% below.
BELOW_CATEGORY_FACTOR = (0.2, 0.4)
NEW_LISTING_SHARE = 0.02  # listed in the last `new_product_days`; not yet sold
LISTED_BEFORE_WINDOW_DAYS = 364
ADJECTIVES = ("classic", "premium", "compact", "deluxe", "basic", "pro", "eco", "smart")
NOUNS = ("kit", "set", "model", "edition", "pack", "series")


def _col(c: str | Column) -> Column:
    return F.col(c) if isinstance(c, str) else c


@dataclass(frozen=True)
class Catalog:
    """Listings as expressions of (seller rank, listing number)."""

    p: DemoParams
    sellers: SellerPlan

    @classmethod
    def of(cls, p: DemoParams) -> Catalog:
        return cls(p, SellerPlan.of(p))

    def listings(self, rank: str | Column) -> Column:
        """Listings of a seller: one, plus its order share of the rest (about `products`)."""
        extra = self.p.products - self.p.sellers
        u = uniform(self.p.seed, "listings", rank)
        return (F.floor(self.sellers.order_share(rank) * extra + u) + 1).cast("long")

    def new_listings(self, rank: str | Column, listings: Column) -> Column:
        """The last few listings are new (listed days ago): never the seller's only one."""
        u = uniform(self.p.seed, "new_listings", rank)
        k = F.floor(listings * NEW_LISTING_SHARE + u)
        return F.when(listings > 1, F.least(k, listings - 1)).otherwise(0).cast("long")

    def product_id(self, rank: str | Column, listing: str | Column) -> Column:
        return hex_id(self.p.seed, "product", rank, listing)

    def category_index(self, rank: str | Column, listing: str | Column) -> Column:
        n_cat = len(CATEGORIES)
        seed = F.lit(self.p.seed)
        main = F.pmod(F.xxhash64(seed, F.lit("main_category"), _col(rank)), F.lit(n_cat))
        other = F.floor(uniform(self.p.seed, "other_category", rank, listing) * n_cat)
        is_main = uniform(self.p.seed, "category", rank, listing) < MAIN_CATEGORY_SHARE
        return F.when(is_main, main).otherwise(other)

    def price(self, rank: str | Column, listing: str | Column) -> Column:
        typical = at([price for _, _, price in CATEGORIES], self.category_index(rank, listing))
        spread = F.exp(PRICE_SIGMA * normal(self.p.seed, "price", rank, listing))
        low, high = BELOW_CATEGORY_FACTOR
        below = low + uniform(self.p.seed, "below", rank, listing) * (high - low)
        is_below = self.sellers.pattern(rank) == "price_below_category"
        if self.p.camouflage:
            # Camouflaged: a listing acts out a class like an order does, and only
            # `pattern_strength` of a pricing pattern's listings are priced below.
            u_klass = uniform(self.p.seed, "listing_pattern", rank, listing)
            is_below = (self.sellers.event_klass(rank, u_klass) == "price_below_category") & (
                uniform(self.p.seed, "below_share", rank, listing) < self.p.pattern_strength
            )
        factor = F.when(is_below, below).otherwise(1.0)
        return F.round(typical * spread * factor, 2)

    def weight_g(self, rank: str | Column, listing: str | Column) -> Column:
        grams = F.round(F.exp(6.0 + normal(self.p.seed, "weight", rank, listing)))
        return F.least(F.greatest(grams, F.lit(50.0)), F.lit(30_000.0))

    def freight(self, rank: str | Column, listing: str | Column) -> Column:
        u = uniform(self.p.seed, "freight", rank, listing)
        return F.round(8.0 + self.weight_g(rank, listing) / 1000 * 2.0 + u * 10, 2)

    def listed_s(
        self, rank: str | Column, listing: str | Column, listings: Column | None = None
    ) -> Column:
        """Listed before the window, or (the new listings) in its last days.

        `listings`: the seller's listing count, when already a column.
        """
        p = self.p
        n = self.listings(rank) if listings is None else listings
        is_new = _col(listing) >= n - self.new_listings(rank, n)
        u = uniform(p.seed, "listed", rank, listing)
        new_s = F.lit(p.end_s - HOUR_S) - F.floor(u * (p.new_product_days * DAY_S - HOUR_S))
        old_s = F.lit(p.start_s - DAY_S) - F.floor(u * LISTED_BEFORE_WINDOW_DAYS * DAY_S)
        return F.when(is_new, new_s).otherwise(old_s).cast("long")


def build_categories(base: DataFrame) -> DataFrame:
    index = (F.col("id") + 1).cast("int")
    return base.select(
        F.element_at(array_literal([c for c, _, _ in CATEGORIES]), index).alias("category"),
        F.element_at(array_literal([e for _, e, _ in CATEGORIES]), index).alias("category_english"),
    )


def build_products(base_sellers: DataFrame, p: DemoParams) -> DataFrame:
    """Every seller's listings (about `products` rows), from the sellers' base range."""
    cat = Catalog.of(p)

    def u(purpose: str) -> Column:
        return uniform(p.seed, purpose, "seller_rank", "listing")

    listings = (
        base_sellers.select((F.col("id") + 1).alias("seller_rank"))
        .withColumn("n_listings", cat.listings("seller_rank"))
        .withColumn(
            "listing", F.explode(F.sequence(F.lit(0).cast("long"), F.col("n_listings") - 1))
        )
        .withColumn("category_idx", cat.category_index("seller_rank", "listing"))
    )
    title = F.format_string(
        "%s %s %s",
        pick(ADJECTIVES, u("adjective")),
        F.regexp_replace(at([e for _, e, _ in CATEGORIES], F.col("category_idx")), "_", " "),
        pick(NOUNS, u("noun")),
    )
    return listings.select(
        cat.product_id("seller_rank", "listing").alias("product_id"),
        cat.sellers.seller_id("seller_rank").alias("seller_id"),
        at([c for c, _, _ in CATEGORIES], F.col("category_idx")).alias("category"),
        title.alias("title"),
        F.length(title).alias("name_length"),
        randint(u("description"), 80, 2_000).alias("description_length"),
        randint(u("photos"), 1, 6).alias("photos_qty"),
        cat.weight_g("seller_rank", "listing").alias("weight_g"),
        (10.0 + randint(u("length"), 0, 50)).alias("length_cm"),
        (2.0 + randint(u("height"), 0, 40)).alias("height_cm"),
        (8.0 + randint(u("width"), 0, 40)).alias("width_cm"),
        ts(cat.listed_s("seller_rank", "listing", F.col("n_listings"))).alias("listed_at"),
    )
