"""Alpaca: ``instruction`` / ``input`` / ``output``, with LLaMA-Factory's optional
``system``, ``history`` (earlier ``[instruction, output]`` pairs), ``tools`` and, for unpaired
preference (KTO) rows, a boolean ``label`` (LLaMA-Factory's ``kto_tag``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import msgspec

from largeforge.contracts import DataFormat, RowError
from largeforge.data.conversation import Conversation, Message, is_blank, tools_text
from largeforge.data.screen import PLACEHOLDER_OPEN, SHORT_RESPONSE_CHARS

Pair = Annotated[list[str], msgspec.Meta(min_length=2, max_length=2)]


# gc=False: rows hold only strings and lists of strings, so they cannot form reference
# cycles, and a million tracked rows would make every garbage collection walk them all.
class AlpacaRow(msgspec.Struct, gc=False):
    instruction: str
    output: str
    input: str = ""
    system: str | None = None
    history: list[Pair] | None = None
    tools: str | list[Any] | None = None
    label: bool | None = None


def user_text(instruction: str, input_text: str) -> str:
    """The user turn of an Alpaca row: instruction, then the input on its own paragraph."""
    return f"{instruction}\n\n{input_text}" if input_text.strip() else instruction


class AlpacaFormat(DataFormat):
    name = "alpaca"
    description = "Alpaca instruction/input/output rows (optional system and history)"
    task = "sft"
    row_type = AlpacaRow
    signature = frozenset({"instruction", "output"})
    json_fields = frozenset({"tools"})

    def check(self, row: AlpacaRow) -> Sequence[str]:
        # Emptiness is checked here, not as a msgspec constraint, so one bad row does not
        # knock the whole file off msgspec's single-call fast path (see reader.decode_rows).
        if is_blank(row.instruction):
            raise RowError("instruction is empty")
        if is_blank(row.output):
            raise RowError("output is empty")
        for i, (instruction, output) in enumerate(row.history or ()):
            if is_blank(instruction) or is_blank(output):
                raise RowError(f"history[{i}] has an empty turn")
        return (row.output,)

    def screen(self, rows: Sequence[AlpacaRow], *, placeholders: bool = False) -> set[int]:
        short = SHORT_RESPONSE_CHARS  # one comprehension per question: they run once per row
        suspects = {
            i
            for i, r in enumerate(rows)
            if r.history
            or len(r.instruction) <= short
            or len(r.output) <= short
            or r.instruction.isspace()
            or r.output.isspace()
        }
        if placeholders:
            suspects.update(
                i
                for i, r in enumerate(rows)
                if PLACEHOLDER_OPEN in r.instruction
                or PLACEHOLDER_OPEN in r.output
                or PLACEHOLDER_OPEN in r.input
                or (r.system and PLACEHOLDER_OPEN in r.system)
            )
        return suspects

    def to_conversation(self, row: AlpacaRow) -> Conversation:
        self.check(row)
        messages: list[Message] = []
        if row.system:
            messages.append(Message("system", row.system))
        for instruction, output in row.history or []:
            messages += [Message("user", instruction), Message("assistant", output)]
        messages += [Message("user", user_text(row.instruction, row.input)), Message("assistant", row.output)]
        return Conversation(messages, label=row.label, tools=tools_text(row.tools))

    def from_conversation(self, conversation: Conversation) -> dict[str, Any]:
        if conversation.task == "preference":
            raise RowError("a preference example cannot be written as alpaca (write it as dpo)")
        turns = list(conversation.messages)
        row: dict[str, Any] = {}
        if turns and turns[0].role == "system":
            row["system"] = turns.pop(0).content
        if (
            len(turns) < 2
            or len(turns) % 2
            or any(t.role != ("user" if i % 2 == 0 else "assistant") for i, t in enumerate(turns))
        ):
            raise RowError("alpaca needs alternating user/assistant turns without tool calls")
        history = [[turns[i].content, turns[i + 1].content] for i in range(0, len(turns) - 2, 2)]
        row.update(instruction=turns[-2].content, input="", output=turns[-1].content)
        if history:
            row["history"] = history
        if conversation.tools:
            row["tools"] = conversation.tools
        if conversation.label is not None:
            row["label"] = conversation.label
        return row
