"""``QuantizationConfig``: every knob of an AWQ or GPTQ run, validated on construction."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from largeforge.config.base import BaseConfig

Method = Literal["awq", "gptq"]
ActOrder = Literal["static", "group", "weight", "none"]


class QuantizationConfig(BaseConfig, kw_only=True):
    """Settings of one quantization run (spec 6.1–6.3), loadable from YAML/TOML/JSON.

    ``group_size=None`` picks the largest of 128, 64, 32, 16 that divides the input width of
    every quantized layer; an explicit value is checked against the model before any work and
    ``-1`` means one scale per output channel.
    """

    method: Method = "gptq"
    bits: Annotated[int, Meta(ge=2, le=8)] = 4
    group_size: Annotated[int, Meta(ge=-1, le=4096)] | None = None
    #: Symmetric (no zero point) or asymmetric weights; asymmetric is more accurate at 4 bits.
    symmetric: bool = False
    #: GPTQ: Hessian dampening as a fraction of its mean diagonal (llm-compressor's default).
    damp_percent: Annotated[float, Meta(gt=0.0, le=1.0)] = 0.01
    #: GPTQ activation ordering: "static" costs nothing at inference; "group" is AutoGPTQ's
    #: ``desc_act=True``; "none" quantizes columns in their stored order.
    act_order: ActOrder = "static"
    #: AWQ: search scales with activations and weights (True), activations only (False).
    duo_scaling: bool = True
    #: AWQ: grid points in the per-layer scale search (fewer is faster, slightly worse).
    n_grid: Annotated[int, Meta(ge=3, le=100)] = 20
    #: Calibration source: a file, a directory the data layer reads, or a local dataset name.
    calibration: str | None = None
    num_samples: Annotated[int, Meta(ge=1, le=100_000)] = 128
    seq_length: Annotated[int, Meta(ge=8, le=32_768)] = 512
    #: Module names or ``re:`` patterns left in full precision.
    ignore: list[str] = msgspec.field(default_factory=lambda: ["lm_head"])
    seed: int = 0

    def check(self) -> None:
        if self.group_size == 0:
            raise ValueError("group_size = 0 is invalid: use a positive size, -1 (per channel) or auto")

    @property
    def label(self) -> str:
        """Short description, e.g. ``GPTQ W4 asym g64``."""
        group = "auto" if self.group_size is None else ("channel" if self.group_size == -1 else self.group_size)
        return f"{self.method.upper()} W{self.bits} {'sym' if self.symmetric else 'asym'} g{group}"
