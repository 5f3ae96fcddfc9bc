"""Models and adapters the llamacpp backend serves after converting them to GGUF once.

A Hugging Face model directory (or an alias / hub id that resolves to one) becomes a GGUF file of
``gguf_type`` (f16 by default: it keeps the model's answers), and a PEFT LoRA adapter a GGUF LoRA
adapter, by the ``gguf`` quantizer that largeforge-quant registers with the core (llama.cpp's own
converters). The files are kept under ``$LARGEFORGE_HOME/gguf/`` in a folder named by a hash of
the source's content (every file of the directory: weights, config, tokenizer) and the type, so a
second start with the same model reuses the file, and a retrained model gets a new one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from largeforge.cli.output import print_info
from largeforge.errors import ConfigError, RegistryError
from largeforge.models import resolve_model
from largeforge.models.paths import largeforge_home
from largeforge.plugins import registries
from largeforge.utils.io import atomic_write
from largeforge.utils.llamacpp import find_converter
from largeforge.utils.logging import get_logger

log = get_logger(__name__)

#: Bumped when the conversion itself changes, so older cached files are not reused.
CONVERSION_VERSION = "1"
#: The types llama.cpp's LoRA converter writes.
ADAPTER_TYPES = ("f32", "f16", "bf16", "q8_0")
QUANT_HINT = "converting to GGUF needs largeforge-quant: pip install 'largeforge-core[quant]'"


def gguf_cache() -> Path:
    """Where converted GGUF files are kept (``$LARGEFORGE_HOME/gguf``)."""
    return largeforge_home() / "gguf"


def _file_digest(path: Path, memo: dict[str, str]) -> str:
    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    if key not in memo:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        memo[key] = digest.hexdigest()
    return memo[key]


def content_key(directory: Path, *extra: str) -> str:
    """A hash of every file directly in ``directory`` (names and bytes; the converters read no
    sub-folder) and ``extra``. Each file's digest is remembered by path, size and modification
    time, so a second start hashes nothing it has hashed before."""
    memo_file = gguf_cache() / "digests.json"
    try:
        memo: dict[str, str] = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    known = len(memo)
    digest = hashlib.sha256("\0".join((CONVERSION_VERSION, *extra)).encode())
    for file in sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")):
        digest.update(file.name.encode() + b"\0" + _file_digest(file, memo).encode())
    if len(memo) != known:
        memo_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(memo_file, json.dumps(memo))
    return digest.hexdigest()[:20]


def _gguf_quantizer() -> Any:
    try:
        return registries().quantizers.get("gguf")
    except RegistryError:
        raise ConfigError(QUANT_HINT) from None


def model_as_gguf(model: str, gguf_type: str = "f16") -> Path:
    """``model`` (a model directory, alias or hub id) as a GGUF file of ``gguf_type``, converted
    on the first call and found in the cache afterwards."""
    directory = Path(resolve_model(model))
    if not (directory / "config.json").is_file():
        raise ConfigError(f"--model {model}: {directory} is neither a GGUF file nor a model directory with config.json")
    target = gguf_cache() / content_key(directory, "model", gguf_type) / f"model-{gguf_type}.gguf"
    if target.is_file():
        log.info("GGUF of %s: %s (cached)", model, target)
        return target
    quantizer = _gguf_quantizer()(str(directory), type=gguf_type, imatrix="none", eval_samples=0)
    print_info(f"converting {model} to a {gguf_type} GGUF once for llama.cpp (kept in {target.parent})…")
    quantizer.quantize([], target, overwrite=True)
    return target


def adapter_as_gguf(name: str, adapter: str, base: str | None, gguf_type: str = "f16") -> Path:
    """A PEFT LoRA adapter directory as a GGUF LoRA adapter for ``base`` (None: the base its
    ``adapter_config.json`` names), converted on the first call and found in the cache afterwards.
    Its type is ``gguf_type`` where llama.cpp's LoRA converter writes it (f32, f16, bf16, q8_0), else f16."""
    directory = Path(adapter).expanduser()
    if not (directory / "adapter_config.json").is_file():
        raise ConfigError(
            f"--adapter {name}: {adapter} is neither a GGUF adapter nor a PEFT adapter directory (adapter_config.json)"
        )
    outtype = gguf_type if gguf_type in ADAPTER_TYPES else "f16"
    target = gguf_cache() / content_key(directory, "adapter", base or "", outtype) / f"adapter-{outtype}.gguf"
    if target.is_file():
        return target
    print_info(f"converting adapter {name} to a GGUF LoRA adapter once (kept in {target.parent})…")
    _gguf_quantizer().convert_adapter(directory, target, base=base, outtype=outtype, overwrite=True)
    return target


def conversion_ready() -> bool:
    """Whether a model that is not GGUF can be converted here: the ``gguf`` quantizer is
    registered and llama.cpp's converter is installed."""
    return "gguf" in registries().quantizers and find_converter() is not None
