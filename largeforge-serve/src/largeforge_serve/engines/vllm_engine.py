"""A thin adapter over vLLM's async engine (GPU only; vLLM is an optional extra).

Nothing here runs on the CPU machines LargeForge is developed on: the mapping of settings
(:meth:`VLLMEngine.engine_args`, :func:`sampling_kwargs`) is tested, the calls into vLLM are not.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from largeforge.contracts import InferenceEngine
from largeforge_serve.engines.base import (
    EngineRequestError,
    EngineStats,
    FinishReason,
    SamplingParams,
    StreamEvent,
)

if TYPE_CHECKING:
    from largeforge.config import GenerationConfig, InferenceConfig


def sampling_kwargs(params: SamplingParams) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` for ``params`` (top_k 0 → vLLM's -1)."""
    return {
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k if params.top_k > 0 else -1,
        "repetition_penalty": params.repetition_penalty,
        "stop": list(params.stop) or None,
        "seed": params.seed,
    }


class _VLLMStream:
    """One request's events from ``AsyncLLMEngine.generate`` (cumulative text → deltas)."""

    def __init__(self, engine: Any, outputs: AsyncIterator[Any], request_id: str, prompt_tokens: int) -> None:
        self._engine, self._outputs, self._request_id = engine, outputs, request_id
        self.prompt_tokens = prompt_tokens
        self._done = False
        self._abort: asyncio.Future[Any] | None = None

    async def _events(self) -> AsyncIterator[StreamEvent]:
        sent = 0
        async for output in self._outputs:
            choice = output.outputs[0]
            finish: FinishReason | None = None
            if choice.finish_reason is not None:
                finish = "length" if choice.finish_reason == "length" else "stop"
            yield StreamEvent(choice.text[sent:], len(output.prompt_token_ids or []),
                              len(choice.token_ids), finish)
            sent = len(choice.text)
        self._done = True

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events()

    def cancel(self) -> None:
        if not self._done:
            self._done = True
            self._abort = asyncio.ensure_future(self._engine.abort(self._request_id))


class VLLMEngine(InferenceEngine):
    """vLLM's ``AsyncLLMEngine`` behind the LargeForge engine contract (LoRA adapters included)."""

    backend_name = "vllm"

    def __init__(self, model_path: str, config: InferenceConfig | None = None, *,
                 adapters: Mapping[str, str] | None = None, max_batch_size: int = 256,
                 max_queue: int = 1024, threads: int | None = None) -> None:
        super().__init__(model_path, config)
        self.adapters = dict(adapters or {})
        self.max_batch_size = max_batch_size
        self._engine: Any = None
        self._tokenizer: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def engine_args(self) -> dict[str, Any]:
        """Keyword arguments of ``vllm.AsyncEngineArgs`` from the inference config."""
        args: dict[str, Any] = {
            "model": self.model_path,
            "tensor_parallel_size": self.config.tensor_parallel_size,
            "gpu_memory_utilization": self.config.gpu_memory_utilization,
            "max_model_len": self.config.max_model_len,
            "max_num_seqs": self.max_batch_size,
            "quantization": self.config.quantization,
        }
        if self.adapters:
            args.update(enable_lora=True, max_loras=len(self.adapters))
        return args

    def load(self) -> None:
        from transformers import AutoTokenizer
        from vllm import AsyncEngineArgs, AsyncLLMEngine

        self._engine = AsyncLLMEngine.from_engine_args(AsyncEngineArgs(**self.engine_args()))
        self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)

    def unload(self) -> None:
        if self._engine is not None and hasattr(self._engine, "shutdown"):
            self._engine.shutdown()
        self._engine = None
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None

    @property
    def is_loaded(self) -> bool:
        return self._engine is not None

    @property
    def adapter_names(self) -> list[str]:
        return list(self.adapters)

    @property
    def max_model_len(self) -> int:
        return self.config.max_model_len

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        return str(self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

    def count_tokens(self, prompt: str, *, chat: bool = False) -> int:
        return len(self._tokenizer(prompt, add_special_tokens=not chat)["input_ids"])

    def stats(self) -> EngineStats:
        return EngineStats(max_active=self.max_batch_size)

    def _get_sampling_params(self, config: GenerationConfig | None) -> Any:
        from vllm import SamplingParams as VSamplingParams

        return VSamplingParams(**sampling_kwargs(SamplingParams.from_config(config)))

    def submit(self, prompt: str, params: SamplingParams, *, adapter: str | None = None,
               chat: bool = False, request_id: str | None = None) -> _VLLMStream:
        from vllm import SamplingParams as VSamplingParams

        lora = None
        if adapter is not None:
            if adapter not in self.adapters:
                raise EngineRequestError(f"unknown adapter {adapter!r}", param="model", code="model_not_found")
            from vllm.lora.request import LoRARequest

            lora = LoRARequest(adapter, list(self.adapters).index(adapter) + 1, self.adapters[adapter])
        rid = request_id or uuid.uuid4().hex
        outputs = self._engine.generate(prompt, VSamplingParams(**sampling_kwargs(params)), rid,
                                        lora_request=lora)
        return _VLLMStream(self._engine, outputs, rid, self.count_tokens(prompt, chat=chat))

    # Synchronous contract: run the async engine on a private event loop thread.
    def _run_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, daemon=True, name="vllm-loop").start()
            self._loop = loop
        return self._loop

    def generate(self, prompt: str, config: GenerationConfig | None = None) -> str:
        return "".join(self.generate_stream(prompt, config))

    def generate_stream(self, prompt: str, config: GenerationConfig | None = None) -> Iterator[str]:
        loop = self._run_loop()
        params = SamplingParams.from_config(config)

        async def start() -> Any:
            return self.submit(prompt, params).__aiter__()

        events = asyncio.run_coroutine_threadsafe(start(), loop).result()
        while True:
            try:
                event = asyncio.run_coroutine_threadsafe(events.__anext__(), loop).result()
            except StopAsyncIteration:
                return
            if event.text:
                yield event.text
