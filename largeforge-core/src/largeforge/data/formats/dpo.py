"""Preference pairs in the three dialects found in the wild.

* flat: ``{"prompt": str, "chosen": str, "rejected": str}`` (optional ``system``; ``question``
  is accepted for ``prompt``, as in orca_dpo_pairs);
* TRL conversational: ``prompt`` a list of messages, ``chosen``/``rejected`` lists holding the
  assistant reply (or, TRL's implicit-prompt form, whole conversations sharing a prefix);
* ShareGPT-style (LLaMA-Factory): ``conversations`` (the prompt turns) and ``chosen`` /
  ``rejected`` single ``{"from": "gpt", "value"}`` messages;
* Alpaca-style (LLaMA-Factory): ``instruction`` and an optional ``input`` (and ``history``, ``system``)
  with string ``chosen`` / ``rejected``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from largeforge.contracts import DataFormat, RowError
from largeforge.data.conversation import Conversation, Message, as_messages, tools_text
from largeforge.data.formats.alpaca import Pair, user_text
from largeforge.data.formats.messages import tool_call_content
from largeforge.data.formats.sharegpt import ROLE_MAP, check_alternation


class AnyTurn(msgspec.Struct):
    """A message in either OpenAI (role/content) or ShareGPT (from/value) spelling."""

    role: str | None = None
    content: str | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    value: str | None = None
    tool_calls: list[Any] | None = None


Side = str | list[AnyTurn] | AnyTurn


class PreferenceRow(msgspec.Struct):
    chosen: Side
    rejected: Side
    prompt: str | list[AnyTurn] | None = None
    question: str | None = None
    conversations: list[AnyTurn] | None = None
    system: str | None = None
    instruction: str | None = None
    input: str = ""
    history: list[Pair] | None = None
    tools: str | list[Any] | None = None


def _turn(turn: AnyTurn, where: str) -> Message:
    speaker = turn.role if turn.role is not None else turn.from_
    text = turn.content if turn.content is not None else turn.value
    role = ROLE_MAP.get(speaker or "")
    if role is None:
        raise RowError(f"{where}: unknown role {speaker!r}")
    if role == "assistant" and turn.tool_calls:
        return Message("tool_call", tool_call_content(turn.tool_calls, where))
    if text is None or not text.strip():
        raise RowError(f"{where}: content is empty")
    return Message(role, text)  # type: ignore[arg-type]


def _turns(turns: list[AnyTurn], field: str) -> list[Message]:
    return [_turn(t, f"{field}[{i}]") for i, t in enumerate(turns)]


def _reply(side: Side, field: str) -> list[Message]:
    if isinstance(side, str):
        if not side.strip():
            raise RowError(f"{field} is empty")
        return [Message("assistant", side)]
    if isinstance(side, AnyTurn):
        return [_turn(side, field)]
    if not side:
        raise RowError(f"{field} is empty")
    return _turns(side, field)


class PreferenceFormat(DataFormat):
    name = "dpo"
    description = "Preference pairs: flat prompt/chosen/rejected, TRL conversational, ShareGPT-style"
    task = "preference"
    row_type = PreferenceRow
    signature = frozenset({"chosen", "rejected"})
    json_fields = frozenset({"tools"})

    def to_conversation(self, row: PreferenceRow) -> Conversation:
        chosen = _reply(row.chosen, "chosen")
        rejected = _reply(row.rejected, "rejected")
        prompt = self._prompt(row)
        if prompt is None:  # TRL implicit prompt: chosen/rejected share the prompt turns
            prompt, chosen, rejected = _split_shared_prefix(chosen, rejected)
        if row.system:
            if prompt and prompt[0].role == "system":
                raise RowError("system prompt given both as a field and as the first turn")
            prompt.insert(0, Message("system", row.system))
        if len(chosen) != 1 or len(rejected) != 1:
            raise RowError("chosen and rejected must each be one assistant reply")
        for name, reply in (("chosen", chosen[0]), ("rejected", rejected[0])):
            if reply.role not in ("assistant", "tool_call"):
                raise RowError(f"{name} must be an assistant reply, got role {reply.role!r}")
        if chosen[0].content.strip() == rejected[0].content.strip():
            raise RowError("chosen and rejected are identical")
        check_alternation([m.role for m in prompt], end_with_answer=False, field="prompt")
        if prompt[-1].role not in ("user", "tool"):
            raise RowError("the prompt must end with a user turn")
        return Conversation(prompt, chosen=chosen[0], rejected=rejected[0], tools=tools_text(row.tools))

    @staticmethod
    def _prompt(row: PreferenceRow) -> list[Message] | None:
        if row.instruction is not None:
            if not row.instruction.strip():
                raise RowError("instruction is empty")
            turns: list[Message] = []
            for i, (question, answer) in enumerate(row.history or ()):
                if not question.strip() or not answer.strip():
                    raise RowError(f"history[{i}] has an empty turn")
                turns += [Message("user", question), Message("assistant", answer)]
            return [*turns, Message("user", user_text(row.instruction, row.input))]
        if row.conversations is not None:
            if not row.conversations:
                raise RowError("conversations is empty")
            return _turns(row.conversations, "conversations")
        text = row.prompt if row.prompt is not None else row.question
        if text is None:
            return None
        if isinstance(text, str):
            if not text.strip():
                raise RowError("prompt is empty")
            return [Message("user", text)]
        if not text:
            raise RowError("prompt is empty")
        return _turns(text, "prompt")

    def uniform_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return as_messages(rows, {"prompt": "user", "chosen": "assistant", "rejected": "assistant"})

    def from_conversation(self, conversation: Conversation) -> dict[str, Any]:
        if conversation.task != "preference":
            raise RowError(f"a {conversation.task} example has no chosen/rejected pair")
        assert conversation.chosen is not None and conversation.rejected is not None
        prompt = conversation.messages
        row: dict[str, Any]
        if (
            len(prompt) == 1
            and prompt[0].role == "user"
            and conversation.chosen.role == "assistant"
            and conversation.rejected.role == "assistant"
        ):
            row = {
                "prompt": prompt[0].content,
                "chosen": conversation.chosen.content,
                "rejected": conversation.rejected.content,
            }
        else:
            row = {
                "prompt": conversation.chat_messages(),
                "chosen": Conversation([conversation.chosen]).chat_messages(),
                "rejected": Conversation([conversation.rejected]).chat_messages(),
            }
        if conversation.tools:
            row["tools"] = conversation.tools
        return row


def _split_shared_prefix(
    chosen: list[Message], rejected: list[Message]
) -> tuple[list[Message], list[Message], list[Message]]:
    shared = 0
    while shared < min(len(chosen), len(rejected)) - 1 and chosen[shared] == rejected[shared]:
        shared += 1
    if shared == 0:
        raise RowError("no prompt: give prompt, or chosen/rejected conversations sharing it")
    return list(chosen[:shared]), chosen[shared:], rejected[shared:]
