"""Choosing the next token of one sequence from its logits (repetition penalty, temperature,
top-k, top-p, seed). Per row, so every request in a batch keeps its own settings.

Numerically safe for every setting the API accepts: a temperature below
:data:`GREEDY_TEMPERATURE` is greedy (dividing by 1e-300 overflows float32), logits are shifted
so the best is 0 before scaling (no ``inf``), and top-p always keeps the most likely token
(a ``top_p`` of 1e-45 is 0 in float32 and would otherwise mask every token).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from largeforge_serve.engines.base import SamplingParams

#: Temperatures below this act as greedy decoding (vLLM's ``_SAMPLING_EPS``).
GREEDY_TEMPERATURE = 1e-5


class Sampler:
    """Samples tokens for one request; a seeded request gets its own generator (reproducible)."""

    def __init__(self, params: SamplingParams) -> None:
        self.params = params
        self.generator: torch.Generator | None = None
        if params.seed is not None and params.temperature >= GREEDY_TEMPERATURE:
            self.generator = torch.Generator().manual_seed(params.seed)

    def __call__(self, logits: torch.Tensor, seen: list[int]) -> int:
        """The next token id, given the row's logits ``(vocab,)`` and the ids seen so far."""
        p = self.params
        logits = logits.float()
        if p.repetition_penalty != 1.0 and seen:
            # Same rule as transformers' RepetitionPenaltyLogitsProcessor (CTRL paper).
            ids = torch.tensor(seen, dtype=torch.long).unique()
            picked = logits[ids]
            logits = logits.clone()
            logits[ids] = torch.where(picked < 0, picked * p.repetition_penalty, picked / p.repetition_penalty)
        if p.temperature < GREEDY_TEMPERATURE:
            return int(torch.argmax(logits))
        # Shift first: the best logit becomes exactly 0, so scaling cannot overflow to inf and
        # at least one token keeps a finite score.
        logits = (logits - logits.max()) / p.temperature
        # Filter top-k first so top-p sorts k candidates instead of the whole vocabulary.
        if 0 < p.top_k < logits.shape[-1]:
            values, indices = torch.topk(logits, p.top_k)
        else:
            values, indices = torch.sort(logits, descending=True)
        probs = torch.softmax(values, dim=-1)
        if p.top_p < 1.0:
            cumulative = torch.cumsum(probs, dim=-1)
            keep = (cumulative - probs) < p.top_p
            keep[0] = True  # the most likely token, whatever float32 makes of a tiny top_p
            probs = probs * keep
        choice = torch.multinomial(probs, 1, generator=self.generator)
        return int(indices[choice])
