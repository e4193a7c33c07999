"""Fitting Spark ALS: the settings the job relies on, and evaluation that cannot leak."""

from __future__ import annotations

from transforms.recommendations.model import AlsParams, evaluate, fit_als

PARAMS = AlsParams(rank=2, reg_param=0.1, alpha=1.0, max_iter=4, num_user_blocks=1,
                   num_item_blocks=1, checkpoint_interval=2, seed=42)  # fmt: skip


def pairs(spark):
    rows = [(f"u{u}", f"i{i}", u, i, 1.0) for u in range(6) for i in range(5) if (u + i) % 3]
    return spark.createDataFrame(
        rows, "user_id string, item_id string, user_idx int, item_idx int, strength double"
    )


def test_fit_checkpoints_drops_cold_starts_and_keeps_float_vectors(spark, tmp_path):
    sc = spark.sparkContext
    sc.setCheckpointDir(str(tmp_path / "ckpt"))
    model, seconds = fit_als(pairs(spark), PARAMS)
    assert seconds > 0
    # checkpointInterval only works with a checkpoint directory: ALS wrote to it.
    assert list((tmp_path / "ckpt").glob("*/rdd-*"))
    assert model.getColdStartStrategy() == "drop"
    # An unknown user gets no prediction row (not a NaN one).
    unknown = spark.createDataFrame([(99, 0), (0, 1)], "user_idx int, item_idx int")
    assert [r.user_idx for r in model.transform(unknown).collect()] == [0]
    assert model.itemFactors.schema["features"].dataType.simpleString() == "array<float>"


def test_evaluation_scales_the_training_part_only(spark):
    data = pairs(spark)
    seen = []

    def scale(df):
        seen.append(df.count())
        return df

    als, popularity = evaluate(data, PARAMS, ratio=0.75, seed=42, scale=scale)
    # BM25 or log scaling uses totals: given all pairs, the held-out ones would
    # shape the training weights.
    # Each of the 5 items has 4 users: round(0.75 x 4) = 3 train pairs per item.
    assert seen == [15] and data.count() == 20
    assert set(als) >= {"ndcg_at_10", "map", "train_seconds"}
    assert popularity["train_seconds"] == 0.0
