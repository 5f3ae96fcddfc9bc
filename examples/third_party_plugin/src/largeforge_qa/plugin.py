"""Registers the ``qa`` data format: ``{"question", "answer", "context"?}`` rows."""

from __future__ import annotations

from typing import Any

import msgspec

from largeforge import hookimpl
from largeforge.contracts import DataFormat, RowError
from largeforge.data.conversation import Conversation, Message


class QARow(msgspec.Struct):
    question: str
    answer: str
    context: str = ""


class QAFormat(DataFormat):
    name = "qa"
    description = "question/answer pairs with optional context"
    task = "sft"
    row_type = QARow
    signature = frozenset({"question", "answer"})

    def to_conversation(self, row: QARow) -> Conversation:
        if not row.question.strip():
            raise RowError("question is empty")
        if not row.answer.strip():
            raise RowError("answer is empty")
        prompt = f"{row.context}\n\n{row.question}" if row.context.strip() else row.question
        return Conversation([Message("user", prompt), Message("assistant", row.answer)])

    def from_conversation(self, conversation: Conversation) -> dict[str, Any]:
        turns = [m for m in conversation.messages if m.role != "system"]
        if conversation.task != "sft" or len(turns) != 2:
            raise RowError("qa holds single-turn question/answer pairs only")
        return {"question": turns[0].content, "answer": turns[1].content}


@hookimpl
def register_formats(register):  # type: ignore[no-untyped-def]
    register(QAFormat())
