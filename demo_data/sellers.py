"""Synthetic sellers, and who each seller is.

A seller is known by its rank (1 = the hottest). Its id, class (legit, noisy
legit, or one fraud pattern), its share of the orders and its listings are
column expressions of the rank (`SellerPlan`), so orders, products and
after-sales cases agree on them without a join.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from demo_data.core import CITIES, DAY_S, FRAUD_PATTERNS, HOUR_S, DemoParams, ts, zip_prefix
from transforms.common.seeded import at, hex_id, pick, randint, uniform

SELLER_AGE_DAYS = (366, 1_100)  # registered before any listing
# Camouflage: the share of a mixed fraudster's orders (and listings) that show its
# second pattern, and of a legit look-alike's that show its fraud-like pattern.
MIXED_PATTERN_SHARE = 0.4
LOOKALIKE_SHARE = 0.3
LABEL_NOISE_PATTERN = "label_noise"  # truth rows of legit sellers labelled fraudulent


def _col(c: str | Column) -> Column:
    return F.col(c) if isinstance(c, str) else c


@dataclass(frozen=True)
class SellerPlan:
    """Seller attributes as expressions of the rank.

    Ranks 2..n are scrambled by an affine permutation `slot = (q*mult + shift) mod m`
    (q = rank - 2, m = n - 1); slots below `n_fraud` are fraudulent, with the
    pattern `slot mod 5`, so every pattern is present and fraudsters are spread
    over big and small sellers. Rank 1 (the hottest) is always legit.

    Camouflage c (0: none of this): the fraud slots from `n_boosted` up (a share
    c of the fraudsters) get only the Zipf-tail volume of their rank, like a
    legit seller; a share c of the fraudsters also show a second pattern
    (`slot + 2` mod 5) on some orders and listings; a share c/2 of the noisy
    legit sellers show one fraud pattern on some (`side_pattern`, `event_klass`).
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
    camouflage: float = 0.0

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
            camouflage=p.camouflage,
        )

    @property
    def n_boosted(self) -> int:
        """Fraudsters given a share of `fraud_order_share`: all but the volume mimics."""
        return self.n_fraud - round(self.camouflage * self.n_fraud)

    @property
    def boosted_order_share(self) -> float:
        """The orders spread over the boosted fraudsters: each keeps its
        fraud_order_share / n_fraud; the mimics' part goes to the tail."""
        if self.n_boosted == self.n_fraud:
            return self.fraud_order_share  # not n/n: the same float as ever
        return self.fraud_order_share * self.n_boosted / self.n_fraud

    def seller_id(self, rank: str | Column) -> Column:
        """Id of the seller whose rank (a long) is `rank`."""
        return hex_id(self.seed, "seller", rank)

    def _slot(self, rank: str | Column) -> Column:
        return F.pmod((_col(rank) - 2) * self.mult + self.shift, F.lit(self.n - 1))

    def pattern(self, rank: str | Column) -> Column:
        slot = self._slot(rank)
        name = at(FRAUD_PATTERNS, F.pmod(slot, F.lit(len(FRAUD_PATTERNS))))
        return F.when((_col(rank) > 1) & (slot < self.n_fraud), name)

    def _is_noisy(self, rank: str | Column) -> Column:
        return (_col(rank) > 1) & (uniform(self.seed, "noisy_seller", rank) < self.noisy_share)

    def klass(self, rank: str | Column) -> Column:
        """The fraud pattern, else `noisy` (a legit seller with more problems), else `legit`."""
        is_noisy = self._is_noisy(rank)
        return F.coalesce(self.pattern(rank), F.when(is_noisy, F.lit("noisy")), F.lit("legit"))

    def side_pattern(self, rank: str | Column) -> Column:
        """Camouflage: the pattern a seller shows besides its class, or null: the second
        pattern of a mixed fraudster, the one pattern of a noisy legit look-alike."""
        slot = self._slot(rank)
        is_fraud = (_col(rank) > 1) & (slot < self.n_fraud)
        is_mixed = uniform(self.seed, "mixed_pattern", rank) < self.camouflage
        second = at(FRAUD_PATTERNS, F.pmod(slot + 2, F.lit(len(FRAUD_PATTERNS))))
        is_lookalike = self._is_noisy(rank) & (
            uniform(self.seed, "lookalike", rank) < self.camouflage / 2
        )
        lookalike = pick(FRAUD_PATTERNS, uniform(self.seed, "lookalike_pattern", rank))
        return F.when(is_fraud, F.when(is_mixed, second)).when(is_lookalike, lookalike)

    def event_klass(self, rank: str | Column, u: Column) -> Column:
        """The class one order (or listing) of the seller acts out, `u` its own uniform:
        the seller's class, or under camouflage now and then its `side_pattern`."""
        if self.camouflage == 0:
            return self.klass(rank)
        share = F.when(self.pattern(rank).isNotNull(), MIXED_PATTERN_SHARE).otherwise(
            LOOKALIKE_SHARE
        )
        return F.coalesce(F.when(u < share, self.side_pattern(rank)), self.klass(rank))

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
        pattern; under camouflage only over the boosted ones, each with the same
        part), the rest follows a continuous Zipf(s) over ranks 2..n.
        """
        hot, fraud = self.hot_share, self.boosted_order_share
        x = self._tail_inverse((u - hot - fraud) / (1 - hot - fraud))
        tail_rank = F.least(F.floor(x), F.lit(self.n - 1)) + 1
        rank = F.when(u < hot, F.lit(1))
        if fraud:
            # Boosted fraudsters hold the slots 0..n_boosted-1.
            fraud_slot = F.floor((u - hot) / fraud * self.n_boosted)
            fraud_rank = F.pmod((fraud_slot - self.shift) * self.inverse, F.lit(self.n - 1)) + 2
            rank = rank.when(u < hot + fraud, fraud_rank)
        return rank.otherwise(tail_rank).cast("long")

    def order_share(self, rank: str | Column) -> Column:
        """Expected share of the orders `rank_for` gives to `rank` (sums to 1)."""
        r = _col(rank)
        hot, fraud = self.hot_share, self.boosted_order_share
        tail = (1 - hot - fraud) * (self._tail_cdf(r) - self._tail_cdf(r - 1))
        is_boosted = (r > 1) & (self._slot(rank) < self.n_boosted)
        return F.when(r == 1, F.lit(hot)).otherwise(
            tail + F.when(is_boosted, fraud / max(self.n_boosted, 1)).otherwise(0.0)
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


def fraud_truth(sellers: DataFrame, p: DemoParams) -> DataFrame:
    """truth.fraudulent_sellers: (seller_id, pattern), every fraudster with its pattern.

    With `label_noise` > 0 the table is a noisy label source instead (think analyst
    labels): `p.n_label_flips` fraudsters are left out, and as many legit sellers
    (never the hottest) are in, with pattern `label_noise`; in each group, those with
    the lowest seeded hash. No landing row depends on label_noise, so the same knobs
    with label_noise 0 give the clean truth of the same data.
    """
    labelled = sellers.where(F.col("pattern").isNotNull())
    n_flips = p.n_label_flips
    if n_flips == 0:
        return labelled.select("seller_id", "pattern")
    first = Window.partitionBy("is_fraud").orderBy(
        uniform(p.seed, "label_noise", "seller_rank"), "seller_rank"
    )
    flipped = (
        sellers.where(F.col("seller_rank") > 1)
        .withColumn("is_fraud", F.col("pattern").isNotNull())
        .withColumn("is_flipped", F.row_number().over(first) <= n_flips)
    )
    # Labelled fraudulent: a fraudster not flipped, or a legit seller flipped. A
    # CASE, not coalesce: `pattern` stays nullable, the same schema as without noise.
    pattern = F.when(F.col("is_fraud"), F.col("pattern")).otherwise(F.lit(LABEL_NOISE_PATTERN))
    return flipped.where(F.col("is_fraud") != F.col("is_flipped")).select(
        "seller_id", pattern.alias("pattern")
    )
