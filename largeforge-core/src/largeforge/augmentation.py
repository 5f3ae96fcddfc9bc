"""Paraphrase augmentation of SFT data: every prompt asked again in other words, same reply.

A small expert trained on ten phrasings of a question answers those ten and misses the eleventh;
adding paraphrases of each prompt (the reply unchanged) teaches the fact rather than the words.
The paraphrases come from a teacher, any OpenAI-compatible chat endpoint (the base model served
by ``largeforge serve inference`` will do). Each prompt's paraphrases are asked for once and kept
in a JSON cache keyed by teacher, count and prompt, so a re-run asks nothing; every paraphrase is
checked (one line, not the prompt itself nor a repeat, a sane length) before it becomes a row.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from largeforge.data.conversation import Conversation, Message
from largeforge.errors import LargeForgeError
from largeforge.evaluation.metrics import normalize
from largeforge.utils.io import atomic_write

INSTRUCTION = (
    "Rewrite the question below in {n} different ways. Keep its meaning and every name, command "
    "and number in it. Write one rewrite per line, with no numbering and nothing else.\n\n"
    "Question: {prompt}"
)
#: Numbering or bullets a teacher puts in front of a line anyway.
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)]|\(\d+\))\s*")


class TeacherError(LargeForgeError):
    """The teacher endpoint could not be reached or answered something that is not a chat reply."""


class EndpointTeacher:
    """A teacher behind an OpenAI-compatible ``/v1/chat/completions`` endpoint."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 300) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout

    @property
    def name(self) -> str:
        """What the cache keys the teacher's answers by."""
        return f"{self.model}@{self.base_url}"

    def complete(self, prompt: str, temperature: float = 0.7) -> str:
        """The teacher's reply to one user message."""
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}], "temperature": temperature}
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read())
            return str(answer["choices"][0]["message"]["content"])
        except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise TeacherError(f"teacher {self.name}: {exc}") from None


def parse_paraphrases(text: str, prompt: str, count: int) -> tuple[list[str], list[str]]:
    """Up to ``count`` paraphrases of ``prompt`` from a teacher's reply, and the lines rejected
    (each with why): empty, the prompt itself, a repeat, or far longer than the prompt."""
    kept: list[str] = []
    rejected: list[str] = []
    seen = {normalize(prompt)}
    for raw in text.splitlines():
        line = _LIST_MARK.sub("", raw).strip().strip('"').strip()
        if not line:
            continue
        if normalize(line) in seen:
            rejected.append(f"{line!r}: the prompt itself or a repeat")
        elif len(line) > 3 * len(prompt) + 40:
            rejected.append(f"{line[:60]!r}…: far longer than the prompt")
        elif len(kept) < count:
            kept.append(line)
            seen.add(normalize(line))
    return kept, rejected


@dataclass
class Augmented:
    """The rows after augmentation and what it took."""

    rows: list[Conversation]
    added: int = 0
    asked: int = 0
    cached: int = 0
    rejected: list[str] = field(default_factory=list)


def _key(teacher: str, count: int, prompt: str) -> str:
    return hashlib.sha256(json.dumps([teacher, count, prompt]).encode()).hexdigest()[:24]


def _with_prompt(conversation: Conversation, turn: int, prompt: str) -> Conversation:
    messages = list(conversation.messages)
    messages[turn] = Message("user", prompt)
    return Conversation(messages, chosen=conversation.chosen, rejected=conversation.rejected)


def augment(conversations: list[Conversation], teacher: Any, count: int, cache: Path) -> Augmented:
    """``conversations`` followed by up to ``count`` paraphrases of each one's last user turn
    (same replies). ``teacher`` has ``name`` and ``complete(prompt)``; answers are cached in
    ``cache`` (written after every new answer, so an interrupted run keeps what it got)."""
    try:
        store: dict[str, list[str]] = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        store = {}
    result = Augmented(rows=list(conversations))
    for conversation in conversations:
        turn = max((i for i, m in enumerate(conversation.messages) if m.role == "user"), default=None)
        if turn is None:
            continue
        prompt = conversation.messages[turn].content
        key = _key(teacher.name, count, prompt)
        if key in store:
            result.cached += 1
        else:
            reply = teacher.complete(INSTRUCTION.format(n=count, prompt=prompt))
            store[key], rejected = parse_paraphrases(reply, prompt, count)
            result.rejected += [f"{prompt!r} → {line}" for line in rejected]
            result.asked += 1
            cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(cache, json.dumps(store, indent=1, ensure_ascii=False))
        for paraphrase in store[key]:
            result.rows.append(_with_prompt(conversation, turn, paraphrase))
            result.added += 1
    return result
