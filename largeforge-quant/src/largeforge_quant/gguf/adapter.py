"""A PEFT LoRA adapter → a GGUF LoRA adapter, by llama.cpp's own ``convert_lora_to_gguf.py``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from largeforge.errors import ConfigError
from largeforge_quant.gguf.convert import gguf_output_file
from largeforge_quant.gguf.toolchain import converter_script, run


def convert_adapter(
    adapter_dir: str | Path,
    output: str | Path,
    *,
    base: str | Path | None = None,
    outtype: str = "f16",
    overwrite: bool = False,
) -> Path:
    """A PEFT LoRA adapter directory → a GGUF LoRA adapter (llama.cpp's convert_lora_to_gguf.py).

    ``base`` is the base model (alias, directory, hub id); by default the one the adapter's
    ``adapter_config.json`` names.
    """
    from largeforge.models import resolve_model

    adapter = Path(adapter_dir).expanduser()
    config_file = adapter / "adapter_config.json"
    if not config_file.is_file():
        raise ConfigError(f"--adapter {adapter}: no adapter_config.json (a PEFT LoRA adapter directory is needed)")
    if outtype not in ("f32", "f16", "bf16", "q8_0"):
        raise ConfigError(f"a GGUF adapter is f32, f16, bf16 or q8_0, not {outtype!r}")
    base_ref = base or json.loads(config_file.read_text()).get("base_model_name_or_path")
    if not base_ref:
        raise ConfigError(f"--adapter {adapter}: its adapter_config.json names no base model; pass --base")
    base_dir = resolve_model(str(base_ref))
    target = gguf_output_file(output)
    if target.exists() and not overwrite:
        raise ConfigError(f"output {target} already exists: choose another path or pass --overwrite")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    run(
        [
            sys.executable,
            str(converter_script("convert_lora_to_gguf.py")),
            str(adapter),
            "--outfile",
            str(partial),
            "--outtype",
            outtype,
            "--base",
            str(base_dir),
        ],
        f"convert_lora_to_gguf.py on {adapter}",
    )
    os.replace(partial, target)
    return target
