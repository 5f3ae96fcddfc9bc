"""What the llama.cpp backend checks in GGUF files before it starts a server.

A model or adapter that cannot work should fail in one line naming the file, not after a server
has started and printed a page of C++ logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from largeforge.errors import ConfigError

GGUF_MAGIC = b"GGUF"


def is_gguf(path: Path) -> bool:
    """Whether ``path`` is a file that starts with the GGUF magic."""
    try:
        with path.open("rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


@dataclass(frozen=True)
class GGUFInfo:
    """The metadata of a GGUF file the backend needs."""

    path: Path
    kind: str  # "model" or "adapter"
    architecture: str
    context_length: int | None
    #: Tensor name → shape (GGUF order: innermost dimension first).
    shapes: dict[str, tuple[int, ...]]
    lora_alpha: float | None = None


def _field(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    return None if field is None else field.contents()


def read_gguf(path: str | Path, *, what: str = "model") -> GGUFInfo:
    """Read ``path``'s metadata; a ConfigError naming ``what`` and the file when it is not GGUF."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path}: no such file")
    if not is_gguf(path):
        raise ConfigError(
            f"{what} {path} is not a GGUF file (the llamacpp backend serves GGUF; make one "
            f"with `largeforge quant gguf --model DIR --output FILE.gguf`)"
        )
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
    except Exception as exc:  # a truncated or corrupt file
        raise ConfigError(f"{what} {path} is not a readable GGUF file: {exc}") from None
    architecture = str(_field(reader, "general.architecture") or "")
    kind = str(_field(reader, "general.type") or "model")
    context = _field(reader, f"{architecture}.context_length")
    shapes = {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}
    alpha = _field(reader, "adapter.lora.alpha")
    return GGUFInfo(
        path,
        kind,
        architecture,
        int(context) if context is not None else None,
        shapes,
        float(alpha) if alpha is not None else None,
    )


def check_adapter(base: GGUFInfo, adapter: GGUFInfo, name: str) -> None:
    """Refuse an adapter that is not a LoRA adapter for ``base`` (architecture and every shape)."""
    if adapter.kind != "adapter":
        raise ConfigError(
            f"--adapter {name}: {adapter.path} is a GGUF {adapter.kind}, not a LoRA adapter "
            f"(convert a PEFT adapter with `largeforge quant gguf --adapter DIR --base BASE`)"
        )
    if adapter.architecture != base.architecture:
        raise ConfigError(
            f"--adapter {name}: {adapter.path} is for a {adapter.architecture!r} model, "
            f"but {base.path} is {base.architecture!r}"
        )
    for tensor, shape in adapter.shapes.items():
        target, _, part = tensor.rpartition(".lora_")
        base_shape = base.shapes.get(target)
        if base_shape is None:
            raise ConfigError(
                f"--adapter {name}: {adapter.path} adapts {target}, which {base.path} does not have "
                f"(made for another base model)"
            )
        # lora_a: (in, r); lora_b: (r, out) in GGUF order; base weight: (in, out).
        expected = base_shape[0] if part == "a" else base_shape[-1]
        got = shape[0] if part == "a" else shape[-1]
        if got != expected:
            raise ConfigError(
                f"--adapter {name}: {adapter.path} was made for another base model "
                f"({target}: adapter width {got}, model width {expected})"
            )
