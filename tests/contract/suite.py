"""The ordinary requests every OpenAI door of LargeForge must answer in OpenAI's shapes, and the
requests every door must refuse alike.

:func:`run_door` sends them to one door (``largeforge serve`` on any backend, or ``router
serve``) and records each answer against OpenAI's published schema (:mod:`.openai_schema`);
:func:`refusals` returns what each refused request got (status, type, param, code), to compare
doors with each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from .openai_schema import Record, sse_events

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
SHORT = {"max_tokens": 6, "temperature": 0}
FRANCE = [{"role": "user", "content": "What is the capital of France?"}]
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}

#: Chat requests; each is sent as it is, streamed, and streamed with ``include_usage``.
CHATS: dict[str, dict[str, Any]] = {
    "plain": {"messages": FRANCE, **SHORT},
    "system": {"messages": [{"role": "system", "content": "You answer in one word."}, *FRANCE], **SHORT},
    "developer": {"messages": [{"role": "developer", "content": "Be brief."}, *FRANCE], **SHORT},
    "multi-turn": {
        "messages": [*FRANCE, {"role": "assistant", "content": "Paris."}, {"role": "user", "content": "And of Italy?"}],
        **SHORT,
    },
    "logprobs": {"messages": FRANCE, "logprobs": True, "top_logprobs": 2, **SHORT},
    "logprobs-no-top": {"messages": FRANCE, "logprobs": True, **SHORT},
    "stop-seed": {"messages": FRANCE, "max_tokens": 8, "temperature": 0.8, "seed": 7, "stop": ["\n", "."]},
    "stop-string": {"messages": FRANCE, "stop": "Paris", **SHORT},
    "max-completion-tokens": {"messages": FRANCE, "max_completion_tokens": 4, "temperature": 0},
    "one-token": {"messages": FRANCE, "max_tokens": 1},
    "content-parts": {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "What is the capital"}, {"type": "text", "text": " of France?"}],
            }
        ],
        **SHORT,
    },
    "tools": {
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [TOOL],
        "tool_choice": "auto",
        **SHORT,
    },
    "user": {"messages": FRANCE, "user": "user-1234", **SHORT},
    "sampling": {"messages": FRANCE, "max_tokens": 6, "temperature": 0.7, "top_p": 0.9, "seed": 3},
    "neutral-values": {
        "messages": FRANCE,
        "n": 1,
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "response_format": {"type": "text"},
        **SHORT,
    },
    "unknown-parameter": {"messages": FRANCE, "not_an_openai_parameter": True, **SHORT},
}

#: Legacy completions; each is sent as it is, streamed, and streamed with ``include_usage``.
COMPLETIONS_CASES: dict[str, dict[str, Any]] = {
    "plain": {"prompt": "The capital of France is", **SHORT},
    "logprobs": {"prompt": "The capital of France is", "logprobs": 2, **SHORT},
    "stop-seed": {"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0.8, "seed": 7, "stop": ["\n"]},
    "one-token": {"prompt": "Hello", "max_tokens": 1},
    "user": {"prompt": "Hello", "user": "user-1234", **SHORT},
    "sampling": {"prompt": "Hello", "max_tokens": 6, "temperature": 0.7, "top_p": 0.9, "seed": 3},
    "neutral-values": {"prompt": "Hello", "echo": False, "presence_penalty": 0, **SHORT},
}
#: Sent only unstreamed (a stream of several prompts is not served by every engine).
LIST_PROMPTS = {"prompt": ["The capital of France is", "Two plus two is"], **SHORT}

#: Requests every door must refuse, and refuse alike: (path, body).
REFUSED: dict[str, tuple[str, dict[str, Any] | bytes]] = {
    "temperature-too-high": (CHAT, {"messages": FRANCE, "max_tokens": 4, "temperature": 9}),
    "temperature-negative": (COMPLETIONS, {"prompt": "Hi", "max_tokens": 4, "temperature": -1}),
    "top-p-too-high": (CHAT, {"messages": FRANCE, "max_tokens": 4, "top_p": 1.5}),
    "top-p-zero": (COMPLETIONS, {"prompt": "Hi", "max_tokens": 4, "top_p": 0}),
    "too-many-tokens": (CHAT, {"messages": FRANCE, "max_tokens": 1_000_000}),
    "too-many-completion-tokens": (CHAT, {"messages": FRANCE, "max_completion_tokens": 1_000_000}),
    "too-many-tokens-completion": (COMPLETIONS, {"prompt": "Hi", "max_tokens": 1_000_000}),
    "max-tokens-not-a-number": (COMPLETIONS, {"prompt": "Hi", "max_tokens": "ten"}),
    "unknown-role": (CHAT, {"messages": [{"role": "wizard", "content": "Hi"}], "max_tokens": 4}),
    "unknown-tool-choice": (CHAT, {"messages": FRANCE, "max_tokens": 4, "tools": [TOOL], "tool_choice": "sometimes"}),
    "no-messages": (CHAT, {"messages": [], "max_tokens": 4}),
    "no-prompt": (COMPLETIONS, {"max_tokens": 4}),
    "top-logprobs-without-logprobs": (CHAT, {"messages": FRANCE, "max_tokens": 4, "top_logprobs": 2}),
    "top-logprobs-too-many": (CHAT, {"messages": FRANCE, "max_tokens": 4, "logprobs": True, "top_logprobs": 50}),
    "too-many-stops": (CHAT, {"messages": FRANCE, "max_tokens": 4, "stop": [str(i) for i in range(20)]}),
    "streamed-bad-temperature": (CHAT, {"messages": FRANCE, "max_tokens": 4, "temperature": 9, "stream": True}),
    "unknown-model": (CHAT, {"messages": FRANCE, "max_tokens": 4, "model": "no-such-model"}),
    "not-json": (CHAT, b"{not json"),
    # The engine's refusal (only it counts tokens), restated alike by every gateway.
    "prompt-too-long": (COMPLETIONS, {"prompt": "word " * 3000, "max_tokens": 4}),
    "chat-too-long": (CHAT, {"messages": [{"role": "user", "content": "word " * 3000}], "max_tokens": 4}),
}


@dataclass(frozen=True)
class Refusal:
    status: int
    type: str | None
    param: str | None
    code: str | None


def _client(url: str, api_key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.Client(base_url=url, headers=headers, timeout=300)


def _generate(http: httpx.Client, record: Record, case: str, path: str, body: dict[str, Any]) -> None:
    record.requests += 1
    response = http.post(path, json=body)
    kind = "chat" if path == CHAT else "completion"
    if response.status_code != 200:
        record.fail(case, f"HTTP {response.status_code}: {response.text[:300]}")
        return
    if not body.get("stream"):
        record.check(case, kind, response.json())
        return
    try:
        events = sse_events(response.text)
    except AssertionError as exc:
        record.fail(case, str(exc))
        return
    for event in events:
        record.check(case, "error" if "error" in event else f"{kind}.chunk", event)
    usage_asked = (body.get("stream_options") or {}).get("include_usage")
    if usage_asked and not (events and events[-1].get("usage") and events[-1].get("choices") == []):
        record.fail(case, "include_usage: the last chunk is not the usage chunk")


def _variants(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        "": body,
        " stream": {**body, "stream": True},
        " stream+usage": {**body, "stream": True, "stream_options": {"include_usage": True}},
    }


def run_door(
    record: Record, url: str, model: str, *, api_key: str | None = None, only: set[str] | None = None
) -> list[str]:
    """Send every ordinary request (or those named in ``only``) to the door at ``url``
    (``http://host:port``, no ``/v1``) with ``model``, and check its model listing; return the
    model ids it lists."""
    with _client(url, api_key) as http:
        for kind, path, cases in (("chat", CHAT, CHATS), ("completion", COMPLETIONS, COMPLETIONS_CASES)):
            for name, body in cases.items():
                if only is not None and name not in only:
                    continue
                for suffix, variant in _variants({"model": model, **body}).items():
                    _generate(http, record, f"{kind} {name}{suffix}", path, variant)
        _generate(http, record, "completion list-prompts", COMPLETIONS, {"model": model, **LIST_PROMPTS})
        return check_models(http, record)


def check_models(http: httpx.Client, record: Record) -> list[str]:
    """``GET /v1/models``, then ``GET /v1/models/{id}`` for every listed id and for an unknown one."""
    record.requests += 1
    listing = http.get("/v1/models")
    if listing.status_code != 200:
        record.fail("models", f"HTTP {listing.status_code}: {listing.text[:300]}")
        return []
    record.check("models", "models", listing.json())
    ids = [m.get("id") for m in listing.json().get("data", [])]
    for model_id in ids:
        record.requests += 1
        case = f"model {model_id}"
        one = http.get(f"/v1/models/{quote(str(model_id), safe='/')}")
        if one.status_code != 200:
            record.fail(case, f"HTTP {one.status_code}: {one.text[:300]}")
            continue
        record.check(case, "model", one.json())
        if one.json().get("id") != model_id:
            record.fail(case, f"answered the card of {one.json().get('id')!r}")
    record.requests += 1
    unknown = http.get("/v1/models/no-such-model")
    if unknown.status_code != 404:
        record.fail("model no-such-model", f"HTTP {unknown.status_code}, not 404")
    record.check("model no-such-model", "error", unknown.json())
    return ids


def refusals(record: Record, url: str, model: str, *, api_key: str | None = None) -> dict[str, Refusal]:
    """Send every request of :data:`REFUSED`; check each answer is an OpenAI error and return it."""
    out: dict[str, Refusal] = {}
    with _client(url, api_key) as http:
        for name, (path, body) in REFUSED.items():
            record.requests += 1
            case = f"refused {name}"
            if isinstance(body, bytes):
                response = http.post(path, content=body, headers={"Content-Type": "application/json"})
            else:
                response = http.post(path, json={"model": model, **body})
            try:
                payload = response.json()
            except ValueError:
                record.fail(case, f"HTTP {response.status_code}, not JSON: {response.text[:200]!r}")
                continue
            record.check(case, "error", payload)
            error = payload.get("error") if isinstance(payload, dict) else None
            error = error if isinstance(error, dict) else {}
            out[name] = Refusal(response.status_code, error.get("type"), error.get("param"), error.get("code"))
            if not 400 <= response.status_code < 500:
                record.fail(case, f"HTTP {response.status_code}, not a 4xx: {response.text[:200]}")
    return out
