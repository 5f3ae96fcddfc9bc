"""The one internal form every data format converts to and from.

A :class:`Conversation` is a list of :class:`Message` turns; preference rows add a ``chosen``
and a ``rejected`` assistant reply to the prompt turns, and unpaired-preference (KTO) rows
carry a boolean ``label`` on their last assistant turn.

Roles are ``system``, ``user``, ``assistant``, ``tool_call`` (the assistant calling a
function; its content is the call as JSON) and ``tool`` (the function's result).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import msgspec

from largeforge.data.tools import call_text, calls_of

Role = Literal["system", "user", "assistant", "tool_call", "tool"]
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool_call", "tool")
Task = Literal["sft", "preference", "kto"]


def tools_text(tools: Any) -> str | None:
    """Tool definitions as the JSON text a :class:`Conversation` keeps (``None`` when absent)."""
    if tools is None or tools == "":
        return None
    return tools if isinstance(tools, str) else json.dumps(tools, ensure_ascii=False)


def tools_value(text: str) -> Any:
    """Tool definitions' JSON text as JSON values (OpenAI's form); the text itself when it is not JSON."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text


def is_blank(text: str) -> bool:
    """Empty or whitespace only (without allocating a stripped copy: runs on every field)."""
    return not text or text.isspace()


class Message(msgspec.Struct, frozen=True):
    """One turn of a conversation. A ``tool_call`` turn's ``content`` is the call as JSON
    (``{"name", "arguments"}``, or a list of them); ``preamble`` is what the assistant said with it."""

    role: Role
    content: str
    preamble: str | None = None

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI / chat-template form. Tool calls become assistant turns whose content is
        the call's JSON, so every chat template can render them."""
        if self.role == "tool_call":
            text = f"{self.preamble}\n{self.content}" if self.preamble else self.content
            return {"role": "assistant", "content": text}
        return {"role": self.role, "content": self.content}


class Conversation(msgspec.Struct):
    """A training example in LargeForge's internal form."""

    messages: list[Message]
    chosen: Message | None = None
    rejected: Message | None = None
    label: bool | None = None
    tools: str | None = None

    @property
    def task(self) -> Task:
        """``preference`` with chosen/rejected, ``kto`` with a label, else ``sft``."""
        if self.chosen is not None:
            return "preference"
        if self.label is not None:
            return "kto"
        return "sft"

    def replies(self) -> list[str]:
        """Texts the model is trained to produce: assistant turns, chosen and rejected."""
        texts = [m.content for m in self.messages if m.role == "assistant"]
        texts += [m.preamble for m in self.messages if m.preamble]
        texts += [m.content for m in (self.chosen, self.rejected) if m is not None]
        return texts

    @property
    def system(self) -> str | None:
        """The system prompt, when the conversation starts with one."""
        if self.messages and self.messages[0].role == "system":
            return self.messages[0].content
        return None

    def chat_messages(self) -> list[dict[str, Any]]:
        """The turns as OpenAI chat messages, tool calls as an assistant's ``tool_calls`` (what a
        chat template, or :func:`largeforge.data.tools.template_messages`, takes)."""
        return [_chat_message(m) for m in self.messages]

    def to_record(self) -> dict[str, Any]:
        """A ``datasets`` row in the conversational layout TRL's trainers read.

        * sft: ``{"messages": [...]}``
        * preference: ``{"prompt": [...], "chosen": [assistant], "rejected": [assistant]}``
        * kto: ``{"prompt": [...], "completion": [assistant], "label": bool}``

        A tool call is the assistant's text in the Hermes form the server renders and parses
        (:mod:`largeforge.data.tools`); tool definitions go in a ``tools`` column (JSON text), which
        TRL hands to a chat template that knows tools, and LargeForge's trainers write into the
        system message for one that does not.
        """
        turns = [_record_message(m) for m in self.messages]
        record: dict[str, Any]
        if self.task == "preference":
            assert self.chosen is not None and self.rejected is not None
            record = {
                "prompt": turns,
                "chosen": [_record_message(self.chosen)],
                "rejected": [_record_message(self.rejected)],
            }
        elif self.task == "kto":
            record = {"prompt": turns[:-1], "completion": turns[-1:], "label": self.label}
        else:
            record = {"messages": turns}
        if self.tools:
            record["tools"] = self.tools
        return record


def _chat_message(message: Message) -> dict[str, Any]:
    calls = calls_of(message.content) if message.role == "tool_call" else None
    if calls is None:
        return message.to_openai()
    return {"role": "assistant", "content": message.preamble, "tool_calls": calls}


def _record_message(message: Message) -> dict[str, Any]:
    calls = calls_of(message.content) if message.role == "tool_call" else None
    if calls is None:
        return message.to_openai()
    text = call_text(calls)  # as the server renders it (largeforge.data.tools.template_messages)
    return {"role": "assistant", "content": f"{message.preamble}\n{text}" if message.preamble else text}


def as_messages(rows: list[dict[str, Any]], roles: dict[str, str]) -> list[dict[str, Any]]:
    """``rows`` with each column of ``roles`` that holds a string in some rows and messages in
    others turned into messages everywhere (the string as one message of the column's role)."""
    mixed = [c for c in roles if len({type(r[c]) for r in rows if c in r} - {type(None)}) > 1]
    if not mixed:
        return rows
    return [
        {**row, **{c: [{"role": roles[c], "content": row[c]}] for c in mixed if isinstance(row.get(c), str)}}
        for row in rows
    ]
