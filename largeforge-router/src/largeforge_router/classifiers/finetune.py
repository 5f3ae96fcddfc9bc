"""Few-shot fine-tuning of the MiniLM's top layers on the router's labelled examples.

The frozen MiniLM puts "How do I write a regex for a zip code?" nearer to arithmetic than to
code: its sentence space was not trained for these experts. A few epochs of classification
fine-tuning (a cosine classifier over the mean-pooled, normalised embedding, cross-entropy)
reshape it, as SetFit's contrastive step does, at a fraction of the cost. A supervised
contrastive term (Khosla et al. 2020) is implemented but off (:data:`CONTRASTIVE_WEIGHT` 0):
``benchmarks/router_contrastive.py`` found that it lowered the training side's cross-validation
on all three labelled sets and did not help on the one never tuned on. Only the top
:data:`TUNED_LAYERS` transformer layers learn, so the frozen layers below run once per text
(their hidden states are cached by :class:`Tuner`) and a fit takes seconds on one CPU core.

A tuned encoder is a copy of the base model with its top layers replaced; only those layers'
weights are stored (a few MB), in the LargeForge cache keyed by the training texts, labels,
settings and base model, so a router restarted on the same data does not fine-tune again.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from largeforge.models.paths import largeforge_home
from largeforge.utils.logging import get_logger

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import torch

logger = get_logger("largeforge.router.finetune")

TUNED_LAYERS = 4
EPOCHS = 4
LEARNING_RATE = 5e-5
#: the cosine classifier's class vectors learn faster than the pretrained layers
HEAD_LEARNING_RATE = 1e-2
BATCH = 16
#: logit scale of the cosine classifier (cosines are in [-1, 1])
SCALE = 20.0
#: weight and temperature of the supervised contrastive term (0.07: the SupCon paper's default);
#: off, see the module docstring
CONTRASTIVE_WEIGHT = 0.0
CONTRASTIVE_TEMPERATURE = 0.07
#: At most this many texts per expert are fine-tuned on (a seeded sample); the head still
#: learns from all of them. Bounds start-up time when a forge pipeline hands over hundreds.
MAX_PER_LABEL = 64
CACHE_VERSION = 1
#: Tuned-layer files kept in the cache (28 MB each, four per training set: three
#: cross-validation folds and the final fit); the least recently used go first.
CACHE_ENTRIES = 32


def settings() -> dict[str, Any]:
    """The fine-tuning settings (part of the cache key)."""
    return {
        "layers": TUNED_LAYERS,
        "epochs": EPOCHS,
        "lr": LEARNING_RATE,
        "head_lr": HEAD_LEARNING_RATE,
        "batch": BATCH,
        "scale": SCALE,
        "contrastive_weight": CONTRASTIVE_WEIGHT,
        "contrastive_temperature": CONTRASTIVE_TEMPERATURE,
        "max_per_label": MAX_PER_LABEL,
        "version": CACHE_VERSION,
    }


def cache_dir() -> Path:
    """Where tuned layers are kept: ``$LARGEFORGE_HOME/router/tuned``."""
    return largeforge_home() / "router" / "tuned"


def _layers(encoder: Any) -> Any:
    return encoder[0].auto_model.encoder.layer


class Tuner:
    """Fine-tunes copies of ``base`` on subsets of ``texts``, running the frozen layers once.

    ``texts`` are every text the classifier learns from; :meth:`tune` takes the indices of the
    ones a given fit may see (a cross-validation fold leaves some queries out) and
    :meth:`embed` embeds any rows through given tuned layers, both from the cached hidden states.
    """

    def __init__(self, base: Any, texts: Sequence[str], *, model_key: str, seed: int = 0) -> None:
        import torch  # heavy: imported where used

        self.base, self.texts, self.model_key, self.seed = base, list(texts), model_key, seed
        self.bert = base[0].auto_model
        self.split = len(_layers(base)) - TUNED_LAYERS
        self.hidden: list[torch.Tensor] = []
        with torch.inference_mode():
            for start in range(0, len(self.texts), 64):
                features = (getattr(base, "preprocess", None) or base.tokenize)(self.texts[start : start + 64])
                out = self.bert(
                    input_ids=features["input_ids"],
                    attention_mask=features["attention_mask"],
                    token_type_ids=features.get("token_type_ids"),
                    output_hidden_states=True,
                )
                for row, mask in zip(out.hidden_states[self.split], features["attention_mask"], strict=True):
                    self.hidden.append(row[: int(mask.sum())].clone())

    def _forward(self, layers: Any, rows: Sequence[int]) -> torch.Tensor:
        """Normalised mean-pooled embeddings of ``rows`` through ``layers`` (the top layers)."""
        import torch  # heavy: imported where used
        from transformers.masking_utils import create_bidirectional_mask  # heavy: imported where used

        states = [self.hidden[i] for i in rows]
        width = max(s.shape[0] for s in states)
        x = torch.zeros(len(states), width, states[0].shape[1])
        mask = torch.zeros(len(states), width, dtype=torch.long)
        for i, s in enumerate(states):
            x[i, : s.shape[0]], mask[i, : s.shape[0]] = s, 1
        attention = create_bidirectional_mask(config=self.bert.config, inputs_embeds=x, attention_mask=mask)
        for layer in layers:
            x = layer(x, attention_mask=attention)
            x = x[0] if isinstance(x, tuple) else x
        weights = mask.unsqueeze(-1).to(x.dtype)
        return torch.nn.functional.normalize((x * weights).sum(1) / weights.sum(1), dim=-1)

    def embed(self, state: dict[str, torch.Tensor], rows: Sequence[int]) -> np.ndarray:
        """Embeddings of ``rows`` with the top layers set to ``state``."""
        import torch  # heavy: imported where used

        layers = self._top(state)
        out = []
        with torch.inference_mode():
            for start in range(0, len(rows), 64):
                out.append(self._forward(layers, rows[start : start + 64]).numpy())
        return np.concatenate(out).astype(np.float32)

    def _top(self, state: dict[str, torch.Tensor] | None = None) -> Any:
        layers = copy.deepcopy(_layers(self.base)[self.split :])
        if state is not None:
            layers.load_state_dict(state)
        return layers

    def key(self, rows: Sequence[int], y: np.ndarray) -> str:
        """Cache key of a fit on ``rows`` with labels ``y``."""
        payload = json.dumps(
            {
                "model": self.model_key,
                "seed": self.seed,
                "settings": settings(),
                "rows": [[self.texts[i], int(label)] for i, label in zip(rows, y, strict=True)],
            }
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def tune(self, rows: Sequence[int], y: np.ndarray, n_labels: int) -> dict[str, torch.Tensor]:
        """Top-layer weights fine-tuned on ``rows`` (labels ``y``), from the cache when present."""
        from safetensors.torch import load_file, save_file  # heavy: imported where used

        rows, y = _sample(list(rows), np.asarray(y), self.seed)
        path = cache_dir() / f"{self.key(rows, y)}.safetensors"
        if path.is_file():
            try:
                state = load_file(str(path))
                path.touch()  # recently used: pruned last
                return state
            except Exception as exc:  # a truncated or foreign file: tune again and overwrite
                logger.warning(
                    "unreadable tuned-layer cache, tuning again", extra={"path": str(path), "error": str(exc)}
                )
        state = self._train(rows, y, n_labels)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file(state, str(tmp))
        tmp.replace(path)
        _prune(path.parent, CACHE_ENTRIES)
        return state

    def _train(self, rows: list[int], y: np.ndarray, n_labels: int) -> dict[str, torch.Tensor]:
        import torch  # heavy: imported where used

        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        layers = self._top()
        targets = torch.as_tensor(y, dtype=torch.long)
        with torch.no_grad():  # class vectors start at the label centroids
            start = self._forward(layers, rows)
            centroids = torch.stack(
                [
                    start[targets == k].mean(0) if (targets == k).any() else torch.zeros(start.shape[1])
                    for k in range(n_labels)
                ]
            )
        classes = torch.nn.Parameter(torch.nn.functional.normalize(centroids, dim=-1))
        optimiser = torch.optim.AdamW(
            [{"params": layers.parameters(), "lr": LEARNING_RATE}, {"params": [classes], "lr": HEAD_LEARNING_RATE}],
            weight_decay=0.01,
        )
        layers.train()
        for _ in range(EPOCHS):
            order = rng.permutation(len(rows))
            for start_at in range(0, len(order), BATCH):
                batch = order[start_at : start_at + BATCH]
                embeddings = self._forward(layers, [rows[i] for i in batch])
                logits = SCALE * embeddings @ torch.nn.functional.normalize(classes, dim=-1).T
                loss = torch.nn.functional.cross_entropy(logits, targets[batch])
                if CONTRASTIVE_WEIGHT:
                    loss = loss + CONTRASTIVE_WEIGHT * supervised_contrastive(
                        embeddings, targets[batch], CONTRASTIVE_TEMPERATURE
                    )
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        layers.eval()
        return {name: value.detach().clone().contiguous() for name, value in layers.state_dict().items()}


def supervised_contrastive(embeddings: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss of normalised ``embeddings`` in one batch: for each row with
    another row of its label, the mean negative log-probability of picking those rows among
    all the others by cosine similarity / ``temperature``. Zero when no row has a partner."""
    import torch  # heavy: imported where used

    eye = torch.eye(len(targets), dtype=torch.bool)
    similarity = (embeddings @ embeddings.T / temperature).masked_fill(eye, float("-inf"))
    log_p = similarity - torch.logsumexp(similarity, dim=1, keepdim=True)
    positive = (targets[:, None] == targets[None, :]) & ~eye
    has_partner = positive.any(dim=1)
    if not has_partner.any():
        return embeddings.sum() * 0.0
    per_row = -(log_p.masked_fill(~positive, 0.0)).sum(dim=1)[has_partner] / positive.sum(dim=1)[has_partner]
    return per_row.mean()


def _prune(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` most recently used tuned-layer files in ``folder``."""
    files = sorted(folder.glob("*.safetensors"), key=lambda f: f.stat().st_mtime, reverse=True)
    for stale in files[keep:]:
        stale.unlink(missing_ok=True)


def _sample(rows: list[int], y: np.ndarray, seed: int) -> tuple[list[int], np.ndarray]:
    """At most :data:`MAX_PER_LABEL` rows per label (seeded, order kept)."""
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for label in np.unique(y):
        at = np.flatnonzero(y == label)
        keep.extend(int(i) for i in (at if len(at) <= MAX_PER_LABEL else rng.choice(at, MAX_PER_LABEL, replace=False)))
    order = sorted(keep)
    return [rows[i] for i in order], y[order]


def tuned_encoder(base: Any, state: dict[str, torch.Tensor]) -> Any:
    """A copy of the ``SentenceTransformer`` ``base`` with its top layers set to ``state``."""
    encoder = copy.deepcopy(base)
    layers = _layers(encoder)
    layers[len(layers) - TUNED_LAYERS :].load_state_dict(state)
    encoder.eval()
    return encoder
