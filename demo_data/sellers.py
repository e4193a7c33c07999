"""Synthetic sellers, and who each seller is.

A seller is known by its rank (1 = the hottest). Its id, class (legit, noisy
legit, or one fraud pattern), its share of the orders and its listings are
column expressions of the rank (`SellerPlan`), so orders, products and
after-sales cases agree on them without a join.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from demo_data.core import CITIES, DAY_S, FRAUD_PATTERNS, HOUR_S, DemoParams, ts, zip_prefix
from transforms.common.seeded import at, hex_id, pick, randint, uniform

SELLER_AGE_DAYS = (366, 1_100)  # registered before any listing


def _col(c: str | Column) -> Column:
    return F.col(c) if isinstance(c, str) else c


@dataclass(frozen=True)
class SellerPlan:
    """Seller attributes as expressions of the rank.

    Ranks 2..n are scrambled by an affine permutation `slot = (q*mult + shift) mod m`
    (q = rank - 2, m = n - 1); slots below `n_fraud` are fraudulent, with the
    pattern `slot mod 5`, so every pattern is present and fraudsters are spread
    over big and small sellers. Rank 1 (the hottest) is always legit.
    """

    seed: int
    n: int
    n_fraud: int
    mult: int
    shift: int
    inverse: int
    hot_share: float
    fraud_order_share: float
    zipf_exponent: float
    noisy_share: float

    @classmethod
    def of(cls, p: DemoParams) -> SellerPlan:
        m = p.sellers - 1
        mult = 1 + (p.seed * 7_919) % m
        while math.gcd(mult, m) != 1:
            mult = mult % m + 1
        return cls(
            seed=p.seed,
            n=p.sellers,
            n_fraud=p.n_fraud,
            mult=mult,
            shift=(p.seed * 104_729) % m,
            inverse=pow(mult, -1, m),
            hot_share=p.hot_seller_share,
            fraud_order_share=p.fraud_order_share,
            zipf_exponent=p.zipf_exponent,
            noisy_share=p.noisy_seller_share,
        )

    def seller_id(self, rank: str | Column) -> Column:
        """Id of the seller whose rank (a long) is `rank`."""
        return hex_id(self.seed, "seller", rank)

    def _slot(self, rank: str | Column) -> Column:
        return F.pmod((_col(rank) - 2) * self.mult + self.shift, F.lit(self.n - 1))

    def pattern(self, rank: str | Column) -> Column:
        slot = self._slot(rank)
        name = at(FRAUD_PATTERNS, F.pmod(slot, F.lit(len(FRAUD_PATTERNS))))
        return F.when((_col(rank) > 1) & (slot < self.n_fraud), name)

    def klass(self, rank: str) -> Column:
        """The fraud pattern, else `noisy` (a legit seller with more problems), else `legit`."""
        is_noisy = (F.col(rank) > 1) & (uniform(self.seed, "noisy_seller", rank) < self.noisy_share)
        return F.coalesce(self.pattern(rank), F.when(is_noisy, F.lit("noisy")), F.lit("legit"))

    # -- activity: orders go to rank 1 (hot), to the fraudsters, or to a Zipf tail

    def _tail_cdf(self, x: Column) -> Column:
        """CDF of the continuous Zipf(s) tail on [1, n); rank r covers [r - 1, r)."""
        m1, s = self.n, self.zipf_exponent
        if abs(s - 1.0) < 1e-9:
            return F.log(x) / math.log(m1)
        return (1 - F.pow(x, 1 - s)) / (1 - m1 ** (1 - s))

    def _tail_inverse(self, v: Column) -> Column:
        m1, s = self.n, self.zipf_exponent
        if abs(s - 1.0) < 1e-9:
            return F.exp(v * math.log(m1))
        return F.pow(1 - v * (1 - m1 ** (1 - s)), 1 / (1 - s))

    def rank_for(self, u: Column) -> Column:
        """Seller rank of an order (or a page view) drawn with uniform `u`.

        `hot_share` goes to rank 1, `fraud_order_share` is spread evenly over the
        fraudsters (so small fraudsters still have enough orders to show their
        pattern), the rest follows a continuous Zipf(s) over ranks 2..n.
        """
        hot, fraud = self.hot_share, self.fraud_order_share
        fraud_slot = F.floor((u - hot) / fraud * self.n_fraud)
        fraud_rank = F.pmod((fraud_slot - self.shift) * self.inverse, F.lit(self.n - 1)) + 2
        x = self._tail_inverse((u - hot - fraud) / (1 - hot - fraud))
        tail_rank = F.least(F.floor(x), F.lit(self.n - 1)) + 1
        return (
            F.when(u < hot, F.lit(1))
            .when(u < hot + fraud, fraud_rank)
            .otherwise(tail_rank)
            .cast("long")
        )

    def order_share(self, rank: str | Column) -> Column:
        """Expected share of the orders `rank_for` gives to `rank` (sums to 1)."""
        r = _col(rank)
        hot, fraud = self.hot_share, self.fraud_order_share
        tail = (1 - hot - fraud) * (self._tail_cdf(r) - self._tail_cdf(r - 1))
        is_fraud = (r > 1) & (self._slot(rank) < self.n_fraud)
        return F.when(r == 1, F.lit(hot)).otherwise(
            tail + F.when(is_fraud, fraud / self.n_fraud).otherwise(0.0)
        )


def with_place(df: DataFrame, seed: int, key: str) -> DataFrame:
    """zip_code_prefix, city, state; squaring the uniform favours the big cities."""
    u = uniform(seed, "city", key)
    return df.withColumns(
        {
            "zip_code_prefix": zip_prefix(uniform(seed, "zip", key)),
            "city": pick([c for c, _ in CITIES], u * u),
            "state": pick([s for _, s in CITIES], u * u),
        }
    )


def build_sellers(base: DataFrame, p: DemoParams) -> DataFrame:
    """One row per seller, with its rank, class and (for fraudsters) pattern."""
    plan = SellerPlan.of(p)
    age_s = randint(uniform(p.seed, "seller_age", "seller_rank"), *SELLER_AGE_DAYS) * DAY_S
    hour_s = randint(uniform(p.seed, "seller_hour", "seller_rank"), 0, 23) * HOUR_S
    sellers = base.select((F.col("id") + 1).alias("seller_rank")).select(
        "seller_rank",
        plan.seller_id("seller_rank").alias("seller_id"),
        plan.pattern("seller_rank").alias("pattern"),
        plan.klass("seller_rank").alias("klass"),
        ts(F.lit(p.start_s) - age_s - hour_s).alias("registered_at"),
    )
    return sellers.transform(with_place, p.seed, "seller_id")


def fraud_truth(sellers: DataFrame) -> DataFrame:
    """truth.fraudulent_sellers: (seller_id, pattern)."""
    return sellers.where(F.col("pattern").isNotNull()).select("seller_id", "pattern")
