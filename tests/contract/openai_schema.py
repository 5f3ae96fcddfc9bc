"""OpenAI's published response schemas (the cut in ``openai_schema.json``) as ``jsonschema``
validators, and a recorder of the violations a door's answers show.

OpenAI's document still marks some null values the OpenAPI 3.0 way (``nullable: true``); it is
read as JSON Schema's ``{"type": "null"}`` alternative. One relaxation, documented in README.md:
a streamed legacy completion chunk may carry ``finish_reason: null`` (and ``usage: null``) until
its last chunk, as OpenAI's own API streams it, though ``CreateCompletionResponse`` allows neither.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_FILE = Path(__file__).with_name("openai_schema.json")
#: What each kind of answer is checked against.
ROOTS = {
    "chat": "CreateChatCompletionResponse",
    "chat.chunk": "CreateChatCompletionStreamResponse",
    "completion": "CreateCompletionResponse",
    "completion.chunk": "CompletionStreamChunk",  # the one relaxation (see the module docstring)
    "models": "ListModelsResponse",
    "model": "Model",
    "error": "ErrorResponse",
}
NULL = {"type": "null"}


def _nullable(node: Any) -> Any:
    """``node`` with every ``nullable: true`` schema turned into ``anyOf: [schema, null]``."""
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    return {"anyOf": [out, NULL]} if node.get("nullable") is True else out


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    return schema if schema.get("anyOf", [None])[-1] == NULL else {"anyOf": [schema, NULL]}


@functools.cache
def document() -> dict[str, Any]:
    """The cut, translated, plus ``CompletionStreamChunk``: ``CreateCompletionResponse`` whose
    ``choices[].finish_reason`` and ``usage`` may be null."""
    raw = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    schemas = _nullable(raw["components"]["schemas"])
    chunk = copy.deepcopy(schemas["CreateCompletionResponse"])
    choice = chunk["properties"]["choices"]["items"]["properties"]
    choice["finish_reason"] = _or_null(choice["finish_reason"])
    chunk["properties"]["usage"] = _or_null(chunk["properties"]["usage"])
    schemas["CompletionStreamChunk"] = chunk
    return {"components": {"schemas": schemas}}


@functools.cache
def validator(kind: str) -> Draft202012Validator:
    schema = {**document(), "$ref": f"#/components/schemas/{ROOTS[kind]}"}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def violations(kind: str, body: Any) -> list[str]:
    """Each way ``body`` breaks the schema of ``kind``, as ``$.path: message``."""
    found = []
    for error in validator(kind).iter_errors(body):
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        why = error.message
        if error.context:  # anyOf / oneOf: why each alternative failed
            why = " / ".join(sorted({e.message for e in error.context}))
        found.append(f"{path}: {why[:300]}")
    return found


def sse_events(text: str) -> list[Any]:
    """The JSON payloads of an SSE body, which must end with ``data: [DONE]``."""
    payloads = [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]
    if not payloads or payloads[-1] != "[DONE]":
        raise AssertionError(f"the stream does not end with data: [DONE]: {text[-300:]!r}")
    return [json.loads(p) for p in payloads[:-1]]


@dataclass
class Record:
    """What one door answered: every response checked, and the violations found (by case)."""

    door: str
    checked: int = 0
    requests: int = 0
    violations: list[str] = field(default_factory=list)

    def check(self, case: str, kind: str, body: Any) -> None:
        """Validate one answer (a response body or one streamed chunk) against ``kind``."""
        self.checked += 1
        self.violations += [f"{self.door} {case} [{kind}] {v}" for v in violations(kind, body)]

    def fail(self, case: str, what: str) -> None:
        """A violation that is not a schema error (wrong status, a stream without [DONE], …)."""
        self.violations.append(f"{self.door} {case}: {what}")

    def cases_with_violations(self) -> list[str]:
        return sorted({v.split(" [", 1)[0].split(": ", 1)[0] for v in self.violations})

    def summary(self, width: int = 200) -> str:
        """The violations, each distinct one once (a stream repeats them chunk after chunk)."""
        lines = dict.fromkeys(v[:width] for v in self.violations)
        return (
            f"{self.door}: {len(self.violations)} violations in {len(self.cases_with_violations())} cases "
            f"({self.requests} requests, {self.checked} answers checked):\n" + "\n".join(lines)
        )
