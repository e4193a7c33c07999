"""Typed config of `als_embeddings` (conf/jobs/als_embeddings.yaml, section `als`)."""

from __future__ import annotations

from pydantic import Field, model_validator

from catalog.tables import INTERACTION_TYPES
from lakecore.config import JobConfig, StrictModel, model_of, to_dataclass
from lakecore.io import split_name
from transforms.recommendations.model import AlsParams


class Bm25Config(StrictModel):
    k1: float = Field(gt=0)
    b: float = Field(ge=0, le=1)


class GateConfig(StrictModel):
    # A model is not published when its nDCG@10 < last published nDCG@10 - tolerance.
    ndcg_tolerance: float = Field(default=0.02, ge=0)


class StockConfig(StrictModel):
    enabled: bool = False
    table: str = "gold.inventory_book_snapshot"
    min_available: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _table(self) -> StockConfig:
        split_name(self.table)
        return self


class ExportConfig(StrictModel):
    enabled: bool = False
    bucket: str | None = None
    prefix: str = "recommendations/als"
    endpoint_url: str | None = None
    region: str = "us-east-1"

    @model_validator(mode="after")
    def _bucket(self) -> ExportConfig:
        if self.enabled and not self.bucket:
            raise ValueError("export.enabled needs export.bucket")
        return self


class AlsSection(model_of(AlsParams)):  # type: ignore[misc]
    event_weights: dict[str, float]
    # Multiplier of a `rating` event's weight by its star value (missing stars: 1).
    rating_weights: dict[int, float] = Field(default_factory=dict)
    half_life_days: float | None = Field(default=None, gt=0)
    log_scale_eps: float | None = Field(default=None, gt=0)
    bm25: Bm25Config | None = None
    top_n: int = Field(default=10, ge=1)
    similar_k: int = Field(default=10, ge=1)
    popular_n: int = Field(default=20, ge=1)
    # A user is never recommended an item they have an event of these types with.
    exclude_event_types: list[str] = Field(default_factory=lambda: ["purchase", "rating"])
    evaluate: bool = False
    dataset: str = "interactions"
    eval_ratio: float = Field(default=0.75, gt=0, lt=1)
    eval_seed: int = 42
    gate: GateConfig = GateConfig()
    stock: StockConfig = StockConfig()
    export: ExportConfig = ExportConfig()

    @model_validator(mode="after")
    def _types(self) -> AlsSection:
        unknown = sorted(set(self.event_weights) - set(INTERACTION_TYPES))
        unknown += sorted(set(self.exclude_event_types) - set(INTERACTION_TYPES))
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {list(INTERACTION_TYPES)}")
        if self.log_scale_eps is not None and self.bm25 is not None:
            raise ValueError("choose one of log_scale_eps and bm25")
        return self

    def params(self) -> AlsParams:
        return to_dataclass(self, AlsParams)


class AlsEmbeddingsConfig(JobConfig):
    als: AlsSection
