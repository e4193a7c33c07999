"""als_embeddings on MovieLens 100K with the public protocol: metrics stored, beat popularity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakecore.io import Lakehouse
from tests.conftest import run_cli

pytestmark = pytest.mark.integration

# benchmarks/results/als_movielens.json: the shipped default's test-part nDCG@10.
BENCHMARK = json.loads(
    (Path(__file__).resolve().parents[2] / "benchmarks/results/als_movielens.json").read_text()
)
BAND = 0.02


@pytest.fixture(scope="module")
def ml_lake(spark, shared_data, tmp_path_factory) -> Lakehouse:
    root = tmp_path_factory.mktemp("movielens") / "lake"
    src = ["--source", "movielens", "--path", str(shared_data / "movielens-100k")]
    assert run_cli(root, "run", "ingest", *src) == 0
    assert run_cli(root, "run", "conform") == 0
    job = ["--set=als.evaluate=true", "--set=als.dataset=movielens-100k"]
    assert run_cli(root, "run", "als_embeddings", *job) == 0
    return Lakehouse(spark, str(root))


def test_metrics_are_stored_beat_popularity_and_match_the_benchmark(ml_lake):
    rows = {r["model"]: r for r in ml_lake.read("gold.model_metrics").collect()}
    assert set(rows) == {"als", "popularity"}
    als, pop = rows["als"], rows["popularity"]
    assert als["model_version"] == pop["model_version"]
    assert (als["dataset"], als["users"], str(als["as_of_date"])) == (
        "movielens-100k",
        943,
        "1998-04-22",
    )
    assert als["published"] and als["beats_popularity"] and not pop["published"]
    assert als["ndcg_at_10"] > pop["ndcg_at_10"] + 0.1 and als["map"] > pop["map"]
    assert als["ndcg_at_10"] == pytest.approx(BENCHMARK["test"]["ndcg_at_10"], abs=BAND)
    assert als["map"] == pytest.approx(BENCHMARK["test"]["map"], abs=BAND)
    # Popularity on this protocol is a fixed figure (no randomness beyond the split).
    assert pop["ndcg_at_10"] == pytest.approx(BENCHMARK["popularity"]["ndcg_at_10"], abs=1e-6)


def test_recommendations_skip_rated_movies_and_similar_items_make_sense(ml_lake):
    recs = ml_lake.read("gold.user_recommendations")
    assert recs.count() == 943 * 10
    rated = ml_lake.read("silver.interactions").select("user_id", "item_id")
    assert recs.join(rated, ["user_id", "item_id"], "left_semi").count() == 0
    star_wars = (
        ml_lake.read("gold.similar_items")
        .where("item_id = '50' AND rank <= 3")
        .select("similar_item_id")
    )
    assert "181" in {r[0] for r in star_wars.collect()}  # Return of the Jedi
    genres = ml_lake.read("gold.popular_items").where(F.col("scope") == "category")
    assert genres.select("category").distinct().count() >= 15
