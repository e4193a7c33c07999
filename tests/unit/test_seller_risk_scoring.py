"""Config-weighted score: ramps, inverse ramps, support minimums, reason-code order; the config."""

from __future__ import annotations

import shutil

import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import functions as F

from jobs.seller_risk_features import SellerRiskConfig
from lakecore.config import PROJECT_ROOT, ConfigError, load_run_config
from transforms.seller_risk.scoring import ScoreRule, with_risk_score

RULES = [
    ScoreRule("a", weight=2.0, low=0.0, high=1.0),
    ScoreRule("b", weight=1.0, low=1.0, high=0.0),  # inverse: low values are bad
    ScoreRule("c", weight=1.0, low=0.0, high=10.0, support="n", min_support=5),
    ScoreRule("d", weight=2.0, low=0.0, high=1.0),
]


@pytest.fixture(scope="module")
def scored(spark):
    df = spark.createDataFrame(
        [
            ("r1", 0.5, 0.0, 10.0, 5, 2.0),  # d 2.0 (clamped); a, b, c tie at 1.0
            ("r2", None, 1.0, 10.0, 4, -1.0),  # null, best end, unsupported, below low: all 0
            ("r3", 1.5, 0.75, 5.0, None, 0.1),  # edge: null support count
        ],
        "id string, a double, b double, c double, n int, d double",
    )
    return with_risk_score(df, RULES, reasons=3).cache()


def test_score_is_weighted_share_of_points(spark, scored):
    expected = spark.createDataFrame(
        [("r1", 500.0 / 6), ("r2", 0.0), ("r3", (2.0 + 0.25 + 0.2) * 100 / 6)],
        "id string, risk_score double",
    )
    got = scored.select("id", "risk_score").orderBy("id")
    assert_approx_df_equality(got, expected, 1e-4, ignore_nullable=True)


def test_reason_codes_largest_first_ties_by_name_top_three(scored):
    got = {r.id: r.reason_codes for r in scored.select("id", "reason_codes").collect()}
    assert got == {"r1": ["d", "a", "b"], "r2": [], "r3": ["a", "b", "d"]}


def test_contributions_map_shows_every_feature(scored):
    row = scored.where(F.col("id") == "r3").select("score_contributions").first()[0]
    assert row == pytest.approx({"a": 2.0, "b": 0.25, "c": 0.0, "d": 0.2})


def test_unknown_feature_fails_with_the_known_ones(spark, scored):
    with pytest.raises(ValueError, match=r"unknown features \['zz'\]"):
        with_risk_score(scored, [ScoreRule("zz", 1.0, 0.0, 1.0)])


@pytest.fixture
def conf_dir(tmp_path):
    dst = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", dst)
    return dst


def test_shipped_config_loads_and_names_real_features(conf_dir):
    cfg = load_run_config("seller_risk_features", SellerRiskConfig, conf_dir=conf_dir)
    section = cfg.job.seller_risk
    assert section.risk_params().windows == (1, 7, 30)
    assert {r.feature for r in section.rules()} >= {"burst_ratio", "top_buyer_share_30d"}
    assert not any(r.feature.startswith(("orders_", "gmv_")) for r in section.rules())


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seller_risk.scoring.gmv_99d={weight: 1.0, low: 0, high: 1}", "unknown feature 'gmv_99d'"),
        (
            "seller_risk.scoring.burst_ratio={weight: 1.0, low: 2, high: 2}",
            "low and high must differ",
        ),
        ("seller_risk.windows=[7, 7]", "distinct positive"),
        ("seller_risk.typo=1", "unknown key 'seller_risk.typo'"),
    ],
)
def test_bad_config_names_file_and_key(conf_dir, override, message):
    with pytest.raises(ConfigError, match=r"seller_risk_features\.yaml") as err:
        load_run_config(
            "seller_risk_features", SellerRiskConfig, overrides=[override], conf_dir=conf_dir
        )
    assert message in str(err.value)
