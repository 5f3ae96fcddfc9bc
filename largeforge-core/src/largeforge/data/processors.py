"""Text cleaning and chat formatting."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from largeforge.data.conversation import Conversation, Message
from largeforge.data.formats.alpaca import user_text
from largeforge.data.tools import parse_tools, template_knows_tools, template_messages

_SPACES = re.compile(r"\s+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
ELLIPSIS = "..."


class TextProcessor:
    """Stateless text clean-ups."""

    @staticmethod
    def normalize_whitespace(text: str) -> str:
        """Collapse every run of whitespace (newlines included) to one space; trim."""
        return _SPACES.sub(" ", text).strip()

    @staticmethod
    def clean_text(text: str) -> str:
        """NFKC-normalise, drop NUL bytes, collapse whitespace, trim."""
        return TextProcessor.normalize_whitespace(unicodedata.normalize("NFKC", text).replace("\x00", ""))

    @staticmethod
    def truncate(text: str, max_length: int, tokenizer: Any = None) -> str:
        """Cut to ``max_length`` tokens (with a tokenizer) or characters, adding an ellipsis."""
        if max_length <= 0:
            return ""
        if tokenizer is not None:
            ids = tokenizer.encode(text, add_special_tokens=False)
            if len(ids) <= max_length:
                return text
            return str(tokenizer.decode(ids[:max_length])).rstrip() + ELLIPSIS
        if len(text) <= max_length:
            return text
        return text[: max(max_length - len(ELLIPSIS), 0)].rstrip() + ELLIPSIS

    @staticmethod
    def remove_special_tokens(text: str, tokens: Sequence[str]) -> str:
        """Remove every occurrence of the given special tokens."""
        for token in tokens:
            text = text.replace(token, "")
        return text

    @staticmethod
    def remove_urls(text: str) -> str:
        """Remove http(s) and www URLs."""
        return _URL.sub("", text)

    @staticmethod
    def remove_emails(text: str) -> str:
        """Remove e-mail addresses."""
        return _EMAIL.sub("", text)


class ChatFormatter:
    """Render conversations with the tokenizer's chat template, or the spec's plain fallback."""

    def __init__(self, tokenizer: Any = None, chat_template: str | None = None) -> None:
        self.tokenizer = tokenizer
        self.chat_template = chat_template

    @property
    def has_template(self) -> bool:
        """Whether a chat template (given, or the tokenizer's) is available."""
        return bool(self.chat_template or getattr(self.tokenizer, "chat_template", None))

    def format_messages(
        self,
        messages: Sequence[dict[str, Any] | Message],
        add_generation_prompt: bool = False,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> str:
        """Apply the chat template (``tokenizer.apply_chat_template``) or the fallback:
        ``<|system|>\\n…\\n<|user|>\\n…\\n<|assistant|>\\n…``. ``tools`` (function definitions)
        go to a template that knows them, and into the system message as the server writes them
        (:mod:`largeforge.data.tools`) for one that does not."""
        turns = [m.to_openai() if isinstance(m, Message) else dict(m) for m in messages]
        template = self.chat_template or getattr(self.tokenizer, "chat_template", None)
        knows_tools = template_knows_tools(template)
        turns = template_messages(turns, tools, knows_tools)
        if self.has_template:
            kwargs: dict[str, Any] = {"tokenize": False, "add_generation_prompt": add_generation_prompt}
            if self.chat_template:
                kwargs["chat_template"] = self.chat_template
            if tools and knows_tools:
                kwargs["tools"] = list(tools)
            return str(self.tokenizer.apply_chat_template(turns, **kwargs))
        text = "\n".join(f"<|{t['role']}|>\n{t['content']}" for t in turns)
        return text + ("\n<|assistant|>\n" if add_generation_prompt else "")

    def format_conversation(self, conversation: Conversation) -> str:
        """Render any internal conversation (its turns, and its tools) as training text."""
        return self.format_messages(conversation.chat_messages(), tools=parse_tools(conversation.tools))

    def format_alpaca(self, example: Any) -> str:
        """Alpaca as chat: instruction (+ input) is the user turn, output the assistant's."""
        get = example.get if isinstance(example, dict) else lambda k, d="": getattr(example, k, d)
        messages: list[dict[str, str]] = []
        if get("system", None):
            messages.append({"role": "system", "content": str(get("system"))})
        messages += [
            {"role": "user", "content": user_text(get("instruction", ""), get("input", "") or "")},
            {"role": "assistant", "content": get("output", "")},
        ]
        return self.format_messages(messages)

    def format_sharegpt(self, example: Any) -> str:
        """ShareGPT rows (dicts or decoded) as chat."""
        import msgspec

        from largeforge.data.formats.sharegpt import ShareGPTFormat, ShareGPTRow

        row = example if isinstance(example, ShareGPTRow) else msgspec.convert(example, ShareGPTRow)
        return self.format_conversation(ShareGPTFormat().to_conversation(row))
