"""The eval stage's options (``eval:`` of an expert in a pipeline, ``largeforge eval``)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from largeforge.config.base import BaseConfig

DEFAULT_METRICS = ["exact_match", "contains", "rouge_l"]


class EvalConfig(BaseConfig):
    """How an expert is measured against its base model.

    ``val_size`` holds out rows of the expert's own data, as LLaMA-Factory's ``val_size`` and
    axolotl's ``val_set_size`` do: a float below 1 is a fraction, an int a count; the split is
    seeded and the held-out rows are excluded from training. ``data`` names an eval file instead
    (then every training row is trained on). ``max_length`` caps the context a row must fit in
    (default: the model's own context length).
    """

    enabled: bool = True
    val_size: Annotated[float, Meta(ge=0, lt=1)] | Annotated[int, Meta(ge=0)] = 0.1
    data: str | None = None
    format: str = "auto"
    seed: int = 0
    metrics: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_METRICS))
    max_new_tokens: Annotated[int, Meta(ge=1, le=4096)] = 64
    #: At most this many held-out rows are scored per model (generation is the slow part).
    max_rows: Annotated[int, Meta(ge=1)] = 200
    max_length: Annotated[int, Meta(ge=16)] | None = None
    evaluator: str = "transformers"
    #: Also measure the base model (the "before" of before/after).
    compare_base: bool = True
