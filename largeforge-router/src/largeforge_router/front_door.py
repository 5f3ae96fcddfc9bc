"""The OpenAI-compatible front door: ``POST /v1/chat/completions`` and ``/v1/completions``.

``model: "auto"`` routes the query (the last user message, or the prompt) to an expert; an
expert's name goes straight to that expert. Bodies are checked against LargeForge's OpenAI
contract (:mod:`largeforge.openai_contract`) first, so the router refuses what the experts'
servers refuse, alike. The expert's answer goes back as it is, with ``x-largeforge-*`` headers
saying who answered and why.

These two routes are the hot path, so they are plain ASGI handlers (``@asgi``): they read the body
and write the expert's answer themselves, without Litestar's request parsing, dependency injection
and response conversion (about 0.3 ms a request on the 2-core development machine). Routing,
middleware and exception handlers still apply to them.
"""

from __future__ import annotations

from typing import Any

from litestar import asgi
from litestar.exceptions import MethodNotAllowedException
from litestar.handlers import ASGIRouteHandler
from litestar.response.streaming import ASGIStreamingResponse

from largeforge.openai_contract import ChatCompletionRequest, CompletionRequest, RequestError, parse_request
from largeforge_router.api_errors import APIError, decode, read_body
from largeforge_router.api_keys import APIKeys
from largeforge_router.router import Forwarded, Router

AUTO_MODELS = {"auto", "router"}
#: The contract each front-door route checks its body against.
REQUEST_TYPES: dict[str, type[Any]] = {
    "/v1/chat/completions": ChatCompletionRequest,
    "/v1/completions": CompletionRequest,
}


def _text(content: Any, param: str) -> str:
    """The text of a message ``content`` (a string or a list of typed parts); ``param`` names
    it in the 400 for a text part whose ``text`` is not a string."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = []
    for j, part in enumerate(content):
        if isinstance(part, dict) and part.get("type") == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise APIError(
                    400,
                    f"a text content part needs a string 'text', not {type(text).__name__}",
                    param=f"{param}[{j}].text",
                )
            texts.append(text)
    return " ".join(texts)


def routing_query(path: str, payload: dict[str, Any]) -> str:
    """What the classifier reads: the last user message, or the prompt."""
    if path.endswith("/chat/completions"):
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            raise APIError(400, "'messages' must be a non-empty list", param="messages")
        for i in reversed(range(len(messages))):
            message = messages[i]
            if isinstance(message, dict) and message.get("role") == "user":
                return _text(message.get("content"), f"messages[{i}].content")
        last = messages[-1]
        return _text(last.get("content"), f"messages[{len(messages) - 1}].content") if isinstance(last, dict) else ""
    prompt = payload.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(p for p in prompt if isinstance(p, str))
    if not isinstance(prompt, str):
        raise APIError(400, "'prompt' must be a string or a list of strings", param="prompt")
    return prompt


async def respond(answer: Forwarded, headers: dict[str, str], scope: Any, receive: Any, send: Any) -> None:
    """Send the expert's answer (a whole body, or a stream) with the router's headers."""
    headers = {**headers, "x-largeforge-expert": answer.expert, "x-largeforge-endpoint": answer.endpoint}
    if answer.attempts:
        headers["x-largeforge-retries"] = str(len(answer.attempts))
    if answer.stream is not None:
        response = ASGIStreamingResponse(
            iterator=answer.stream,
            media_type=answer.content_type,
            headers={**headers, "cache-control": "no-cache", "x-accel-buffering": "no"},
        )
        await response(scope, receive, send)
        return
    # The expert's body and content type, passed through as they are.
    encoded = [
        (b"content-type", answer.content_type.encode("latin-1")),
        (b"content-length", str(len(answer.content)).encode()),
        *((k.encode(), v.encode("latin-1")) for k, v in headers.items()),
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": encoded})
    await send({"type": "http.response.body", "body": answer.content})


def front_door_routes(router: Router, keys: APIKeys) -> list[ASGIRouteHandler]:
    """The two forwarding routes of ``router``, checking client ``keys`` when there are any."""

    async def front_door(scope: Any, receive: Any, send: Any, path: str) -> None:
        if scope["method"] != "POST":
            raise MethodNotAllowedException
        raw_headers: dict[bytes, bytes] = dict(scope["headers"])
        if keys.required:
            keys.check_client(
                raw_headers.get(b"authorization", b"").decode("latin-1"),
                raw_headers.get(b"x-api-key", b"").decode("latin-1"),
            )
        raw = await read_body(receive, raw_headers)
        try:
            parse_request(raw, REQUEST_TYPES[path])
        except RequestError as exc:
            raise APIError(400, exc.message, code=exc.code, param=exc.param) from None
        payload = decode(raw, dict)
        model = payload.get("model")
        if not isinstance(model, str) or not model:
            raise APIError(400, "'model' is required: 'auto' to route, or an expert's name", param="model")
        query = routing_query(path, payload)
        headers: dict[str, str] = {}
        if model in AUTO_MODELS:
            decision = await router.aroute(query)
            expert = decision.expert
            if b"x-request-id" in raw_headers:
                router.recent.remember(raw_headers[b"x-request-id"].decode("latin-1"), query, expert)
            headers["x-largeforge-confidence"] = f"{decision.confidence:.4f}"
            if decision.fallback_reason:
                headers["x-largeforge-fallback"] = decision.fallback_reason
        elif model in router.experts:
            expert = model
        else:
            names = ", ".join(["auto", *(e.name for e in router.experts.list_experts())])
            raise APIError(
                404, f"model {model!r} not found; use one of: {names}", code="model_not_found", param="model"
            )
        stream = payload.get("stream") is True
        rid = raw_headers.get(b"x-request-id")
        answer = await router.forward(
            path, payload, expert, stream=stream, request_id=rid.decode("latin-1") if rid is not None else None
        )
        if answer.expert != expert:  # the expert asked for (or routed to) failed: the fallback answered
            headers.setdefault("x-largeforge-fallback", "expert_failed")
        await respond(answer, headers, scope, receive, send)

    @asgi("/v1/chat/completions", copy_scope=False)
    async def chat_completions(scope: Any, receive: Any, send: Any) -> None:
        await front_door(scope, receive, send, "/v1/chat/completions")

    @asgi("/v1/completions", copy_scope=False)
    async def completions(scope: Any, receive: Any, send: Any) -> None:
        await front_door(scope, receive, send, "/v1/completions")

    return [chat_completions, completions]
