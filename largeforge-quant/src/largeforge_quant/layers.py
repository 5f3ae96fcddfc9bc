"""Which layers get quantized and how wide their inputs are, read without loading weights.

Group quantization splits each weight row into groups of ``group_size`` input columns; a width
that is not a multiple of the group size fails inside llm-compressor only after calibration, so
the group size is checked (or chosen) here, up front.
"""

from __future__ import annotations

import re
from pathlib import Path

from largeforge.errors import ConfigError

#: Group sizes tried, largest first, when none is given (128 is the common default).
AUTO_GROUP_SIZES = (128, 64, 32, 16)


def _ignored(name: str, cls_name: str, ignore: list[str]) -> bool:
    for pattern in ignore:
        if pattern.startswith("re:"):
            if re.match(pattern[3:], name):
                return True
        elif pattern in (name, cls_name) or name.endswith("." + pattern):
            return True
    return False


def quantized_layer_widths(model_path: str | Path, ignore: list[str]) -> dict[str, int]:
    """``{module name: input width}`` of every ``Linear`` layer that will be quantized.

    The model is built on PyTorch's ``meta`` device from its config, so no weights are read.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return {
        name: int(module.in_features)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not _ignored(name, type(module).__name__, ignore)
    }


def resolve_group_size(widths: dict[str, int], requested: int | None) -> int:
    """The group size to use: ``requested`` if it divides every width, else a clear error.

    ``None`` picks the largest of :data:`AUTO_GROUP_SIZES` that divides every width (or -1,
    per channel, when none does); ``-1`` is always valid.
    """
    distinct = sorted(set(widths.values()))
    if requested == -1:
        return -1
    if requested is None:
        for size in AUTO_GROUP_SIZES:
            if all(width % size == 0 for width in distinct):
                return size
        return -1
    bad = [w for w in distinct if w % requested]
    if bad:
        example = next(name for name, w in widths.items() if w == bad[0])
        valid = [s for s in AUTO_GROUP_SIZES if all(w % s == 0 for w in distinct)]
        hint = f"use {valid[0]}" if valid else "use -1 (per channel)"
        raise ConfigError(
            f"group_size {requested} does not divide the input width of every quantized layer "
            f"(widths {', '.join(map(str, distinct))}; {bad[0]} in {example}): {hint}, or leave it unset to choose"
        )
    return requested
