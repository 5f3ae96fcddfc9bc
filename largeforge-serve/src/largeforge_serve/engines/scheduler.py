"""Continuous batching: one worker thread decodes every running request together.

Requests wait in a bounded queue. At every step the worker admits waiting requests (up to
``max_batch_size`` running), prefills them as a left-padded batch, merges their KV cache into
the running batch and decodes one token for every running request. A request leaves the batch
as soon as it finishes (EOS, stop sequence, ``max_tokens``, context limit or cancellation), so
its slot is free at the next step. Each request keeps its own sampling settings, stop sequences
and event sink; with PEFT adapters, each row of the batch runs its own adapter.

A failure is kept to the requests it belongs to: a row that fails to sample fails alone (fault
``"request"``); a batched prefill that fails is retried row by row, so only the rows that fail
on their own are failed; only a failed decode forward pass fails the whole batch (``"engine"``).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Any

import torch
from transformers import DynamicCache

from largeforge.utils.logging import get_logger
from largeforge_serve.engines.base import (
    EngineOverloadedError,
    EngineStats,
    Fault,
    StreamEvent,
)
from largeforge_serve.engines.generation_task import GenerationTask, RunningRequest

log = get_logger(__name__)

BASE_ADAPTER = "__base__"  # PEFT's name for "no adapter" in mixed-adapter batches


def check_cache_supported(config: Any) -> None:
    """Raise ``ValueError`` unless every layer of the model's cache is a plain ``DynamicLayer``
    (the batch merges and trims caches along the sequence axis, which sliding-window and
    linear-attention layers do not allow)."""
    from transformers.cache_utils import DynamicLayer

    kinds = {type(layer).__name__ for layer in DynamicCache(config=config).layers}
    if kinds - {DynamicLayer.__name__}:
        raise ValueError(f"the batching engine supports full-attention caches only, not {sorted(kinds)}")


def _pad_left(t: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    missing = size - t.shape[dim]
    if missing <= 0:
        return t
    shape = list(t.shape)
    shape[dim] = missing
    return torch.cat([t.new_zeros(shape), t], dim=dim)


class _Batch:
    """The running rows, their shared KV cache and the attention mask over it (left padding)."""

    def __init__(self) -> None:
        self.rows: list[RunningRequest] = []
        self.cache: DynamicCache | None = None
        self.mask: torch.Tensor | None = None

    def merge(self, rows: list[RunningRequest], cache: DynamicCache, mask: torch.Tensor) -> None:
        """Append freshly prefilled rows, left-padding whichever cache is shorter."""
        if self.cache is None or self.mask is None:
            self.rows, self.cache, self.mask = rows, cache, mask
            return
        size = max(self.mask.shape[1], mask.shape[1])
        layers: list[Any] = self.cache.layers
        new_layers: list[Any] = cache.layers
        for old, new in zip(layers, new_layers, strict=True):
            old.keys = torch.cat([_pad_left(old.keys, size, -2), _pad_left(new.keys, size, -2)])
            old.values = torch.cat([_pad_left(old.values, size, -2), _pad_left(new.values, size, -2)])
        self.mask = torch.cat([_pad_left(self.mask, size, 1), _pad_left(mask, size, 1)])
        self.rows = self.rows + rows

    def keep(self, keep: list[int]) -> None:
        """Keep only rows ``keep``; drop cache columns that are now padding for every row."""
        if len(keep) == len(self.rows):
            return
        if not keep:
            self.rows, self.cache, self.mask = [], None, None
            return
        assert self.cache is not None and self.mask is not None
        index = torch.tensor(keep, dtype=torch.long, device=self.mask.device)
        self.rows = [self.rows[i] for i in keep]
        self.cache.batch_select_indices(index)
        self.mask = self.mask[index]
        first = int(self.mask.any(dim=0).int().argmax())
        if first > 0:
            layers: list[Any] = self.cache.layers
            for layer in layers:
                layer.keys = layer.keys[:, :, first:]
                layer.values = layer.values[:, :, first:]
            self.mask = self.mask[:, first:]


class BatchScheduler:
    """Runs :class:`GenerationTask` s on ``model`` in a background thread, batched step by step.

    ``submit`` raises :class:`EngineOverloadedError` when ``max_queue`` requests already wait.
    ``stop(drain_timeout)`` stops admitting, lets running requests finish for up to
    ``drain_timeout`` seconds, then cancels the rest.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        eos_ids: frozenset[int],
        pad_id: int,
        max_batch_size: int = 8,
        max_queue: int = 64,
        adapters: bool = False,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.pad_id = pad_id
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self.adapters = adapters
        self.device = getattr(model, "device", torch.device("cpu"))
        self._pending: deque[GenerationTask] = deque()
        self._batch = _Batch()
        self._cond = threading.Condition()
        self._accepting = True
        self._halt = False
        self._thread: threading.Thread | None = None
        self._step_seconds = 0.0
        #: moving average of how long a request runs, admission to finish (0: none finished yet)
        self.request_seconds = 0.0
        self._admitting = 0  # popped from the queue, not yet merged into the batch

    # -- control (any thread) ------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="largeforge-batch", daemon=True)
            self._thread.start()

    def submit(self, task: GenerationTask) -> None:
        """Queue ``task``; its events go to ``task.sink`` from the worker thread."""
        with self._cond:
            if not self._accepting:
                raise EngineOverloadedError("the server is shutting down", retry_after=5)
            if len(self._pending) >= self.max_queue:
                raise EngineOverloadedError(
                    f"the server is busy ({len(self._batch.rows)} running, {len(self._pending)} queued); retry later",
                    retry_after=self.retry_after(),
                )
            self._pending.append(task)
            self._cond.notify()

    def stop(self, drain_timeout: float = 0.0) -> None:
        """Stop admitting; finish in-flight requests for up to ``drain_timeout`` s; cancel the rest."""
        deadline = time.monotonic() + drain_timeout
        with self._cond:
            self._accepting = False
            while (self._pending or self._batch.rows) and time.monotonic() < deadline:
                self._cond.wait(timeout=max(0.0, min(0.1, deadline - time.monotonic())))
            self._halt = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def retry_after(self) -> int:
        """Seconds a turned-away client should wait: about the time the queue takes to drain
        (queued requests ÷ batch size × how long a request runs), from 1 to 60."""
        waves = len(self._pending) / max(self.max_batch_size, 1)
        return max(1, min(60, math.ceil(waves * self.request_seconds)))

    def stats(self) -> EngineStats:
        """Running and queued request counts, capacities, and the recent step time."""
        return EngineStats(
            active=len(self._batch.rows) + self._admitting,
            queued=len(self._pending),
            max_active=self.max_batch_size,
            max_queued=self.max_queue,
            step_seconds=self._step_seconds,
        )

    # -- worker thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._batch.rows and not self._halt:
                    self._cond.wait()
                if self._halt:
                    break
                admitted = self._admit()
                self._admitting = len(admitted)
            started = time.perf_counter()
            try:
                if admitted:
                    self._prefill_isolated(admitted)
                if self._batch.rows:
                    self._decode()
            except Exception as exc:  # a failed step fails its requests, never the worker
                log.exception("generation step failed")
                for seq in self._batch.rows + [s for s in admitted if s not in self._batch.rows]:
                    seq.fail(f"generation failed: {exc}", "engine")
                self._batch = _Batch()
                self._admitting = 0
            self._step_seconds = 0.8 * self._step_seconds + 0.2 * (time.perf_counter() - started)
            with self._cond:
                self._cond.notify_all()  # wakes stop() waiting for the batch to drain
        for task in self._pending:
            RunningRequest(task, self.tokenizer, self.eos_ids).emit("", "cancelled")
        self._pending.clear()
        for seq in self._batch.rows:
            seq.emit("", "cancelled")
        self._batch = _Batch()

    def _admit(self) -> list[RunningRequest]:
        """Pop waiting tasks into free slots (called with the lock held)."""
        admitted: list[RunningRequest] = []
        while self._pending and len(self._batch.rows) + len(admitted) < self.max_batch_size:
            task = self._pending.popleft()
            try:
                seq = RunningRequest(task, self.tokenizer, self.eos_ids)
            except Exception as exc:  # e.g. a seed torch rejects: fail this request only
                task.sink(StreamEvent("", len(task.prompt_ids), 0, "error", f"cannot start: {exc}", "request"))
                continue
            if task.cancelled:
                seq.emit("", "cancelled")
            else:
                admitted.append(seq)
        return admitted

    def _forward(
        self,
        rows: list[RunningRequest],
        ids: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        cache: DynamicCache,
    ) -> torch.Tensor:
        kwargs: dict[str, Any] = {}
        if self.adapters:
            kwargs["adapter_names"] = [s.task.adapter or BASE_ADAPTER for s in rows]
        with torch.inference_mode():
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
                **kwargs,
            )
        return out.logits[:, -1, :]

    def _prefill_isolated(self, rows: list[RunningRequest]) -> None:
        """Prefill ``rows`` together; if that fails before they join the batch, one by one, and
        fail only those that fail alone. The running batch is untouched until the merge, so it
        keeps decoding either way."""
        try:
            self._prefill(rows)
            return
        except Exception as exc:
            if any(row in self._batch.rows for row in rows):
                raise  # failed after the merge: the batch itself may be inconsistent
            failed: list[tuple[RunningRequest, Exception]] = [(rows[0], exc)] if len(rows) == 1 else []
        if len(rows) > 1:
            log.warning("batched prefill of %d requests failed; retrying them one by one", len(rows))
            for row in rows:
                self._admitting = 1
                try:
                    self._prefill([row])
                except Exception as exc:
                    if row in self._batch.rows:
                        raise
                    failed.append((row, exc))
        self._admitting = 0
        fault: Fault = "request" if len(failed) < len(rows) else "engine"
        for row, error in failed:
            log.error("prefill failed for request %s: %s", row.task.request_id, error)
            row.fail(f"generation failed: {error}", fault)

    def _prefill(self, rows: list[RunningRequest]) -> None:
        width = max(len(s.task.prompt_ids) for s in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, seq in enumerate(rows):
            prompt = seq.task.prompt_ids
            ids[i, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            mask[i, width - len(prompt) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        logits = self._forward(rows, ids, mask, positions, cache)
        self._admitting = 0  # cleared first: stats may briefly undercount, never exceed capacity
        self._batch.merge(rows, cache, mask)
        self._sample(rows, logits, offset=len(self._batch.rows) - len(rows))

    def _decode(self) -> None:
        batch = self._batch
        for seq in [s for s in batch.rows if s.task.cancelled]:
            seq.emit("", "cancelled")
        batch.keep([i for i, s in enumerate(batch.rows) if not s.task.cancelled])
        if not batch.rows:
            return
        assert batch.mask is not None and batch.cache is not None
        ids = torch.tensor([[s.next_token] for s in batch.rows], dtype=torch.long, device=self.device)
        positions = torch.tensor([[s.position] for s in batch.rows], dtype=torch.long, device=self.device)
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch.rows), 1))], dim=1)
        logits = self._forward(batch.rows, ids, batch.mask, positions, batch.cache)
        for seq in batch.rows:
            seq.position += 1
        self._sample(batch.rows, logits, offset=0)

    def _sample(self, rows: list[RunningRequest], logits: torch.Tensor, offset: int) -> None:
        """Sample a token per row (``rows`` start at batch index ``offset``); drop finished rows."""
        finished = set()
        for i, seq in enumerate(rows):
            try:
                token = seq.sampler(logits[i], seq.seen)
                seq.record_logprobs(logits[i], token)
                done = seq.accept(token)
            except Exception as exc:  # this row's settings or state: fail this request only
                log.exception("sampling failed for request %s", seq.task.request_id)
                seq.fail(f"generation failed: {exc}", "request")
                done = True
            if done:
                finished.add(offset + i)
                took = time.monotonic() - seq.started
                self.request_seconds = took if not self.request_seconds else 0.8 * self.request_seconds + 0.2 * took
        if finished:
            self._batch.keep([i for i in range(len(self._batch.rows)) if i not in finished])
