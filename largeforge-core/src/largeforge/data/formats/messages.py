"""OpenAI chat ``messages`` (``role``/``content``, the content a string or a list of text parts),
with an optional boolean ``label`` for unpaired-preference (KTO) rows, assistant ``tool_calls``
and the ``tools`` they may call."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import msgspec

from largeforge.contracts import DataFormat, RowError
from largeforge.data.conversation import Conversation, Message, tools_text, tools_value
from largeforge.data.formats.sharegpt import check_alternation
from largeforge.data.screen import PLACEHOLDER_OPEN, SHORT_RESPONSE_CHARS, TurnOrder, roles_of
from largeforge.data.tools import calls_of, loads_arguments

_ROLES = {"system": "system", "user": "user", "assistant": "assistant", "tool": "tool", "function": "tool"}


# gc=False: rows hold only strings and lists, so they cannot form reference cycles, and a
# million tracked rows would make every garbage collection walk them all.
class ContentPart(msgspec.Struct, gc=False):
    """One part of a message's content (OpenAI's ``[{"type": "text", "text": …}]``)."""

    type: str
    text: str | None = None


class OpenAIMessage(msgspec.Struct, gc=False):
    role: str
    content: str | list[ContentPart] | None = None
    tool_calls: list[Any] | None = None


class MessagesRow(msgspec.Struct, gc=False):
    messages: list[OpenAIMessage]
    label: bool | None = None
    tools: list[Any] | str | None = None


def content_text(content: str | list[ContentPart] | None, where: str) -> str | None:
    """A message's content as text: text parts joined by newlines; any other part is a row error."""
    if content is None or isinstance(content, str):
        return content
    texts = []
    for j, part in enumerate(content):
        if part.type != "text" or part.text is None:
            raise RowError(f"{where}.content[{j}]: {part.type!r} parts are not supported (text only)")
        texts.append(part.text)
    return "\n".join(texts)


def openai_to_messages(items: list[OpenAIMessage], field: str = "messages") -> list[Message]:
    """Map OpenAI-style messages to internal ones, checking roles and empty contents."""
    out = []
    for i, item in enumerate(items):
        role = _ROLES.get(item.role)
        if role is None:
            raise RowError(f"{field}[{i}]: unknown role {item.role!r} (allowed: {', '.join(_ROLES)})")
        content = content_text(item.content, f"{field}[{i}]")
        if role == "assistant" and item.tool_calls:
            preamble = content if content and content.strip() else None
            out.append(Message("tool_call", tool_call_content(item.tool_calls, f"{field}[{i}]"), preamble))
            continue
        if content is None or not content.strip():
            raise RowError(f"{field}[{i}] ({item.role}): content is empty")
        out.append(Message(role, content))  # type: ignore[arg-type]
    return out


def tool_call_content(tool_calls: list[Any], where: str) -> str:
    """An assistant's ``tool_calls`` as a ``tool_call`` turn's text: ``{"name", "arguments"}`` JSON
    (a list of them for parallel calls), the form ShareGPT data holds them in."""
    calls = calls_of(msgspec.json.encode(tool_calls).decode())
    if calls is None:
        raise RowError(f"{where}.tool_calls: expected calls with a function name and arguments")
    items = [{"name": c["function"]["name"], "arguments": loads_arguments(c["function"]["arguments"])} for c in calls]
    return json.dumps(items[0] if len(items) == 1 else items, ensure_ascii=False)


def check_message_count(count: int) -> None:
    if count < 2:
        raise RowError(f"messages needs at least 2 entries, got {count}")


def check_role_order(roles: list[str]) -> None:
    """The turn rules of a messages row whose messages map to ``roles``."""
    check_message_count(len(roles))
    check_alternation(roles, field="messages")


_TURNS = TurnOrder(_ROLES, lambda signature: check_role_order(roles_of(signature)))  # screening


class MessagesFormat(DataFormat):
    name = "messages"
    description = "OpenAI chat messages (role/content); a boolean label makes it KTO"
    task = "sft"
    row_type = MessagesRow
    signature = frozenset({"messages"})
    json_fields = frozenset({"tools"})

    def to_conversation(self, row: MessagesRow) -> Conversation:
        check_message_count(len(row.messages))
        messages = openai_to_messages(row.messages)
        check_alternation([m.role for m in messages], field="messages")
        return Conversation(messages, label=row.label, tools=tools_text(row.tools))

    def screen(self, rows: Sequence[MessagesRow], *, placeholders: bool = False) -> set[int]:
        short, code = SHORT_RESPONSE_CHARS, _TURNS.code  # plain comprehensions: they run once per message
        suspects = {
            i
            for i, r in enumerate(rows)
            for m in r.messages
            if m.content is None
            or m.tool_calls
            or m.content.__class__ is not str
            or len(m.content) <= short
            or m.content.isspace()
        }
        if placeholders:
            suspects.update(
                i for i, r in enumerate(rows) if any(m.content and PLACEHOLDER_OPEN in m.content for m in r.messages)
            )
        # Each row's roles as a string, one character per message; the turn rules then run once
        # per distinct string rather than once per row.
        signatures = ["".join([code[m.role] for m in r.messages]) for r in rows]
        return suspects | _TURNS.failing(signatures)

    def from_conversation(self, conversation: Conversation) -> dict[str, Any]:
        if conversation.task == "preference":
            raise RowError("a preference example cannot be written as messages (write it as dpo)")
        row: dict[str, Any] = {"messages": conversation.chat_messages()}
        if conversation.tools:  # OpenAI's form: the definitions as JSON values
            row["tools"] = tools_value(conversation.tools)
        if conversation.label is not None:
            row["label"] = conversation.label
        return row
