"""TRL's prompt/completion rows: ``prompt`` and ``completion`` as strings (standard) or lists of
OpenAI messages (conversational), with a boolean ``label`` for unpaired preference (KTO) rows and
optional ``tools``."""

from __future__ import annotations

from typing import Any

import msgspec

from largeforge.contracts import DataFormat, RowError
from largeforge.data.conversation import Conversation, Message, as_messages, tools_text, tools_value
from largeforge.data.formats.messages import OpenAIMessage, openai_to_messages
from largeforge.data.formats.sharegpt import check_alternation


class PromptCompletionRow(msgspec.Struct, gc=False):
    prompt: str | list[OpenAIMessage]
    completion: str | list[OpenAIMessage]
    label: bool | None = None
    tools: str | list[Any] | None = None


def _side(value: str | list[OpenAIMessage], field: str, role: str) -> list[Message]:
    if isinstance(value, str):
        if not value.strip():
            raise RowError(f"{field} is empty")
        return [Message(role, value)]  # type: ignore[arg-type]
    if not value:
        raise RowError(f"{field} is empty")
    return openai_to_messages(value, field)


class PromptCompletionFormat(DataFormat):
    name = "prompt_completion"
    description = "TRL prompt/completion rows (strings or message lists; a boolean label makes it KTO)"
    task = "sft"
    row_type = PromptCompletionRow
    signature = frozenset({"prompt", "completion"})
    json_fields = frozenset({"tools"})

    def to_conversation(self, row: PromptCompletionRow) -> Conversation:
        prompt = _side(row.prompt, "prompt", "user")
        completion = _side(row.completion, "completion", "assistant")
        if prompt[-1].role not in ("user", "tool"):
            raise RowError("the prompt must end with a user turn")
        check_alternation([m.role for m in prompt + completion], field="prompt+completion")
        if row.label is not None and (len(completion) != 1 or completion[0].role != "assistant"):
            raise RowError("a labelled (KTO) row's completion must be one assistant reply")
        return Conversation(prompt + completion, label=row.label, tools=tools_text(row.tools))

    def uniform_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return as_messages(rows, {"prompt": "user", "completion": "assistant"})

    def from_conversation(self, conversation: Conversation) -> dict[str, Any]:
        if conversation.task == "preference":
            raise RowError("a preference example cannot be written as prompt_completion (write it as dpo)")
        *prompt, last = conversation.messages
        if last.role not in ("assistant", "tool_call") or not prompt:
            raise RowError("prompt_completion needs a conversation that ends with the assistant's reply")
        row: dict[str, Any]
        if len(prompt) == 1 and prompt[0].role == "user" and last.role == "assistant":
            row = {"prompt": prompt[0].content, "completion": last.content}
        else:
            row = {"prompt": Conversation(prompt).chat_messages(), "completion": Conversation([last]).chat_messages()}
        if conversation.tools:  # OpenAI's form: the definitions as JSON values
            row["tools"] = tools_value(conversation.tools)
        if conversation.label is not None:
            row["label"] = conversation.label
        return row
