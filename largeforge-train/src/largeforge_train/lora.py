"""LoRA utilities over PEFT: target modules, recommended configs, setup, merge.

Adapters are written by PEFT's ``save_pretrained`` (``adapter_config.json`` +
``adapter_model.safetensors``), the layout vLLM's ``--lora-modules`` and ``PeftModel`` load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from largeforge.config import LoRAConfig
from largeforge.errors import ConfigError, ModelSourceError
from largeforge.models import resolve_model
from largeforge.models.embedded import portable_ref
from largeforge.utils.io import atomic_write
from largeforge.utils.logging import get_logger

if TYPE_CHECKING:
    from peft import LoraConfig, PeftModel

logger = get_logger(__name__)

# Attention projections per architecture family; matched on the model type or name.
_TARGETS: tuple[tuple[tuple[str, ...], list[str]], ...] = (
    (("llama", "smollm", "mistral", "mixtral", "qwen", "gemma", "phi3"), ["q_proj", "k_proj", "v_proj", "o_proj"]),
    (("gpt2", "gpt-2", "gpt_neo", "gpt-neo", "gptneo"), ["c_attn", "c_proj"]),
    (("falcon",), ["query_key_value", "dense"]),
)
_DEFAULT_TARGETS = ["q_proj", "v_proj"]
_RECOMMENDED = {"small": (4, 8), "medium": (8, 16), "large": (16, 32)}


def get_target_modules(model_name: str) -> list[str]:
    """Attention modules to adapt for ``model_name`` (a name, path or ``model_type``).

    Llama-family models (SmolLM, Mistral, Qwen...) get q/k/v/o; GPT-2/GPT-Neo ``c_attn``/``c_proj``;
    Falcon ``query_key_value``/``dense``; anything else q/v.
    """
    key = model_name.lower()
    config_file = Path(model_name) / "config.json"
    if config_file.is_file():  # a local model directory: its config names the architecture
        key = str(json.loads(config_file.read_text()).get("model_type", key)).lower()
    for names, targets in _TARGETS:
        if any(name in key for name in names):
            return list(targets)
    return list(_DEFAULT_TARGETS)


def get_recommended_config(model_size: str) -> LoRAConfig:
    """Recommended LoRA rank for a model size: ``small`` (<3B), ``medium`` (3–13B), ``large``."""
    if model_size not in _RECOMMENDED:
        raise ConfigError(f"model_size {model_size!r}: expected one of {', '.join(_RECOMMENDED)}")
    r, alpha = _RECOMMENDED[model_size]
    return LoRAConfig(r=r, lora_alpha=alpha)


def resolve_target_modules(config: LoRAConfig, model_name: str) -> list[str] | str:
    """``config.target_modules`` with ``"auto"`` replaced by :func:`get_target_modules`."""
    if config.target_modules == "auto" or config.target_modules == ["auto"]:
        return get_target_modules(model_name)
    return config.target_modules


def get_peft_config(config: LoRAConfig, model_name: str = "") -> LoraConfig:
    """PEFT's ``LoraConfig`` for our :class:`LoRAConfig` (every field mapped)."""
    from peft import LoraConfig  # heavy: imported where used

    return LoraConfig(
        r=config.r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=resolve_target_modules(config, model_name),
        bias=config.bias,
        task_type=config.task_type,
    )


def setup_lora(model: Any, config: LoRAConfig) -> PeftModel:
    """Wrap ``model`` with a fresh LoRA adapter (``peft.get_peft_model``)."""
    from peft import get_peft_model  # heavy: imported where used

    name = getattr(model.config, "model_type", "") or ""
    peft_model = get_peft_model(model, get_peft_config(config, name))
    print_trainable_parameters(peft_model)
    return peft_model


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def print_trainable_parameters(model: Any) -> str:
    """Log (and return) trainable / total parameters and the trainable share."""
    trainable, total = count_parameters(model)
    share = 100 * trainable / max(total, 1)
    line = f"trainable params: {trainable:,} || all params: {total:,} || trainable%: {share:.4f}"
    logger.info(line)
    return line


