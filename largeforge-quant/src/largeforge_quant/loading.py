"""Reading a quantized model directory: how it was quantized (``get_quantization_config``) and
the model itself (``load_quantized``), whichever tool made it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from largeforge.errors import ConfigError, LargeForgeError

#: What LargeForge's quantizers write beside a checkpoint: how it was made.
QUANT_CONFIG_FILE = "quant_config.json"
#: The archived CUDA-only engines, never needed by the default path.
AUTOAWQ_AVAILABLE = importlib.util.find_spec("awq") is not None
AUTOGPTQ_AVAILABLE = importlib.util.find_spec("auto_gptq") is not None


def get_quantization_config(path: str | Path) -> dict[str, Any]:
    """Method and parameters of a quantized model directory.

    Reads ``quant_config.json`` (written by LargeForge); otherwise detects the method from
    llm-compressor's ``recipe.yaml`` or the ``quantization_config`` in ``config.json``
    (compressed-tensors, AutoAWQ or AutoGPTQ checkpoints). Not quantized: a ``ConfigError``.
    """
    path = Path(path)
    ours = path / QUANT_CONFIG_FILE
    if ours.is_file():
        return dict(json.loads(ours.read_text(encoding="utf-8")))
    try:
        hf = json.loads((path / "config.json").read_text(encoding="utf-8")).get("quantization_config")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no config.json, not a model directory") from None
    if not hf:
        raise ConfigError(f"{path}: the model is not quantized (no quantization_config in config.json)")
    method = str(hf.get("quant_method", "unknown"))
    params: dict[str, Any] = {"bits": hf.get("bits"), "group_size": hf.get("group_size")}
    if method == "compressed-tensors":
        recipe = path / "recipe.yaml"
        text = recipe.read_text(encoding="utf-8") if recipe.is_file() else ""
        method = "awq" if "AWQModifier" in text else "gptq" if "GPTQModifier" in text else "compressed-tensors"
        groups: dict[str, Any] = hf.get("config_groups") or {}
        first: dict[str, Any] = next(iter(groups.values()), {})
        weights: dict[str, Any] = first.get("weights") or {}
        params = {
            "bits": weights.get("num_bits"),
            "group_size": weights.get("group_size"),
            "symmetric": weights.get("symmetric"),
        }
    return {"quant_method": method, **params, "format": hf.get("format", method)}


def load_quantized(path: str | Path, device: str | None = None) -> Any:
    """Load a quantized model with transformers (spec 6.4); the method is detected from its config.

    compressed-tensors checkpoints (ours, and llm-compressor's) load on CPU or GPU; AutoAWQ /
    AutoGPTQ checkpoints need their CUDA engines.
    """
    info = get_quantization_config(path)
    fmt = info.get("format")
    if (
        info["quant_method"] in ("awq", "gptq")
        and fmt in ("awq", "gptq")
        and not (AUTOAWQ_AVAILABLE or AUTOGPTQ_AVAILABLE)
    ):
        raise LargeForgeError(
            f"{path}: a {fmt.upper()} checkpoint from AutoAWQ/AutoGPTQ needs those CUDA "
            "engines; re-quantize with `largeforge quant` for a portable checkpoint"
        )
    import torch
    from transformers import AutoModelForCausalLM

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForCausalLM.from_pretrained(path, device_map=device)
    model.eval()
    return model
