"""Summary statistics of a data file (``largeforge data stats``)."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from largeforge.data.conversation import Conversation
from largeforge.data.detect import get_format
from largeforge.data.rows import scan
from largeforge.data.source import as_source
from largeforge.data.tools import parse_tools


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "min": ordered[0],
        "mean": round(statistics.fmean(ordered), 1),
        "p50": ordered[len(ordered) // 2],
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
    }


def _prompt_and_response(conv: Conversation) -> tuple[str, str]:
    if conv.chosen is not None:
        return "\n".join(m.content for m in conv.messages), conv.chosen.content
    *prompt, last = conv.messages
    return "\n".join(m.content for m in prompt), last.content


def dataset_stats(path: Any, format: str = "auto", tokenizer: Any = None) -> dict[str, Any]:
    """Rows, validity, task kinds, roles, turns, lengths (characters, and tokens when a
    tokenizer is given), system prompts, tool definitions and calls, and exact duplicates.
    ``path`` is a path or a :class:`~largeforge.data.source.DataSource`."""
    path = as_source(path)
    fmt = get_format(format, path)
    rows = invalid = with_system = with_tools = with_tool_definitions = 0
    roles: Counter[str] = Counter()
    tasks: Counter[str] = Counter()
    turns: list[int] = []
    prompt_chars: list[int] = []
    response_chars: list[int] = []
    response_tokens: list[int] = []
    seen: Counter[int] = Counter()
    for row in scan(path, fmt):
        rows += 1
        conv = row.conversation
        if conv is None:
            invalid += 1
            continue
        seen[hash(row.key())] += 1
        tasks[conv.task] += 1
        roles.update(m.role for m in conv.messages)
        turns.append(len(conv.messages))
        with_system += conv.system is not None
        with_tools += any(m.role in ("tool_call", "tool") for m in conv.messages)
        with_tool_definitions += bool(parse_tools(conv.tools))
        prompt, response = _prompt_and_response(conv)
        prompt_chars.append(len(prompt))
        response_chars.append(len(response))
        if tokenizer is not None:
            response_tokens.append(len(tokenizer.encode(response, add_special_tokens=False)))
    stats: dict[str, Any] = {
        "path": str(path),
        "format": fmt.name,
        "rows": rows,
        "valid": rows - invalid,
        "invalid": invalid,
        "tasks": dict(tasks),
        "roles": dict(roles),
        "turns": _summary(turns),
        "prompt_chars": _summary(prompt_chars),
        "response_chars": _summary(response_chars),
        "with_system_prompt": with_system,
        "with_tool_calls": with_tools,
        "with_tool_definitions": with_tool_definitions,
        "duplicates": sum(n - 1 for n in seen.values() if n > 1),
    }
    if tokenizer is not None:
        stats["response_tokens"] = _summary(response_tokens)
    return stats