def is_adapter_dir(path: str | Path) -> bool:
    """Whether ``path`` holds a PEFT adapter (rather than a full model)."""
    return (Path(path) / "adapter_config.json").is_file()


def adapter_base_model(adapter_path: str | Path) -> str:
    """The base model an adapter was trained on (``base_model_name_or_path``)."""
    config = json.loads((Path(adapter_path) / "adapter_config.json").read_text())
    base = config.get("base_model_name_or_path")
    if not base:
        raise ModelSourceError(f"{adapter_path}: adapter_config.json names no base model; pass --base")
    return str(base)


def name_base_portably(adapter_path: str | Path) -> None:
    """Rewrite the adapter's ``base_model_name_or_path`` portably: PEFT writes the directory the
    base loaded from (for the embedded model an absolute path into this machine's cache); an
    embedded model is named by its hub id instead, which LargeForge resolves offline to the same
    converted copy and PEFT/transformers elsewhere to the hub's model."""
    path = Path(adapter_path) / "adapter_config.json"
    if not path.is_file():
        return
    config = json.loads(path.read_text())
    base = config.get("base_model_name_or_path")
    if base and portable_ref(base) != base:
        config["base_model_name_or_path"] = portable_ref(base)
        atomic_write(path, json.dumps(config, indent=2, sort_keys=True) + "\n")


def load_merged(adapter_path: str | Path, base_model: str | None = None, torch_dtype: Any = None) -> Any:
    """Load ``base_model`` (default: the adapter's own) with the adapter merged into its weights."""
    from peft import PeftModel  # heavy: imported where used
    from transformers import AutoModelForCausalLM  # heavy: imported where used

    base_dir = resolve_model(base_model or adapter_base_model(adapter_path))
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch_dtype)
    return PeftModel.from_pretrained(model, str(adapter_path)).merge_and_unload()


def merge_lora(model_path: str | None, adapter_path: str, output_path: str, torch_dtype: str = "float32") -> Path:
    """Merge ``adapter_path`` into ``model_path`` (default: the adapter's base) and save an
    ordinary model directory (safetensors + tokenizer) at ``output_path``."""
    import torch  # heavy: imported where used
    from transformers import AutoTokenizer  # heavy: imported where used

    if not is_adapter_dir(adapter_path):
        raise ModelSourceError(f"{adapter_path}: not a LoRA adapter directory (no adapter_config.json)")
    dtype = getattr(torch, torch_dtype)
    model = load_merged(adapter_path, model_path, dtype)
    _, total = count_parameters(model)
    logger.info("merged %s into %s (%s parameters)", adapter_path, model_path or "its base model", f"{total:,}")
    out = Path(output_path)
    model.save_pretrained(out)
    tokenizer_source = (
        adapter_path
        if (Path(adapter_path) / "tokenizer_config.json").is_file()
        else resolve_model(model_path or adapter_base_model(adapter_path))
    )
    AutoTokenizer.from_pretrained(tokenizer_source).save_pretrained(out)
    return out


def unload_lora(model: PeftModel) -> Any:
    """The base model with every adapter removed, without merging."""
    return model.unload()


def list_adapters(model: PeftModel) -> list[str]:
    """Names of the adapters loaded on ``model``."""
    return list(getattr(model, "peft_config", {}).keys())


def load_adapter(model: PeftModel, adapter_path: str, adapter_name: str) -> PeftModel:
    """Load another adapter onto ``model`` under ``adapter_name`` (switch with ``set_adapter``)."""
    if adapter_name in list_adapters(model):
        raise ConfigError(f"an adapter named {adapter_name!r} is already loaded")
    model.load_adapter(adapter_path, adapter_name=adapter_name)
    return model
