"""OpenAI chat ``messages`` (``role``/``content``), with an optional boolean ``label`` for
unpaired-preference (KTO) rows and assistant ``tool_calls``."""

from __future__ import annotations

from typing import Any

import msgspec

from largeforge.contracts import DataFormat, RowError
from largeforge.data.conversation import Conversation, Message
from largeforge.data.formats.sharegpt import check_alternation

_ROLES = {"system": "system", "user": "user", "assistant": "assistant", "tool": "tool",
          "function": "tool"}


class OpenAIMessage(msgspec.Struct):
    role: str
    content: str | None = None
    tool_calls: list[Any] | None = None


class MessagesRow(msgspec.Struct):
    messages: list[OpenAIMessage]
    label: bool | None = None
    tools: list[Any] | str | None = None


def openai_to_messages(items: list[OpenAIMessage], field: str = "messages") -> list[Message]:
    """Map OpenAI-style messages to internal ones, checking roles and empty contents."""
    out = []
    for i, item in enumerate(items):
        role = _ROLES.get(item.role)
        if role is None:
            raise RowError(
                f"{field}[{i}]: unknown role {item.role!r} (allowed: {', '.join(_ROLES)})"
            )
        if role == "assistant" and item.tool_calls:
            out.append(Message("tool_call", msgspec.json.encode(item.tool_calls).decode()))
            continue
        if item.content is None or not item.content.strip():
            raise RowError(f"{field}[{i}] ({item.role}): content is empty")
        out.append(Message(role, item.content))  # type: ignore[arg-type]
    return out


class MessagesFormat(DataFormat):
    name = "messages"
    description = "OpenAI chat messages (role/content); a boolean label makes it KTO"
    task = "sft"
    row_type = MessagesRow
    signature = frozenset({"messages"})

    def to_conversation(self, row: MessagesRow) -> Conversation:
        if len(row.messages) < 2:
            raise RowError(f"messages needs at least 2 entries, got {len(row.messages)}")
        messages = openai_to_messages(row.messages)
        check_alternation([m.role for m in messages], field="messages")
        tools = row.tools if isinstance(row.tools, str) or row.tools is None else (
            msgspec.json.encode(row.tools).decode())
        return Conversation(messages, label=row.label, tools=tools)

    def from_conversation(self, conversation: Conversation) -> dict[str, Any]:
        if conversation.task == "preference":
            raise RowError("a preference example cannot be written as messages")
        row: dict[str, Any] = {"messages": [m.to_openai() for m in conversation.messages]}
        if conversation.label is not None:
            row["label"] = conversation.label
        return row
