"""AWQ through llm-compressor's ``AWQModifier`` + ``QuantizationModifier`` (spec 6.1)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

from largeforge_quant.base import LLMCompressorQuantizer


@contextlib.contextmanager
def no_pinning_without_accelerator() -> Iterator[None]:
    """Skip llm-compressor's cache pinning when there is no accelerator.

    ``AWQModifier`` pins its cached activations (``IntermediatesCache.pin_memory``) to speed up
    host-to-GPU copies; ``Tensor.pin_memory()`` raises without CUDA. Pinning only affects
    speed, so on CPU-only machines that one method becomes a no-op for the duration of the
    block; with an accelerator nothing is changed.
    """
    import torch
    from llmcompressor.pipelines.cache import IntermediatesCache

    if torch.accelerator.is_available():
        yield
        return
    original = IntermediatesCache.pin_memory
    IntermediatesCache.pin_memory = lambda self, *args, **kwargs: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        IntermediatesCache.pin_memory = original  # type: ignore[method-assign]


class AWQQuantizer(LLMCompressorQuantizer):
    """AWQ: scales salient input channels (found from calibration activations) before
    round-to-nearest quantization. Options: ``group_size``, ``symmetric``, ``duo_scaling``,
    ``n_grid``."""

    method: ClassVar[str] = "awq"

    def build_recipe(self) -> list[Any]:
        from llmcompressor.modifiers.quantization import QuantizationModifier
        from llmcompressor.modifiers.transform.awq import AWQModifier

        return [
            AWQModifier(duo_scaling=self.config.duo_scaling, n_grid=self.config.n_grid),
            QuantizationModifier(config_groups=self.scheme(), ignore=self.config.ignore),
        ]

    def run_oneshot(self, model: Any, tokenizer: Any, dataset: Any) -> None:
        with no_pinning_without_accelerator():
            super().run_oneshot(model, tokenizer, dataset)

    def method_fields(self) -> dict[str, Any]:
        return {"duo_scaling": self.config.duo_scaling, "n_grid": self.config.n_grid}
