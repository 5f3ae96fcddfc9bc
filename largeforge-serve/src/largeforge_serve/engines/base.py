"""What the server needs from an engine beyond the core ``InferenceEngine`` contract.

The core contract (``largeforge.contracts.InferenceEngine``) is synchronous: ``generate`` and
``generate_stream``. A server needs more: chat templates, token counts, and an async stream of
events per request that can be cancelled. Engines that serve HTTP implement
:class:`ServingEngine` as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from largeforge.contracts import InferenceEngine
from largeforge.errors import LargeForgeError

if TYPE_CHECKING:
    from largeforge.config import GenerationConfig, InferenceConfig

FinishReason = Literal["stop", "length", "cancelled", "error"]
#: Whose fault an error is: this request's alone (the engine is fine, other requests are not
#: affected, retrying elsewhere fails the same way) or the engine's (every request in the step).
Fault = Literal["request", "engine"]


class EngineOverloadedError(LargeForgeError):
    """The engine's queue is full; the client should retry later (HTTP 503 + Retry-After)."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EngineRequestError(LargeForgeError, ValueError):
    """A request the engine cannot serve as asked (prompt too long, unknown adapter): HTTP 400."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


@dataclass(frozen=True)
class SamplingParams:
    """Per-request sampling settings (the engine-side view of ``GenerationConfig``).

    ``temperature`` below 1e-5 (0 included) means greedy; ``top_k <= 0`` and ``top_p == 1``
    disable those filters. ``logprobs`` (None: off) asks for each generated token's log
    probability and that many most likely alternatives. ``strict_max_tokens``: a ``max_tokens``
    the client set, so prompt + ``max_tokens`` beyond the context is refused (400) instead of cut.
    """

    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 50
    repetition_penalty: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: int | None = None
    strict_max_tokens: bool = False

    @classmethod
    def from_config(cls, config: GenerationConfig | None) -> SamplingParams:
        """Build from a validated :class:`~largeforge.config.GenerationConfig` (defaults if None)."""
        if config is None:
            from largeforge.config import GenerationConfig

            config = GenerationConfig()
        return cls(
            max_tokens=config.max_tokens,
            temperature=config.temperature,
            top_p=config.top_p,
            top_k=config.top_k,
            repetition_penalty=config.repetition_penalty,
            stop=tuple(s for s in (config.stop or []) if s),
            seed=config.seed,
        )


@dataclass
class TokenLogprobs:
    """A generated token's text and log probability (of the model's raw distribution, as vLLM
    reports by default), with the most likely tokens at that step."""

    token: str
    logprob: float
    top: list[tuple[str, float]]


@dataclass
class StreamEvent:
    """One piece of a request's output: new text, and on the last event why it ended.

    Token counts are cumulative so the last event carries the request's usage. An ``error``
    event says in ``fault`` whether only this request failed or the engine did.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason | None = None
    error: str | None = None
    fault: Fault | None = None
    #: the tokens this event completes, when the request asked for logprobs
    logprobs: list[TokenLogprobs] | None = None

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None


@dataclass
class EngineStats:
    """Load figures for health checks and metrics."""

    active: int = 0
    queued: int = 0
    max_active: int = 0
    max_queued: int = 0
    step_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class EventStream(Protocol):
    """The async iterator of one request's :class:`StreamEvent` s; ``cancel`` frees its slot."""

    prompt_tokens: int

    def __aiter__(self) -> AsyncIterator[StreamEvent]: ...

    def cancel(self) -> None: ...


@runtime_checkable
class ServingEngine(Protocol):
    """An engine the HTTP server can drive (``TransformersEngine``; llama.cpp and vLLM run their own
    server behind :class:`~largeforge_serve.engines.upstream.UpstreamEngine`)."""

    @property
    def adapter_names(self) -> Sequence[str]:
        """Names of the LoRA adapters loaded on the base model (selectable by ``model``)."""
        ...

    @property
    def max_model_len(self) -> int:
        """Longest prompt + completion in tokens."""
        ...

    def render_chat(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> str:
        """The prompt text for ``messages`` (the model's chat template, generation prompt added),
        with ``tools`` (OpenAI function definitions) described to the model."""
        ...

    def count_tokens(self, prompt: str, *, chat: bool = False) -> int:
        """How many tokens ``prompt`` encodes to (``chat`` prompts carry their special tokens)."""
        ...

    def submit(
        self,
        prompt: str,
        params: SamplingParams,
        *,
        adapter: str | None = None,
        chat: bool = False,
        request_id: str | None = None,
    ) -> EventStream:
        """Queue ``prompt`` and return its event stream; call from a running event loop.

        Raises :class:`EngineOverloadedError` when the queue is full and
        :class:`EngineRequestError` for a request it cannot serve, before anything is queued.
        """
        ...

    def stats(self) -> EngineStats:
        """Current load."""
        ...


class ServeEngineBase(InferenceEngine):
    """Base of the engines ``serve inference`` builds: the model and what the command gives every
    backend, LoRA ``adapters`` by name (name → path), ``max_batch_size`` requests running at once,
    ``max_queue`` more waiting, and ``threads`` for the engine's compute (None: its default)."""

    def __init__(
        self,
        model_path: str,
        config: InferenceConfig | None = None,
        *,
        adapters: Mapping[str, str] | None = None,
        max_batch_size: int = 8,
        max_queue: int = 64,
        threads: int | None = None,
    ) -> None:
        super().__init__(model_path, config)
        self.adapters = dict(adapters or {})
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self.threads = threads
