"""ShareGPT: ``conversations`` of ``{"from", "value"}`` turns, with optional ``system`` and
``tools``. Tool-call turns (``function_call``, ``observation``) are supported."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from largeforge.contracts import DataFormat, RowError
from largeforge.data.conversation import Conversation, Message, is_blank
from largeforge.data.screen import (
    PLACEHOLDER_OPEN,
    SHORT_RESPONSE_CHARS,
    RoleCodes,
    failing_signatures,
    roles_of,
    signature_test,
)

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


# gc=False: rows hold only strings and lists, so they cannot form reference cycles, and a
# million tracked rows would make every garbage collection walk them all.
class ShareGPTTurn(msgspec.Struct, gc=False):
    from_: str = msgspec.field(name="from")
    value: str


class ShareGPTRow(msgspec.Struct, gc=False):
    conversations: list[ShareGPTTurn]
    system: str | None = None
    tools: str | None = None


def speaker_roles(turns: list[ShareGPTTurn]) -> list[str]:
    """Internal roles of ShareGPT turns; an unknown speaker or an empty value is a row error."""
    roles = []
    for i, turn in enumerate(turns):
        role = ROLE_MAP.get(turn.from_)
        if role is None:
            allowed = ", ".join(sorted(set(ROLE_MAP)))
            raise RowError(f"conversations[{i}]: unknown speaker {turn.from_!r} (allowed: {allowed})")
        if is_blank(turn.value):
            raise RowError(f"conversations[{i}] ({turn.from_}): value is empty")
        roles.append(role)
    return roles


def check_alternation(roles: Sequence[str], *, end_with_answer: bool = True, field: str = "conversations") -> None:
    """Turns after the system prompt alternate asks (user/tool) and answers (assistant/tool
    call), starting with an ask and, for SFT, ending with an answer."""
    offset = 1 if roles and roles[0] == "system" else 0
    body = roles[offset:]
    if "system" in body:
        raise RowError("a system turn may only come first")
    if not body:
        raise RowError("conversation has no turns besides the system prompt")
    for i, role in enumerate(body):
        want = _ASKS if i % 2 == 0 else _ANSWERS
        if role not in want:
            expected = " or ".join(_BACK[r] for r in want)
            raise RowError(
                f"{field}[{i + offset}]: expected {expected}, got {_BACK[role]} (turns must alternate)"
            )
    if end_with_answer and body[-1] not in _ANSWERS:
        raise RowError("conversation must end with a gpt (or function_call) turn")


def check_turn_count(turns: int) -> None:
    if turns < 2:
        raise RowError(f"conversations needs at least 2 turns, got {turns}")


def check_speaker_order(roles: list[str], *, system_field: bool) -> None:
    """The turn rules of a ShareGPT row whose speakers map to ``roles``."""
    check_turn_count(len(roles))
    if system_field:
        if roles[0] == "system":
            raise RowError("system prompt given both as a field and as the first turn")
        check_alternation(["system", *roles])
    else:
        check_alternation(roles)


# Screening: "S" opens the signature of a row with a ``system`` field.
_CODE = RoleCodes(ROLE_MAP)
_valid_signature = signature_test(lambda s: check_speaker_order(roles_of(s.removeprefix("S")),
                                                                system_field=s.startswith("S")))


class ShareGPTFormat(DataFormat):
    name = "sharegpt"
    description = "ShareGPT conversations (human/gpt/system, function_call/observation tools)"
    task = "sft"
    row_type = ShareGPTRow
    signature = frozenset({"conversations"})

    def check(self, row: ShareGPTRow) -> Sequence[str]:
        roles = self._checked_roles(row)
        return [t.value for t, role in zip(row.conversations, roles, strict=True) if role in _ANSWERS]

    def screen(self, rows: Sequence[ShareGPTRow], *, placeholders: bool = False) -> set[int]:
        short, code = SHORT_RESPONSE_CHARS, _CODE  # plain comprehensions: they run once per turn
        suspects = {i for i, r in enumerate(rows) for t in r.conversations
                    if len(t.value) <= short or t.value.isspace()}
        if placeholders:
            suspects.update(i for i, r in enumerate(rows) if (r.system and PLACEHOLDER_OPEN in r.system)
                            or any(PLACEHOLDER_OPEN in t.value for t in r.conversations))
        # Each row's speakers as a string, one character per turn; the turn rules then run once
        # per distinct string rather than once per row.
        signatures = [("S" if r.system else "") + "".join([code[t.from_] for t in r.conversations])
                      for r in rows]
        return suspects | failing_signatures(signatures, _valid_signature)

    @staticmethod
    def _checked_roles(row: ShareGPTRow) -> list[str]:
        check_turn_count(len(row.conversations))  # before the turns, so a 1-turn row says so
        roles = speaker_roles(row.conversations)
        check_speaker_order(roles, system_field=bool(row.system))
        return roles

    def to_conversation(self, row: ShareGPTRow) -> Conversation:
        roles = self._checked_roles(row)
        messages = [Message(role, t.value) for role, t in zip(roles, row.conversations, strict=True)]  # type: ignore[arg-type]
        if row.system:
            messages.insert(0, Message("system", row.system))
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
