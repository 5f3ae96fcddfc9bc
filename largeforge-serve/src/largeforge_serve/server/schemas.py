"""OpenAI-shaped request and response bodies as msgspec Structs.

Bounds live in ``Meta`` so msgspec rejects bad values while decoding; the server turns its
``ValidationError`` into a 400 naming the field. Unknown fields are ignored, as OpenAI-compatible
servers do, so newer clients keep working.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct

T = TypeVar("T")

Temperature = Annotated[float, Meta(ge=0, le=2)]
TopP = Annotated[float, Meta(gt=0, le=1)]
MaxTokens = Annotated[int, Meta(ge=1, le=32768)]
StopString = Annotated[str, Meta(max_length=1000)]
Stop = StopString | Annotated[list[StopString], Meta(max_length=16)]


class StreamOptions(Struct, kw_only=True):
    include_usage: bool = False


class SamplingFields(Struct, kw_only=True):
    """Generation parameters shared by both endpoints (defaults: ``GenerationConfig``'s)."""

    model: str | None = None
    max_tokens: MaxTokens | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    top_k: Annotated[int, Meta(ge=-1)] | None = None  # -1 or 0: no top-k filter (vLLM's convention)
    repetition_penalty: Annotated[float, Meta(ge=1, le=2)] | None = None
    stop: Stop | None = None
    seed: Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)] | None = None  # int64, as torch takes
    n: Annotated[int, Meta(ge=1, le=1)] = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    # OpenAI parameters this engine does not implement: decoded so that a value other than the
    # neutral one is refused with a 400 naming it (see server/unsupported.py), never ignored.
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None


class TextPart(Struct, kw_only=True):
    """A content part; only text parts are served."""

    type: Literal["text"]
    text: str


class FunctionCall(Struct, kw_only=True):
    name: Annotated[str, Meta(min_length=1)]
    arguments: str  # a JSON object, as a string (OpenAI's form)


class ToolCall(Struct, kw_only=True):
    """A call the assistant made (in a response, or in the history of a request)."""

    id: str
    function: FunctionCall
    type: Literal["function"] = "function"


class ChatMessage(Struct, kw_only=True):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None  # an assistant turn that called tools
    tool_call_id: str | None = None  # a tool turn: the call it answers


class FunctionDefinition(Struct, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=64, pattern="^[A-Za-z0-9_.-]+$")]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(Struct, kw_only=True):
    type: Literal["function"]
    function: FunctionDefinition


class ToolChoiceFunction(Struct, kw_only=True):
    name: str


class NamedToolChoice(Struct, kw_only=True):
    type: Literal["function"]
    function: ToolChoiceFunction


class ResponseFormat(Struct, kw_only=True):
    type: str


class ChatCompletionRequest(SamplingFields, kw_only=True):
    messages: Annotated[list[ChatMessage], Meta(min_length=1)]
    max_completion_tokens: MaxTokens | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | None = None  # OpenAI's bound
    response_format: ResponseFormat | None = None
    tools: Annotated[list[Tool], Meta(max_length=128)] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None


Prompt = Annotated[str, Meta(min_length=1)]


class CompletionRequest(SamplingFields, kw_only=True):
    prompt: Prompt | Annotated[list[Prompt], Meta(min_length=1, max_length=16)]
    logprobs: Annotated[int, Meta(ge=0, le=20)] | None = None  # vLLM's default bound (OpenAI: 5)
    echo: bool | None = None
    suffix: str | None = None


# -- responses -------------------------------------------------------------------------------


class Usage(Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class TopLogprob(Struct):
    token: str
    logprob: float
    bytes: list[int]


class TokenLogprob(Struct):
    """One generated token: its log probability and the ``top_logprobs`` most likely ones."""

    token: str
    logprob: float
    bytes: list[int]
    top_logprobs: list[TopLogprob]


class ChatLogprobs(Struct):
    content: list[TokenLogprob]


class AssistantMessage(Struct):
    content: str | None
    role: str = "assistant"
    tool_calls: list[ToolCall] = msgspec.field(default_factory=list)


class ChatChoice(Struct):
    index: int
    message: AssistantMessage
    finish_reason: str | None
    logprobs: ChatLogprobs | None = None


class ChatCompletionResponse(Struct):
    id: str
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    object: str = "chat.completion"


class DeltaFunction(Struct, omit_defaults=True):
    name: str | None = None
    arguments: str | None = None


class DeltaToolCall(Struct, omit_defaults=True):
    """A piece of a streamed tool call: the first carries ``id``, ``type`` and the name."""

    index: int
    function: DeltaFunction
    id: str | None = None
    type: Literal["function"] | None = None


class Delta(Struct, omit_defaults=True):
    role: str | None = None
    content: str | None = None
    tool_calls: list[DeltaToolCall] | None = None


class ChunkChoice(Struct):
    index: int
    delta: Delta
    finish_reason: str | None = None
    logprobs: ChatLogprobs | None = None


class ChatCompletionChunk(Struct):
    id: str
    created: int
    model: str
    choices: list[ChunkChoice]
    object: str = "chat.completion.chunk"
    usage: Usage | None = None


class CompletionLogprobs(Struct):
    """The legacy completions form: per token its text, log probability, top alternatives and offset."""

    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]]
    text_offset: list[int]


class CompletionChoice(Struct):
    index: int
    text: str
    finish_reason: str | None
    logprobs: CompletionLogprobs | None = None


class CompletionResponse(Struct):
    id: str
    created: int
    model: str
    choices: list[CompletionChoice]
    object: str = "text_completion"
    usage: Usage | None = None


class ModelCard(Struct):
    id: str
    created: int
    owned_by: str = "largeforge"
    object: str = "model"
    root: str | None = None
    parent: str | None = None


class ModelList(Struct):
    data: list[ModelCard]
    object: str = "list"


class HealthResponse(Struct):
    status: Literal["healthy", "degraded", "unhealthy"]
    model: str
    uptime: float
    active_requests: int
    queued_requests: int
    backend: str


class ErrorBody(Struct):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(Struct):
    error: ErrorBody


encoder = msgspec.json.Encoder()

_INT64 = 2**63


def _integral(value: object) -> object:
    """``value`` with every integral float (``649.0``) made an int, as JSON Schema's
    ``integer`` allows; other values unchanged."""
    if isinstance(value, float) and value.is_integer() and -_INT64 <= value < _INT64:
        return int(value)
    if isinstance(value, list):
        return [_integral(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    return value


def decode(body: bytes, kind: type[T]) -> T:
    """Decode a request body into ``kind``, strictly, except that an integral float is taken
    where an integer is expected (``"max_tokens": 649.0``). Raises ``msgspec.DecodeError``."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        if "got `float`" not in str(exc):
            raise
        try:
            data = msgspec.json.decode(body)
        except (msgspec.DecodeError, RecursionError):
            raise exc from None
        return msgspec.convert(_integral(data), type=kind)  # its error names what is still wrong
