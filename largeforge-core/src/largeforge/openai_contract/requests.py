"""What LargeForge accepts at its OpenAI doors: the request bodies of ``/v1/chat/completions``
and ``/v1/completions`` as msgspec Structs.

Bounds live in ``Meta`` so msgspec refuses bad values while decoding; :func:`parse_request`
turns that into a :class:`RequestError` naming the field, and adds the rules that span fields.
Unknown fields are ignored, as OpenAI-compatible servers do, so newer clients keep working (and
an engine's own extensions reach it through a gateway). What one engine does not implement (the
transformers engine's penalties, ``n`` above 1, image parts) is that engine's refusal, not the
contract's.
"""

from __future__ import annotations

import re
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
    n: Annotated[int, Meta(ge=1, le=128)] = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    presence_penalty: Annotated[float, Meta(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Meta(ge=-2, le=2)] | None = None
    logit_bias: dict[str, float] | None = None


class TextPart(Struct, kw_only=True, tag_field="type", tag="text"):
    """A part of a message's content; the other kinds (OpenAI's) pass on to engines that read them."""

    text: str


class ImageURL(Struct, kw_only=True):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(Struct, kw_only=True, tag_field="type", tag="image_url"):
    image_url: ImageURL


class InputAudio(Struct, kw_only=True):
    data: str
    format: str


class AudioPart(Struct, kw_only=True, tag_field="type", tag="input_audio"):
    input_audio: InputAudio


class FilePart(Struct, kw_only=True, tag_field="type", tag="file"):
    file: dict[str, Any]


class RefusalPart(Struct, kw_only=True, tag_field="type", tag="refusal"):
    refusal: str


ContentPart = TextPart | ImagePart | AudioPart | FilePart | RefusalPart


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
    content: str | list[ContentPart] | None = None
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


class RequestError(ValueError):
    """A request body the contract refuses; ``param`` names the field (``messages[0].role``)."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


_INT64 = 2**63
_AT = re.compile(r" - at `\$\.?([^`]*)`$")
_MISSING = re.compile(r"missing required field `([^`]+)`")


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


def _decode(body: bytes, kind: type[T]) -> T:
    """Decode strictly, except that an integral float is taken where an integer is expected
    (``"max_tokens": 649.0``). Raises ``msgspec.DecodeError``."""
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


def _refusal(exc: msgspec.DecodeError) -> RequestError:
    """The :class:`RequestError` for a body msgspec could not decode, naming the field."""
    message = str(exc)
    match = _AT.search(message)
    param = match.group(1) if match and match.group(1) else None
    missing = _MISSING.search(message)
    if missing:  # name the missing field itself, not the object that lacks it
        param = f"{param}.{missing.group(1)}" if param else missing.group(1)
    if not isinstance(exc, msgspec.ValidationError):
        message = f"the request body is not valid JSON: {message}"
    return RequestError(message, param)


def parse_request(body: bytes, kind: type[T]) -> T:
    """``body`` (JSON) as ``kind`` (:class:`ChatCompletionRequest` or :class:`CompletionRequest`),
    checked against the contract; raises :class:`RequestError` for anything it refuses."""
    try:
        request = _decode(body, kind)
    except msgspec.DecodeError as exc:
        raise _refusal(exc) from None
    except RecursionError:
        raise RequestError("the request body is nested too deeply") from None
    if isinstance(request, ChatCompletionRequest) and request.top_logprobs and not request.logprobs:
        raise RequestError("top_logprobs needs logprobs: true", "top_logprobs")
    return request
