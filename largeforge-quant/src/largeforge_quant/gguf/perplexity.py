"""Perplexity llama.cpp computes for a GGUF file (the bindings), and its tensor types."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from largeforge.utils.llamacpp import weight_repacking
from largeforge_quant.calibration import Sample
from largeforge_quant.gguf.toolchain import import_llama_cpp

_repack_lock = threading.Lock()


@contextmanager
def _repacking(llama_cpp: Any, enabled: bool) -> Iterator[None]:
    """Load models with weight repacking ``enabled`` (see :mod:`largeforge.utils.llamacpp`).
    ``Llama`` has no argument for it, so its default model parameters are wrapped meanwhile."""
    if enabled:
        yield
        return
    raw = llama_cpp.llama_cpp
    with _repack_lock:
        defaults = raw.llama_model_default_params

        def without_repacking() -> Any:
            params = defaults()
            params.use_extra_bufts = False
            return params

        raw.llama_model_default_params = without_repacking
        try:
            yield
        finally:
            raw.llama_model_default_params = defaults


def gguf_perplexity(path: Path, samples: list[Sample], max_length: int = 512, threads: int | None = None) -> float:
    """Perplexity llama.cpp computes for ``path`` on the completions of ``samples`` (the
    prompt is context, not scored), as ``largeforge quant``'s report does for GPTQ/AWQ."""
    import numpy as np

    llama_cpp = import_llama_cpp()
    with _repacking(llama_cpp, weight_repacking()):
        llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=max_length + 8,
            n_batch=max_length + 8,
            logits_all=True,
            verbose=False,
            n_threads=threads or max(1, (os.cpu_count() or 2) // 2),
        )
    nll, count = 0.0, 0
    try:
        for sample in samples:
            ids = llm.tokenize(sample.text.encode(), add_bos=False, special=True)[:max_length]
            context = len(llm.tokenize(sample.prompt.encode(), add_bos=False, special=True)) if sample.prompt else 0
            context = max(context, 1)
            if len(ids) - context < 1:
                continue
            llm.reset()
            llm.eval(ids)
            logits = np.asarray(llm.scores[context - 1 : len(ids) - 1], dtype=np.float64)
            top = logits.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
            targets = np.asarray(ids[context:])
            nll += float((log_norm - logits[np.arange(len(targets)), targets]).sum())
            count += len(targets)
    finally:
        llm.close()
    if count == 0:
        raise ValueError("no held-out tokens to score")
    return math.exp(nll / count)


def tensor_type_counts(path: Path) -> dict[str, int]:
    """How many tensors of ``path`` have each GGML type (``{"IQ4_NL": 150, "Q4_K": 18, …}``)."""
    from collections import Counter

    from gguf import GGUFReader

    return dict(Counter(t.tensor_type.name for t in GGUFReader(path).tensors).most_common())
