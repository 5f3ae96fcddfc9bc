"""The OpenAI API contract that every LargeForge door applies: ``largeforge serve`` on each
backend (the transformers engine, and the gateway in front of llama.cpp and vLLM) and the
router's front door.

:mod:`~largeforge.openai_contract.requests` says what a request may hold (checked by
:func:`parse_request` before anything is generated or forwarded);
:mod:`~largeforge.openai_contract.responses` the shapes of the answers, as OpenAI publishes
them. Only msgspec is imported: the router uses it without the serving stack.
"""

from largeforge.openai_contract.requests import (
    ChatCompletionRequest,
    ChatMessage,
    CompletionRequest,
    ContentPart,
    FunctionCall,
    RequestError,
    SamplingFields,
    TextPart,
    ToolCall,
    parse_request,
)
from largeforge.openai_contract.responses import (
    AssistantMessage,
    ChatChoice,
    ChatCompletionChunk,
    ChatCompletionResponse,
    ChatLogprobs,
    ChunkChoice,
    CompletionChoice,
    CompletionLogprobs,
    CompletionResponse,
    Delta,
    DeltaFunction,
    DeltaToolCall,
    ErrorBody,
    ErrorResponse,
    ModelCard,
    ModelList,
    TokenLogprob,
    TopLogprob,
    Usage,
    encoder,
)

__all__ = [
    "AssistantMessage",
    "ChatChoice",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatCompletionResponse",
    "ChatLogprobs",
    "ChatMessage",
    "ChunkChoice",
    "CompletionChoice",
    "CompletionLogprobs",
    "CompletionRequest",
    "CompletionResponse",
    "ContentPart",
    "Delta",
    "DeltaFunction",
    "DeltaToolCall",
    "ErrorBody",
    "ErrorResponse",
    "FunctionCall",
    "ModelCard",
    "ModelList",
    "RequestError",
    "SamplingFields",
    "TextPart",
    "TokenLogprob",
    "ToolCall",
    "TopLogprob",
    "Usage",
    "encoder",
    "parse_request",
]
