"""A request as the batching scheduler holds it: queued (:class:`GenerationTask`) and running
(:class:`RunningRequest`: its sampler, detokenizer, stop matcher and events)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from largeforge.utils.logging import get_logger
from largeforge_serve.engines.base import Fault, FinishReason, SamplingParams, StreamEvent, TokenLogprobs
from largeforge_serve.engines.detok import IncrementalDetokenizer, StopMatcher
from largeforge_serve.engines.sampling import Sampler

log = get_logger(__name__)


@dataclass
class GenerationTask:
    """One queued request: its prompt ids, settings and where its events go.

    ``sink`` is called from the worker thread; it must not block.
    """

    prompt_ids: list[int]
    params: SamplingParams
    sink: Callable[[StreamEvent], None]
    max_len: int
    adapter: str | None = None
    request_id: str | None = None
    cancelled: bool = field(default=False, init=False)

    def cancel(self) -> None:
        """Ask the worker to drop this request at its next step (frees the slot)."""
        self.cancelled = True


class RunningRequest:
    """A running request: sampler, detokenizer, stop matcher and its position in the batch."""

    def __init__(self, task: GenerationTask, tokenizer: Any, eos_ids: frozenset[int]) -> None:
        self.task = task
        self.sampler = Sampler(task.params)
        self.detok = IncrementalDetokenizer(tokenizer)
        self.stops = StopMatcher(task.params.stop)
        self.eos_ids = eos_ids
        self.seen = list(task.prompt_ids)  # for the repetition penalty
        self.generated = 0
        self.position = len(task.prompt_ids)  # position id of the next input token
        self.next_token = -1
        self.started = time.monotonic()
        self.tokenizer = tokenizer
        self.logprobs: list[TokenLogprobs] = []  # computed, not yet sent with an event

    def record_logprobs(self, logits: torch.Tensor, token: int) -> None:
        """Note ``token``'s log probability and the top alternatives (raw logits, as vLLM)."""
        top = self.task.params.logprobs
        if top is None or token in self.eos_ids:
            return
        logp = torch.log_softmax(logits.float(), dim=-1)
        values, ids = torch.topk(logp, top) if top else (logp[:0], logp[:0].long())
        text = self.tokenizer.decode
        # -inf is not JSON: clamped as vLLM does
        self.logprobs.append(
            TokenLogprobs(
                text([token]),
                max(float(logp[token]), -9999.0),
                [(text([int(i)]), max(float(v), -9999.0)) for v, i in zip(values, ids, strict=True)],
            )
        )

    def emit(
        self, text: str, finish: FinishReason | None = None, error: str | None = None, fault: Fault | None = None
    ) -> None:
        """Send ``text`` (and the finish reason or error, if any) to the request's sink as one event."""
        if not text and finish is None:
            return
        logprobs, self.logprobs = (self.logprobs or None), []
        event = StreamEvent(text, len(self.task.prompt_ids), self.generated, finish, error, fault, logprobs)
        try:
            self.task.sink(event)
        except Exception:  # a dead consumer must not stop the batch
            log.debug("event sink failed", exc_info=True)

    def fail(self, error: str, fault: Fault) -> None:
        """End this request with an error event."""
        self.emit("", "error", error, fault)

    def accept(self, token: int) -> bool:
        """Take the sampled token; emit its text; return True when the request is finished."""
        params = self.task.params
        if token in self.eos_ids:
            self.emit(self.stops.flush(), "stop")
            return True
        self.generated += 1
        self.seen.append(token)
        self.next_token = token
        text, stopped = self.stops.feed(self.detok.add(token))
        if stopped:
            self.emit(text, "stop")
            return True
        if self.generated >= params.max_tokens or self.position + 1 >= self.task.max_len:
            self.emit(text + self.stops.flush(), "length")
            return True
        self.emit(text)
        return False
