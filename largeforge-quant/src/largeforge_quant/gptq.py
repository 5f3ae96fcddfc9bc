"""GPTQ through llm-compressor's ``GPTQModifier`` (spec 6.2)."""

from __future__ import annotations

from typing import Any, ClassVar

from largeforge_quant.base import LLMCompressorQuantizer


class GPTQQuantizer(LLMCompressorQuantizer):
    """GPTQ: quantizes each layer column by column, correcting the error with the inverse
    Hessian of its calibration inputs. Options: ``group_size``, ``symmetric``,
    ``damp_percent`` (Hessian dampening) and ``act_order``."""

    method: ClassVar[str] = "gptq"

    def build_recipe(self) -> list[Any]:
        from llmcompressor.modifiers.quantization import GPTQModifier

        return [
            GPTQModifier(
                config_groups=self.scheme(),
                ignore=self.config.ignore,
                dampening_frac=self.config.damp_percent,
                actorder=None if self.config.act_order == "none" else self.config.act_order,
            )
        ]

    def method_fields(self) -> dict[str, Any]:
        return {"damp_percent": self.config.damp_percent, "act_order": self.config.act_order}
