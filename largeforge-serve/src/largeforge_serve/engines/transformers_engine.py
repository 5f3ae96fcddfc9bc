"""The transformers backend: a Hugging Face causal LM (plus optional LoRA adapters) served by the
continuous-batching :class:`~largeforge_serve.engines.scheduler.BatchScheduler`."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from largeforge.backends import FALLBACK
from largeforge.data.tools import template_knows_tools, template_messages
from largeforge.errors import ConfigError
from largeforge.utils.logging import get_logger, timed
from largeforge_serve.engines.base import (
    EngineRequestError,
    EngineStats,
    SamplingParams,
    ServeEngineBase,
    StreamEvent,
)
from largeforge_serve.engines.gguf_files import is_gguf
from largeforge_serve.engines.streams import AsyncEventStream, blocking_events

if TYPE_CHECKING:
    from largeforge.config import GenerationConfig, InferenceConfig
    from largeforge_serve.engines.scheduler import BatchScheduler

log = get_logger(__name__)


class TransformersEngine(ServeEngineBase):
    """Serve a local or embedded model with transformers on CPU or GPU.

    ``adapters`` maps a name to a PEFT LoRA adapter directory; all adapters share one copy of
    the base model and a request picks one by name (``None`` = the base model). Requests are
    batched by a worker thread: ``max_batch_size`` run at once, ``max_queue`` more may wait.
    ``threads`` sets torch's intra-op threads for the process (on a busy shared CPU, 1 thread
    can be several times faster than oversubscribed ones).
    """

    backend_name = "transformers"

    @classmethod
    def auto_rank(cls, model: str, *, adapters: bool = False) -> int | None:
        """The fallback of ``auto``: any model but a GGUF file."""
        return None if is_gguf(Path(model).expanduser()) else FALLBACK

    def __init__(self, model_path: str, config: InferenceConfig | None = None, **options: Any) -> None:
        super().__init__(model_path, config, **options)
        self.model: Any = None
        self.tokenizer: Any = None
        self.device = "cpu"
        self._scheduler: BatchScheduler | None = None
        self._max_len = self.config.max_model_len
        self._encode_lock = threading.Lock()  # a fast tokenizer's encode is not re-entrant
        #: Most UTF-8 bytes of text one token can stand for, when the tokenizer proves a bound
        #: (see :func:`max_token_bytes`); a longer prompt is refused without being encoded.
        self._max_token_bytes: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def load(self) -> None:
        """Load tokenizer, model and adapters; start the batching worker.

        After :meth:`shutdown` the model stays in memory and ``load`` only restarts the worker.
        """
        if self.is_loaded:
            return
        if self.model is None:
            self._load_model()
        self._start_worker()

    def _load_model(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from largeforge.models import resolve_model
        from largeforge.utils.device import get_device
        from largeforge_serve.engines.scheduler import check_cache_supported

        if self.threads:
            torch.set_num_threads(self.threads)
        path = resolve_model(self.model_path)
        self.device = get_device()
        # fp32 on CPU: this class of CPU runs bf16 far slower; half precision on GPU.
        dtype = torch.float32 if self.device == "cpu" else "auto"
        with timed(log, f"load {path}"):
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
            try:
                check_cache_supported(model.config)
            except ValueError as exc:
                raise ConfigError(f"{self.model_path}: {exc}; use the vllm backend") from None
            model = self._load_adapters(model.to(self.device))
        model.eval()
        self.model = model
        self._max_token_bytes = max_token_bytes(self.tokenizer)
        positions = getattr(model.config, "max_position_embeddings", None) or self.config.max_model_len
        self._max_len = min(self.config.max_model_len, positions)

    def _start_worker(self) -> None:
        from largeforge_serve.engines.scheduler import BatchScheduler

        eos = self._eos_ids()
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(eos)
        self._scheduler = BatchScheduler(
            self.model,
            self.tokenizer,
            eos_ids=eos,
            pad_id=pad,
            max_batch_size=self.max_batch_size,
            max_queue=self.max_queue,
            adapters=bool(self.adapters),
        )
        self._scheduler.start()

    def _load_adapters(self, model: Any) -> Any:
        if not self.adapters:
            return model
        from peft import PeftModel

        peft_model: Any = None
        for name, adapter_path in self.adapters.items():
            if not (Path(adapter_path) / "adapter_config.json").is_file():
                raise ConfigError(
                    f"adapter {name!r}: {adapter_path} is not a PEFT adapter directory (no adapter_config.json)"
                )
            if peft_model is None:
                peft_model = PeftModel.from_pretrained(model, adapter_path, adapter_name=name)
            else:
                peft_model.load_adapter(adapter_path, adapter_name=name)
            log.info("loaded adapter %s from %s", name, adapter_path)
        return peft_model

    def _eos_ids(self) -> frozenset[int]:
        ids: set[int] = set()
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        if isinstance(configured, int):
            ids.add(configured)
        elif configured:
            ids.update(int(i) for i in configured)
        return frozenset(ids)

    def shutdown(self, drain_timeout: float = 0.0) -> None:
        """Stop taking requests, let running ones finish for ``drain_timeout`` s, cancel the rest."""
        if self._scheduler is not None:
            self._scheduler.stop(drain_timeout)
            self._scheduler = None

    def unload(self) -> None:
        """Cancel anything running and free the model."""
        self.shutdown(0.0)
        self.model = None
        self.tokenizer = None

    @property
    def is_loaded(self) -> bool:
        return self.model is not None and self._scheduler is not None

    @property
    def model_info(self) -> dict[str, Any]:
        info = super().model_info
        info["device"] = self.device
        info["max_length"] = self._max_len
        info["adapters"] = sorted(self.adapters)
        if self.model is not None:
            info["memory_used"] = sum(p.numel() * p.element_size() for p in self.model.parameters())
        return info

    # -- serving API (largeforge_serve.engines.base.ServingEngine) -----------------------------

    @property
    def adapter_names(self) -> list[str]:
        return list(self.adapters)

    @property
    def max_model_len(self) -> int:
        return self._max_len

    def render_chat(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
        """Apply the tokenizer's chat template (plain ``role: content`` lines when it has none).

        ``tools`` go to a template that uses them; one that does not (SmolLM2's) gets them as a
        Hermes tool block in the system message (see :mod:`largeforge.data.tools`).
        """
        self._require_loaded()
        template = getattr(self.tokenizer, "chat_template", None)
        knows_tools = template_knows_tools(template)
        messages = template_messages(messages, tools, knows_tools)
        if template:
            extra = {"tools": tools} if tools and knows_tools else {}
            return str(
                self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **extra)
            )
        lines = [f"{m['role']}: {m.get('content') or ''}" for m in messages]
        return "\n".join([*lines, "assistant:"])

    def encode(self, prompt: str, *, chat: bool = False) -> list[int]:
        """Token ids of ``prompt``; a rendered chat prompt already holds its special tokens."""
        self._require_loaded()
        with self._encode_lock:
            return list(self.tokenizer(prompt, add_special_tokens=not chat)["input_ids"])

    def count_tokens(self, prompt: str, *, chat: bool = False) -> int:
        return len(self.encode(prompt, chat=chat))

    async def asubmit(
        self,
        prompt: str,
        params: SamplingParams,
        *,
        adapter: str | None = None,
        chat: bool = False,
        request_id: str | None = None,
    ) -> AsyncEventStream:
        """:meth:`submit` with the prompt encoded in a worker thread, so a long prompt does not
        hold up the event loop (health checks, other requests); a prompt whose byte length
        proves it too long for the context is refused before it is encoded."""
        self._require_loaded()
        self._check_adapter(adapter)
        self._check_bytes(prompt, chat)
        ids = await asyncio.to_thread(self.encode, prompt, chat=chat)
        stream = AsyncEventStream()
        cancel, prompt_tokens = self._enqueue_ids(ids, params, stream.sink, adapter, chat, request_id)
        stream.bind(cancel, prompt_tokens)
        return stream

    def submit(
        self,
        prompt: str,
        params: SamplingParams,
        *,
        adapter: str | None = None,
        chat: bool = False,
        request_id: str | None = None,
    ) -> AsyncEventStream:
        """Queue a request from inside an event loop; iterate the result for its events."""
        stream = AsyncEventStream()
        cancel, prompt_tokens = self._enqueue(prompt, params, stream.sink, adapter, chat, request_id)
        stream.bind(cancel, prompt_tokens)
        return stream

    def stats(self) -> EngineStats:
        return self._scheduler.stats() if self._scheduler is not None else EngineStats()

    # -- core contract (synchronous) --------------------------------------------------------

    def generate(self, prompt: str, config: GenerationConfig | None = None) -> str:
        """Complete ``prompt`` (raw text; use :meth:`render_chat` for conversations)."""
        return "".join(self.generate_stream(prompt, config))

    def generate_stream(self, prompt: str, config: GenerationConfig | None = None) -> Iterator[str]:
        """Yield the completion of ``prompt`` as it is generated (batched with other callers)."""
        for event in self.stream_events(prompt, SamplingParams.from_config(config)):
            if event.error:
                raise RuntimeError(event.error)
            if event.text:
                yield event.text

    def stream_events(
        self, prompt: str, params: SamplingParams, *, adapter: str | None = None, chat: bool = False
    ) -> Iterator[StreamEvent]:
        """Blocking iterator over a request's events (text, then finish reason and usage)."""
        return blocking_events(lambda sink: self._enqueue(prompt, params, sink, adapter, chat, None)[0])

    # -- internals ---------------------------------------------------------------------------

    def _require_loaded(self) -> None:
        if not self.is_loaded:
            raise RuntimeError("the engine is not loaded; call load() first")

    def _enqueue(
        self, prompt: str, params: SamplingParams, sink: Any, adapter: str | None, chat: bool, request_id: str | None
    ) -> tuple[Any, int]:
        self._require_loaded()
        self._check_adapter(adapter)
        self._check_bytes(prompt, chat)
        return self._enqueue_ids(self.encode(prompt, chat=chat), params, sink, adapter, chat, request_id)

    def _check_adapter(self, adapter: str | None) -> None:
        if adapter is not None and adapter not in self.adapters:
            raise EngineRequestError(f"unknown adapter {adapter!r}", param="model", code="model_not_found")

    def _check_bytes(self, prompt: str, chat: bool) -> None:
        if self._max_token_bytes is None:
            return
        at_least = -(-len(prompt.encode("utf-8", "surrogatepass")) // self._max_token_bytes)
        if at_least >= self._max_len:
            raise EngineRequestError(
                f"the prompt has at least {at_least} tokens but the model's context is {self._max_len} tokens",
                param="messages" if chat else "prompt",
                code="context_length_exceeded",
            )

    def _enqueue_ids(
        self, ids: list[int], params: SamplingParams, sink: Any, adapter: str | None, chat: bool, request_id: str | None
    ) -> tuple[Any, int]:
        from largeforge_serve.engines.generation_task import GenerationTask

        assert self._scheduler is not None
        if not ids:
            raise EngineRequestError("the prompt is empty", param="prompt")
        if len(ids) >= self._max_len:
            raise EngineRequestError(
                f"the prompt has {len(ids)} tokens but the model's context is {self._max_len} tokens",
                param="messages" if chat else "prompt",
                code="context_length_exceeded",
            )
        if params.strict_max_tokens and len(ids) + params.max_tokens > self._max_len:
            raise EngineRequestError(
                f"the model's context is {self._max_len} tokens; the prompt has {len(ids)} and max_tokens asks "
                f"for {params.max_tokens} more: lower max_tokens to at most {self._max_len - len(ids)}",
                param="max_tokens",
                code="context_length_exceeded",
            )
        task = GenerationTask(ids, params, sink, max_len=self._max_len, adapter=adapter, request_id=request_id)
        self._scheduler.submit(task)
        return task.cancel, len(ids)


def max_token_bytes(tokenizer: Any) -> int | None:
    """The most UTF-8 bytes of input one token can cover, when that is provable: a byte-level
    BPE tokenizer without a normalizer covers each input byte by one vocabulary character, so
    no token covers more bytes than its piece's UTF-8 length. None for anything else (a
    normalizer may shrink the text, so the bytes prove nothing)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    try:
        spec = json.loads(backend.to_str())
    except Exception:
        return None
    normalizer = spec.get("normalizer")
    if normalizer is not None and not (normalizer.get("type") == "Sequence" and not normalizer.get("normalizers")):
        return None
    pre = spec.get("pre_tokenizer") or {}
    kinds = [pre.get("type")] + [p.get("type") for p in pre.get("pretokenizers", [])]
    if "ByteLevel" not in kinds:
        return None
    return max((len(piece.encode("utf-8")) for piece in tokenizer.get_vocab()), default=0) or None
