"""ShareGPT: ``conversations`` of ``{"from", "value"}`` turns (or ``{"role", "content"}``, as some
exports write them), with optional ``system``, ``tools`` and, for unpaired preference (KTO) rows,
a boolean ``label``. Tool-call turns (``function_call``, ``observation``) are supported."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from largeforge.contracts import DataFormat, RowError
from largeforge.data.conversation import Conversation, Message, is_blank, tools_text
from largeforge.data.screen import PLACEHOLDER_OPEN, SHORT_RESPONSE_CHARS, TurnOrder, roles_of

#: ShareGPT speaker → internal role. ``user``/``assistant``/``tool`` appear in some exports.
ROLE_MAP = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "system": "system",
    "function_call": "tool_call",
    "observation": "tool",
    "tool": "tool",
}
_BACK = {"user": "human", "assistant": "gpt", "system": "system", "tool_call": "function_call", "tool": "observation"}
_ASKS = ("user", "tool")  # turns the model answers
_ANSWERS = ("assistant", "tool_call")  # turns the model produces


# gc=False: rows hold only strings and lists, so they cannot form reference cycles, and a
# million tracked rows would make every garbage collection walk them all.
class ShareGPTTurn(msgspec.Struct, gc=False):
    from_: str | None = msgspec.field(default=None, name="from")
    value: str | None = None
    role: str | None = None
    content: str | None = None

    @property
    def speaker(self) -> str | None:
        return self.from_ if self.from_ is not None else self.role

    @property
    def text(self) -> str | None:
        return self.value if self.value is not None else self.content


class ShareGPTRow(msgspec.Struct, gc=False):
    conversations: list[ShareGPTTurn]
    system: str | None = None
    tools: str | list[Any] | None = None
    label: bool | None = None


def speaker_roles(turns: list[ShareGPTTurn]) -> list[str]:
    """Internal roles of ShareGPT turns; an unknown or missing speaker, or an empty value, is a row error."""
    roles = []
    for i, turn in enumerate(turns):
        speaker, text = turn.speaker, turn.text
        if speaker is None:
            raise RowError(f"conversations[{i}]: required field from (or role) is missing")
        role = ROLE_MAP.get(speaker)
        if role is None:
            allowed = ", ".join(sorted(set(ROLE_MAP)))
            raise RowError(f"conversations[{i}]: unknown speaker {speaker!r} (allowed: {allowed})")
        if text is None:
            raise RowError(f"conversations[{i}]: required field value (or content) is missing")
        if is_blank(text):
            raise RowError(f"conversations[{i}] ({speaker}): value is empty")
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
            raise RowError(f"{field}[{i + offset}]: expected {expected}, got {_BACK[role]} (turns must alternate)")
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
_TURNS = TurnOrder(
    ROLE_MAP, lambda s: check_speaker_order(roles_of(s.removeprefix("S")), system_field=s.startswith("S"))
)


class ShareGPTFormat(DataFormat):
    name = "sharegpt"
    description = "ShareGPT conversations (human/gpt/system, function_call/observation tools)"
    task = "sft"
    row_type = ShareGPTRow
    signature = frozenset({"conversations"})

    def check(self, row: ShareGPTRow) -> Sequence[str]:
        roles = self._checked_roles(row)
        return [t.text for t, role in zip(row.conversations, roles, strict=True) if role in _ANSWERS]  # type: ignore[misc]

    def screen(self, rows: Sequence[ShareGPTRow], *, placeholders: bool = False) -> set[int]:
        short, code = SHORT_RESPONSE_CHARS, _TURNS.code  # plain comprehensions: they run once per turn
        # role/content turns (value None) always get the exact check
        suspects = {
            i
            for i, r in enumerate(rows)
            for t in r.conversations
            if t.value is None or len(t.value) <= short or t.value.isspace()
        }
        suspects.update(
            i
            for i, r in enumerate(rows)
            if r.label is not None and (not r.conversations or code[r.conversations[-1].from_] != "a")
        )
        if placeholders:
            suspects.update(
                i
                for i, r in enumerate(rows)
                if (r.system and PLACEHOLDER_OPEN in r.system)
                or any(t.value and PLACEHOLDER_OPEN in t.value for t in r.conversations)
            )
        # Each row's speakers as a string, one character per turn; the turn rules then run once
        # per distinct string rather than once per row.
        signatures = [("S" if r.system else "") + "".join([code[t.from_] for t in r.conversations]) for r in rows]
        return suspects | _TURNS.failing(signatures)

    @staticmethod
    def _checked_roles(row: ShareGPTRow) -> list[str]:
        check_turn_count(len(row.conversations))  # before the turns, so a 1-turn row says so
        roles = speaker_roles(row.conversations)
        check_speaker_order(roles, system_field=bool(row.system))
        if row.label is not None and roles[-1] != "assistant":
            raise RowError("a labelled (KTO) row must end with the reply the label judges (a gpt turn)")
        return roles

    def to_conversation(self, row: ShareGPTRow) -> Conversation:
        roles = self._checked_roles(row)
        messages = [Message(role, t.text) for role, t in zip(roles, row.conversations, strict=True)]  # type: ignore[arg-type]
        if row.system:
            messages.insert(0, Message("system", row.system))
        return Conversation(messages, label=row.label, tools=tools_text(row.tools))

    def from_conversation(self, conversation: Conversation) -> dict[str, Any]:
        if conversation.task == "preference":
            raise RowError("a preference example cannot be written as sharegpt (write it as dpo)")
        if any(m.preamble for m in conversation.messages):
            raise RowError("a function_call turn cannot hold the assistant's words beside the call")
        row: dict[str, Any] = {
            "conversations": [{"from": _BACK[m.role], "value": m.content} for m in conversation.messages]
        }
        if conversation.tools:
            row["tools"] = conversation.tools
        if conversation.label is not None:
            row["label"] = conversation.label
        return row
