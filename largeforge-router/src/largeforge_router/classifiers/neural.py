"""Neural classifier (spec 5.2): MiniLM sentence embeddings + a trained softmax head.

The encoder stays frozen; the head is a multinomial logistic regression over the normalised
embedding, trained full-batch with a fixed seed, so training takes well under a second for
hundreds of examples and gives the same head every run.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from largeforge.contracts import ClassificationResult
from largeforge.errors import LargeForgeError
from largeforge.utils.logging import get_logger
from largeforge_router.classifiers.embedder import DEFAULT_MODEL, embed

if TYPE_CHECKING:
    import numpy as np

logger = get_logger("largeforge.router.neural")  # under the largeforge logger tree
METHOD = "neural"
HEAD_FILE = "head.pt"
META_FILE = "classifier.json"


class NeuralClassifier:
    """Embed the query with MiniLM and pass it through a classification head.

    Untrained (no head yet), :meth:`classify` answers the fallback expert with confidence 0 and
    uniform scores, so a hybrid classifier falls back on keywords.
    """

    def __init__(self, model_path: str | None = None, experts: list[str] | None = None, *,
                 embedding_model: str = DEFAULT_MODEL, fallback_expert: str = "general",
                 seed: int = 0) -> None:
        self.embedding_model = embedding_model
        self.fallback_expert = fallback_expert
        self.seed = seed
        self.labels: list[str] = list(experts or [])
        self._head: Any = None  # torch.nn.Linear once trained or loaded
        self._lock = threading.Lock()
        if model_path is not None:
            self.load(model_path)

    @property
    def is_trained(self) -> bool:
        """Whether a head is available (trained or loaded)."""
        return self._head is not None

    def train(self, data: list[tuple[str, str]], epochs: int = 300, *, lr: float = 0.05,
              weight_decay: float = 1e-4) -> dict[str, float]:
        """Fit the head on ``(query, expert)`` pairs; returns ``{"loss", "train_accuracy"}``.

        ``epochs`` counts full-batch optimisation steps (the data fits in one batch).
        """
        import torch

        if not data:
            raise LargeForgeError("cannot train the neural classifier on an empty data set")
        labels = sorted({expert for _, expert in data} | set(self.labels))
        if len(labels) < 2:
            raise LargeForgeError(f"training data names only {labels}: need at least two experts")
        index = {name: i for i, name in enumerate(labels)}
        x = torch.from_numpy(embed([q for q, _ in data], self.embedding_model))
        y = torch.tensor([index[e] for _, e in data])
        generator = torch.Generator().manual_seed(self.seed)
        head = torch.nn.Linear(x.shape[1], len(labels))
        with torch.no_grad():
            head.weight.copy_(torch.randn(head.weight.shape, generator=generator) * 0.01)
            head.bias.zero_()
        # Balance classes so an expert with more examples does not soak up the others.
        counts = torch.bincount(y, minlength=len(labels)).clamp(min=1).float()
        loss_fn = torch.nn.CrossEntropyLoss(weight=counts.sum() / (len(labels) * counts))
        optimiser = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
        # Cosine-similarity logits are small; a fixed scale lets the softmax become decisive.
        scale = 10.0
        loss = torch.tensor(0.0)
        for _ in range(epochs):
            optimiser.zero_grad()
            loss = loss_fn(head(x * scale), y)
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            final_loss = float(loss.detach())
            accuracy = float((head(x * scale).argmax(1) == y).float().mean())
            head.weight.mul_(scale)  # fold the scale in: inference is a plain linear layer
        with self._lock:
            self.labels, self._head = labels, head.eval()
        logger.info("neural classifier trained", extra={"examples": len(data), "experts": len(labels),
                                                        "loss": round(final_loss, 4),
                                                        "train_accuracy": round(accuracy, 4)})
        return {"loss": final_loss, "train_accuracy": accuracy}

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Softmax over the experts for a batch of embeddings (rows follow :attr:`labels`)."""
        import torch

        with self._lock:
            head = self._head
        if head is None:
            raise LargeForgeError("the neural classifier is not trained")
        with torch.no_grad():
            return torch.softmax(head(torch.from_numpy(embeddings)), dim=-1).numpy()

    def classify(self, query: str) -> ClassificationResult:
        """Probabilities of every expert for ``query``; confidence is the top probability."""
        if not self.is_trained:
            uniform = 1.0 / len(self.labels) if self.labels else 0.0
            return ClassificationResult(
                expert=self.fallback_expert, confidence=0.0,
                scores=dict.fromkeys(self.labels, uniform), method=METHOD,
                details={"reason": "untrained"})
        probs = self.probabilities(embed([query], self.embedding_model))[0]
        scores = {name: float(p) for name, p in zip(self.labels, probs, strict=True)}
        best = max(scores, key=lambda name: scores[name])
        return ClassificationResult(expert=best, confidence=scores[best], scores=scores, method=METHOD)

    def save(self, path: str | Path) -> Path:
        """Write the head and its expert labels to the directory ``path``."""
        import torch

        from largeforge.utils.io import atomic_write, ensure_dir

        if self._head is None:
            raise LargeForgeError("nothing to save: the neural classifier is not trained")
        path = ensure_dir(path)
        torch.save(self._head.state_dict(), path / HEAD_FILE)
        meta = {"labels": self.labels, "embedding_model": self.embedding_model, "seed": self.seed}
        atomic_write(path / META_FILE, json.dumps(meta, indent=2) + "\n")
        return path

    def load(self, path: str | Path) -> None:
        """Load a head written by :meth:`save`."""
        import torch

        path = Path(path)
        if not (path / META_FILE).is_file() or not (path / HEAD_FILE).is_file():
            raise LargeForgeError(f"{path}: not a saved neural classifier "
                                  f"(expected {META_FILE} and {HEAD_FILE}; run `largeforge router train`)")
        meta = json.loads((path / META_FILE).read_text())
        state = torch.load(path / HEAD_FILE, weights_only=True)
        head = torch.nn.Linear(state["weight"].shape[1], state["weight"].shape[0])
        head.load_state_dict(state)
        with self._lock:
            self.labels, self._head = list(meta["labels"]), head.eval()
            self.embedding_model = meta.get("embedding_model", self.embedding_model)
