"""Do seller-risk features at D predict what happens to the seller in the next 30 days? (Olist)

Reads gold.seller_risk_features and the silver tables of a lake where Olist was
ingested, conformed and backfilled (see benchmarks/README.md), and measures,
pooled over monthly evaluation days, the ROC AUC of the risk score and of single
features against two outcomes of the seller's orders placed in (D, D + 30]:
a 1-star review share >= --positive-share, and a late-delivery share >= the same.
Outcomes with less than --min-support reviews (deliveries) are left out.

    python benchmarks/seller_risk_olist_auc.py --lake /tmp/olist/lake
"""

from __future__ import annotations

import argparse
import json
import platform
from datetime import UTC, date, datetime
from pathlib import Path

from pyspark.sql import functions as F

from lakecore.config import JobConfig, load_run_config
from lakecore.io import Lakehouse
from lakecore.session import get_spark
from transforms.seller_risk.facts import build_seller_orders
from transforms.seller_risk.labels import next_window_outcomes, roc_auc

RESULTS = Path(__file__).parent / "results" / "seller_risk_olist_auc.json"
# (feature, direction): +1 when a high value should mean risk, -1 when a low one should.
SCORES = {
    "risk_score": 1,
    "one_star_share_30d": 1,
    "review_score_mean_30d": -1,
    "late_shipment_rate_30d": 1,
    "delivery_delay_mean_days_30d": 1,
    "cancel_rate_30d": 1,
    "orders_30d": 1,
}
OUTCOMES = {"one_star": "one_star_share_next", "late_delivery": "late_delivery_share_next"}


def month_starts(first: date, last: date) -> list[date]:
    days, d = [], first
    while d <= last:
        days.append(d)
        d = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return days


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lake", required=True)
    ap.add_argument("--first", type=date.fromisoformat, default=date(2017, 3, 1))
    ap.add_argument("--last", type=date.fromisoformat, default=date(2018, 7, 1))
    ap.add_argument("--horizon-days", type=int, default=30)
    ap.add_argument("--min-support", type=int, default=3)
    ap.add_argument("--positive-share", type=float, default=0.2)
    args = ap.parse_args()

    cfg = load_run_config("query", JobConfig, overrides=[f"env.lakehouse.root={args.lake}"])
    lake = Lakehouse(get_spark(cfg, "seller_risk_olist_auc"), cfg.lake_root)
    days = month_starts(args.first, args.last)
    seller_orders = build_seller_orders(
        lake.read("silver.order_items"), lake.read("silver.orders"), lake.read("silver.customers")
    )
    outcomes = next_window_outcomes(
        seller_orders, lake.read("silver.reviews"), days, args.horizon_days, args.min_support
    )
    features = lake.read("gold.seller_risk_features").where(F.col("as_of_date").isin(days))
    rows = features.select("seller_id", "as_of_date", *SCORES).join(
        outcomes, on=["seller_id", "as_of_date"], how="inner"
    )
    collected = rows.collect()

    report: dict[str, object] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.system()}",
        "evaluation_days": [str(d) for d in days],
        "horizon_days": args.horizon_days,
        "min_support": args.min_support,
        "positive_share": args.positive_share,
        "outcomes": {},
    }
    for outcome, column in OUTCOMES.items():
        labelled = [r for r in collected if r[column] is not None]
        positives = sum(r[column] >= args.positive_share for r in labelled)
        aucs = {}
        for feature, sign in SCORES.items():
            pairs = [
                (sign * r[feature], r[column] >= args.positive_share)
                for r in labelled
                if r[feature] is not None
            ]
            auc = roc_auc(pairs)
            aucs[feature] = {"auc": None if auc is None else round(auc, 3), "n": len(pairs)}
        report["outcomes"][outcome] = {
            "seller_days": len(labelled),
            "positives": positives,
            "auc": aucs,
        }
        print(f"{outcome}: {len(labelled)} seller-days, {positives} positive")
        for feature, v in aucs.items():
            print(f"  {feature:32s} AUC {v['auc']}  (n={v['n']})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
