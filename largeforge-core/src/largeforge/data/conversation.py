"""The one internal form every data format converts to and from.

A :class:`Conversation` is a list of :class:`Message` turns; preference rows add a ``chosen``
and a ``rejected`` assistant reply to the prompt turns, and unpaired-preference (KTO) rows
carry a boolean ``label`` on their last assistant turn.

Roles are ``system``, ``user``, ``assistant``, ``tool_call`` (the assistant calling a
function; its content is the call as JSON) and ``tool`` (the function's result).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Role = Literal["system", "user", "assistant", "tool_call", "tool"]
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool_call", "tool")
Task = Literal["sft", "preference", "kto"]


def is_blank(text: str) -> bool:
    """Empty or whitespace only (without allocating a stripped copy: runs on every field)."""
    return not text or text.isspace()


class Message(msgspec.Struct, frozen=True):
    """One turn of a conversation."""

    role: Role
    content: str

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI / chat-template form. Tool calls become assistant turns whose content is
        the call's JSON, so every chat template can render them."""
        if self.role == "tool_call":
            return {"role": "assistant", "content": self.content}
        return {"role": self.role, "content": self.content}


class Conversation(msgspec.Struct):
    """A training example in LargeForge's internal form."""

    messages: list[Message]
    chosen: Message | None = None
    rejected: Message | None = None
    label: bool | None = None
    tools: str | None = None

    @property
    def task(self) -> Task:
        """``preference`` with chosen/rejected, ``kto`` with a label, else ``sft``."""
        if self.chosen is not None:
            return "preference"
        if self.label is not None:
            return "kto"
        return "sft"

    def replies(self) -> list[str]:
        """Texts the model is trained to produce: assistant turns, chosen and rejected."""
        texts = [m.content for m in self.messages if m.role == "assistant"]
        texts += [m.content for m in (self.chosen, self.rejected) if m is not None]
        return texts

    @property
    def system(self) -> str | None:
        """The system prompt, when the conversation starts with one."""
        if self.messages and self.messages[0].role == "system":
            return self.messages[0].content
        return None

    def to_record(self) -> dict[str, Any]:
        """A ``datasets`` row in the conversational layout TRL's trainers read.

        * sft: ``{"messages": [...]}``
        * preference: ``{"prompt": [...], "chosen": [assistant], "rejected": [assistant]}``
        * kto: ``{"prompt": [...], "completion": [assistant], "label": bool}``
        """
        turns = [m.to_openai() for m in self.messages]
        if self.task == "preference":
            assert self.chosen is not None and self.rejected is not None
            return {"prompt": turns, "chosen": [self.chosen.to_openai()],
                    "rejected": [self.rejected.to_openai()]}
        if self.task == "kto":
            return {"prompt": turns[:-1], "completion": turns[-1:], "label": self.label}
        return {"messages": turns}
