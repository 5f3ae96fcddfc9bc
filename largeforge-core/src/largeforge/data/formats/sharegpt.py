"""ShareGPT: ``conversations`` of ``{"from", "value"}`` turns, with optional ``system`` and
``tools``. Tool-call turns (``function_call``, ``observation``) are supported."""

from __future__ import annotations

from typing import Any

import msgspec

from largeforge.contracts import DataFormat, RowError
from largeforge.data.conversation import Conversation, Message

#: ShareGPT speaker → internal role. ``user``/``assistant``/``tool`` appear in some exports.
ROLE_MAP = {
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bing": "assistant",
    "system": "system",
    "function_call": "tool_call",
    "observation": "tool", "tool": "tool",
}
_BACK = {"user": "human", "assistant": "gpt", "system": "system",
         "tool_call": "function_call", "tool": "observation"}
_ASKS = ("user", "tool")  # turns the model answers
_ANSWERS = ("assistant", "tool_call")  # turns the model produces


class ShareGPTTurn(msgspec.Struct):
    from_: str = msgspec.field(name="from")
    value: str


class ShareGPTRow(msgspec.Struct):
    conversations: list[ShareGPTTurn]
    system: str | None = None
    tools: str | None = None


def turns_to_messages(turns: list[ShareGPTTurn]) -> list[Message]:
    """Map ShareGPT turns to messages, checking roles and empty values."""
    messages = []
    for i, turn in enumerate(turns):
        role = ROLE_MAP.get(turn.from_)
        if role is None:
            allowed = ", ".join(sorted(set(ROLE_MAP)))
            raise RowError(f"conversations[{i}]: unknown speaker {turn.from_!r} (allowed: {allowed})")
        if not turn.value.strip():
            raise RowError(f"conversations[{i}] ({turn.from_}): value is empty")
        messages.append(Message(role, turn.value))  # type: ignore[arg-type]
    return messages


def check_alternation(messages: list[Message], *, end_with_answer: bool = True) -> None:
    """Turns after the system prompt alternate asks (user/tool) and answers (assistant/tool
    call), starting with an ask and, for SFT, ending with an answer."""
    body = messages[1:] if messages and messages[0].role == "system" else messages
    if any(m.role == "system" for m in body):
        raise RowError("a system turn may only come first")
    if not body:
        raise RowError("conversation has no turns besides the system prompt")
    for i, message in enumerate(body):
        want = _ASKS if i % 2 == 0 else _ANSWERS
        if message.role not in want:
            expected = " or ".join(_BACK[r] for r in want)
            offset = len(messages) - len(body)
            raise RowError(
                f"conversations[{i + offset}]: expected {expected}, got {_BACK[message.role]} "
                "(turns must alternate)"
            )
    if end_with_answer and body[-1].role not in _ANSWERS:
        raise RowError("conversation must end with a gpt (or function_call) turn")


class ShareGPTFormat(DataFormat):
    name = "sharegpt"
    description = "ShareGPT conversations (human/gpt/system, function_call/observation tools)"
    task = "sft"
    row_type = ShareGPTRow
    signature = frozenset({"conversations"})

    def to_conversation(self, row: ShareGPTRow) -> Conversation:
        messages = turns_to_messages(row.conversations)
        if row.system:
            if messages and messages[0].role == "system":
                raise RowError("system prompt given both as a field and as the first turn")
            messages.insert(0, Message("system", row.system))
        if len(row.conversations) < 2:
            raise RowError(f"conversations needs at least 2 turns, got {len(row.conversations)}")
        check_alternation(messages)
        return Conversation(messages, tools=row.tools or None)

    def from_conversation(self, conversation: Conversation) -> dict[str, Any]:
        if conversation.task != "sft":
            raise RowError(f"a {conversation.task} example cannot be written as sharegpt")
        row: dict[str, Any] = {
            "conversations": [{"from": _BACK[m.role], "value": m.content}
                              for m in conversation.messages]
        }
        if conversation.tools:
            row["tools"] = conversation.tools
        return row
