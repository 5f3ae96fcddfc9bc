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

    Every figure gets a seeded bootstrap interval (``bootstrap`` resamples at ``confidence``);
    fewer than ``min_rows`` scored rows are reported as too few to tell base from expert.

    Retention: the base model and the expert also answer ``general_rows`` rows of a general
    held-out set (the one shipped with LargeForge, or ``general_data``), with
    ``general_max_new_tokens``; an expert whose ``contains`` there falls more than
    ``max_regression`` below the base model's is flagged: a warning, or a failed stage when
    ``strict``. ``general_rows: 0`` turns retention off.
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
    #: Bootstrap resamples behind every interval, and the intervals' confidence.
    bootstrap: Annotated[int, Meta(ge=100, le=100000)] = 1000
    confidence: Annotated[float, Meta(gt=0.5, lt=1)] = 0.95
    #: Fewer scored rows than this: the forge says they are too few to tell base from expert.
    min_rows: Annotated[int, Meta(ge=1)] = 20
    #: Retention: rows of the general set scored per model (0: none), and its answer length.
    general_rows: Annotated[int, Meta(ge=0)] = 30
    general_data: str | None = None
    general_max_new_tokens: Annotated[int, Meta(ge=1, le=4096)] = 24
    #: Largest drop of ``contains`` on the general set (base minus expert) that passes.
    max_regression: Annotated[float, Meta(ge=0, le=1)] = 0.1
    #: Fail the eval stage (one line) instead of warning when retention is lost.
    strict: bool = False
