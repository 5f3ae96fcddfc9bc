"""OpenAI chat ``messages`` (``role``/``content``), with an optional boolean ``label`` for
unpaired-preference (KTO) rows and assistant ``tool_calls``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from largeforge.contracts import DataFormat, RowError
from largeforge.data.conversation import Conversation, Message
from largeforge.data.formats.sharegpt import check_alternation
from largeforge.data.screen import (
    PLACEHOLDER_OPEN,
    SHORT_RESPONSE_CHARS,
    RoleCodes,
    failing_signatures,
    roles_of,
    signature_test,
)

_ROLES = {"system": "system", "user": "user", "assistant": "assistant", "tool": "tool",
          "function": "tool"}


# gc=False: rows hold only strings and lists, so they cannot form reference cycles, and a
# million tracked rows would make every garbage collection walk them all.
class OpenAIMessage(msgspec.Struct, gc=False):
    role: str
    content: str | None = None
    tool_calls: list[Any] | None = None


class MessagesRow(msgspec.Struct, gc=False):
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


def check_message_count(count: int) -> None:
    if count < 2:
        raise RowError(f"messages needs at least 2 entries, got {count}")


def check_role_order(roles: list[str]) -> None:
    """The turn rules of a messages row whose messages map to ``roles``."""
    check_message_count(len(roles))
    check_alternation(roles, field="messages")


_CODE = RoleCodes(_ROLES)  # screening
_valid_signature = signature_test(lambda signature: check_role_order(roles_of(signature)))


class MessagesFormat(DataFormat):
    name = "messages"
    description = "OpenAI chat messages (role/content); a boolean label makes it KTO"
    task = "sft"
    row_type = MessagesRow
    signature = frozenset({"messages"})

    def to_conversation(self, row: MessagesRow) -> Conversation:
        check_message_count(len(row.messages))
        messages = openai_to_messages(row.messages)
        check_alternation([m.role for m in messages], field="messages")
        tools = row.tools if isinstance(row.tools, str) or row.tools is None else (
            msgspec.json.encode(row.tools).decode())
        return Conversation(messages, label=row.label, tools=tools)

    def screen(self, rows: Sequence[MessagesRow], *, placeholders: bool = False) -> set[int]:
        short, code = SHORT_RESPONSE_CHARS, _CODE  # plain comprehensions: they run once per message
        suspects = {i for i, r in enumerate(rows) for m in r.messages if m.content is None or m.tool_calls
                    or len(m.content) <= short or m.content.isspace()}
        if placeholders:
            suspects.update(i for i, r in enumerate(rows)
                            if any(m.content and PLACEHOLDER_OPEN in m.content for m in r.messages))
        # Each row's roles as a string, one character per message; the turn rules then run once
        # per distinct string rather than once per row.
        signatures = ["".join([code[m.role] for m in r.messages]) for r in rows]
        return suspects | failing_signatures(signatures, _valid_signature)

    def from_conversation(self, conversation: Conversation) -> dict[str, Any]:
        if conversation.task == "preference":
            raise RowError("a preference example cannot be written as messages")
        row: dict[str, Any] = {"messages": [m.to_openai() for m in conversation.messages]}
        if conversation.label is not None:
            row["label"] = conversation.label
        return row
