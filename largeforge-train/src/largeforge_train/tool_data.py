"""Tool definitions in training data, where the chat template will see them.

A dataset built by :func:`largeforge.data.conversations_to_dataset` keeps each row's tool
definitions in a ``tools`` column (JSON text). TRL hands that column to ``apply_chat_template``,
which is all a template that renders tools needs. A template that does not (SmolLM2's) would drop
them silently; for it, the definitions are written into each row's system message as the server
writes them at inference (:func:`largeforge.data.tools.template_messages`), and the column goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from largeforge.data.tools import parse_tools, template_messages

if TYPE_CHECKING:
    import datasets

#: The column whose messages start a row (and so hold its system message).
_LEADING = ("messages", "prompt")


def fold_tools(dataset: datasets.Dataset, template_knows_tools: bool) -> datasets.Dataset:
    """``dataset`` unchanged when it has no ``tools`` column or the template renders tools; else
    with each row's tool block in its system message and no ``tools`` column."""
    if "tools" not in dataset.column_names or template_knows_tools:
        return dataset
    import datasets as hf_datasets  # with largeforge-train, on first use

    column = next((c for c in _LEADING if c in dataset.column_names), None)
    rows: list[dict[str, Any]] = []
    for row in dataset:
        row = dict(row)
        tools = parse_tools(row.pop("tools"))
        if column is not None and isinstance(row[column], list):
            row[column] = template_messages(row[column], tools, False)
        rows.append(row)
    return hf_datasets.Dataset.from_list(rows)
