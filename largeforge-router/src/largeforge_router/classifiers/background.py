"""General questions learnt as the catch-all expert's examples ("outlier exposure").

A team's fallback expert answers everything the specialists do not: trivia, word origins, small
talk, writing help. A handful of its own training queries cannot draw that region, so a question
that merely mentions a domain word ("why is the dollar sign an S") lands in that domain with high
confidence. The bundled bank (``data/background.txt``, ~160 general questions, many of them with
words of common specialist domains) is added to the fallback expert's examples when the team has
one; ``background: false`` in the classifier settings turns it off (e.g. a team whose specialists
answer trivia themselves).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


@cache
def background_queries() -> tuple[str, ...]:
    """The bundled general questions (comments and blank lines skipped)."""
    text = resources.files("largeforge_router").joinpath("data/background.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def with_background(texts: Mapping[str, Sequence[str]], fallback_expert: str) -> dict[str, list[str]]:
    """``texts`` (expert → example texts) with the bank added to ``fallback_expert``'s, when that
    expert is one of them (unchanged otherwise)."""
    out = {name: list(values) for name, values in texts.items()}
    if fallback_expert in out:
        out[fallback_expert].extend(background_queries())
    return out
