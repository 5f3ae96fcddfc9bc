"""PEFT LoRA adapters as vLLM takes them: their rank, and the zero adapter the base model is
served through on a CPU.

vLLM 0.32's CPU LoRA kernels get the rows without an adapter wrong when they share a batch with
rows that have one: a base-model request decoded beside adapter requests comes out with (some of)
another adapter's output; adapter requests are right. LargeForge therefore serves the base model
of a server that has adapters through an adapter whose weights are all zero (exactly the base
model's output), so that every row of every batch has an adapter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from largeforge.errors import ConfigError

#: The ranks vLLM accepts for ``--max-lora-rank``.
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``; ConfigError (naming ``what``) when it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what}: {path} is not a JSON object")
    return data


def lora_rank(adapter: Path, name: str) -> int:
    """The rank of the PEFT LoRA adapter in ``adapter`` (ConfigError when it is not one)."""
    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"--adapter {name}: {adapter} has no adapter_config.json (not a PEFT adapter)")
    config = read_json(adapter / "adapter_config.json", f"--adapter {name}")
    if config.get("peft_type", "LORA") != "LORA":
        raise ConfigError(f"--adapter {name}: vLLM serves LoRA adapters, {adapter} is {config['peft_type']}")
    if not (adapter / "adapter_model.safetensors").is_file():
        raise ConfigError(f"--adapter {name}: {adapter} has no adapter_model.safetensors")
    rank = max([int(config.get("r", 8)), *(int(r) for r in (config.get("rank_pattern") or {}).values())])
    if rank > LORA_RANKS[-1]:
        raise ConfigError(f"--adapter {name}: LoRA rank {rank} is above vLLM's maximum {LORA_RANKS[-1]}")
    return rank


def vllm_rank(rank: int) -> int:
    """The smallest ``--max-lora-rank`` vLLM accepts that holds ``rank``."""
    return next(r for r in LORA_RANKS if r >= rank)


def write_zero_adapter(source: Path, target: Path) -> Path:
    """A rank-1 LoRA adapter with ``source``'s target modules and all weights zero, in ``target``."""
    from safetensors.torch import load_file, save_file

    config = read_json(source / "adapter_config.json", "adapter")
    tensors = load_file(str(source / "adapter_model.safetensors"))
    zero = {}
    for key, tensor in tensors.items():
        if "lora_A" in key:
            zero[key] = tensor[:1].clone().zero_()
        elif "lora_B" in key:
            zero[key] = tensor[:, :1].clone().zero_()
    target.mkdir(parents=True, exist_ok=True)
    save_file(zero, str(target / "adapter_model.safetensors"))
    config.update(r=1, lora_alpha=1, rank_pattern={}, alpha_pattern={}, modules_to_save=None)
    (target / "adapter_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return target
