"""The shipped ALS config loads; bad values stop with the file and the key."""

from __future__ import annotations

import pytest

from jobs.als_config import AlsEmbeddingsConfig
from lakecore.config import ConfigError, load_run_config


def load(*overrides: str):
    return load_run_config("als_embeddings", AlsEmbeddingsConfig, overrides=list(overrides))


def test_shipped_defaults_are_the_validated_ones():
    als = load().job.als
    assert (als.rank, als.reg_param, als.alpha, als.max_iter) == (16, 0.1, 1.0, 10)
    assert als.evaluate is False and als.export.enabled is False


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("als.rank=0", "als.rank"),
        ("als.exclude_event_types=[click]", "unknown event types ['click']"),
        ("als.export.enabled=true", "export.enabled needs export.bucket"),
        ("als.stock.table=inventory_book_snapshot", "must be <layer>.<table>"),
        ("als.learning_rate=0.1", "unknown key 'als.learning_rate'"),
        # Credentials come from the standard AWS chain only: a config cannot carry them.
        ("als.export.aws_secret_access_key=x", "unknown key 'als.export.aws_secret_access_key'"),
        ("als.export.aws_access_key_id=x", "unknown key 'als.export.aws_access_key_id'"),
    ],
)
def test_bad_values_name_the_file_and_key(override, message):
    with pytest.raises(ConfigError, match=r"als_embeddings\.yaml") as err:
        load(override)
    assert message in str(err.value)
