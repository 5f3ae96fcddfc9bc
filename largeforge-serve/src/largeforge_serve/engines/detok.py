"""Token ids → text pieces, and stop sequences that never leak into the output."""

from __future__ import annotations

from typing import Any


class IncrementalDetokenizer:
    """Decodes a growing list of token ids into text deltas.

    Decoding token by token breaks multi-byte characters and tokenizers that merge spaces, so
    each step decodes a short window (from ``prefix`` on) and emits only what the new token added
    — the approach of vLLM and TGI. An incomplete character (``\\ufffd`` at the end) is held back.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix = 0
        self.read = 0

    def _decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def add(self, token_id: int) -> str:
        """Append ``token_id``; return the text it completes (possibly empty)."""
        self.ids.append(token_id)
        before = self._decode(self.ids[self.prefix : self.read])
        after = self._decode(self.ids[self.prefix :])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self.prefix, self.read = self.read, len(self.ids)
            return after[len(before) :]
        return ""


class StopMatcher:
    """Cuts the output at the first stop sequence and holds back text that might start one.

    ``feed`` returns the text that is safe to emit and whether a stop sequence was hit; the stop
    sequence itself is never emitted. ``flush`` releases what was held back when generation ends
    for another reason.
    """

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.longest = max((len(s) for s in self.stops), default=0)
        self.text = ""
        self.emitted = 0

    def feed(self, delta: str) -> tuple[str, bool]:
        """Add ``delta``; return ``(text to emit, stopped)``."""
        self.text += delta
        if not self.stops:
            return self._release(len(self.text)), False
        start = max(0, self.emitted - self.longest + 1)
        hits = [i for i in (self.text.find(s, start) for s in self.stops) if i >= 0]
        if hits:
            return self._release(min(hits)), True
        return self._release(len(self.text) - self._held()), False

    def flush(self) -> str:
        """Everything not yet emitted (no stop sequence can complete any more)."""
        return self._release(len(self.text))

    def _held(self) -> int:
        """Length of the longest tail of the text that is a proper prefix of a stop sequence."""
        tail = self.text[-self.longest :]
        for size in range(min(len(tail), self.longest - 1), 0, -1):
            suffix = tail[-size:]
            if any(s.startswith(suffix) for s in self.stops):
                return size
        return 0

    def _release(self, end: int) -> str:
        end = max(end, self.emitted)
        out = self.text[self.emitted : end]
        self.emitted = end
        return out
