"""Turn LargeForge SFT datasets into the prompt/completion layout TRL masks on.

Every assistant turn becomes one prompt/completion row (the conversation before it is the prompt),
so TRL's ``completion_only_loss`` trains each assistant reply exactly once, whatever the chat
template (SmolLM2's has no ``{% generation %}`` markers for ``assistant_only_loss``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from largeforge.errors import DataError

KTO_DATA = "this is unpaired preference data (messages with a boolean label): use `largeforge train kto`"

if TYPE_CHECKING:
    import datasets


def _assistant_turns(messages: list[dict[str, Any]], row: int, extra: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [
        {"prompt": messages[:i], "completion": [m], **extra}
        for i, m in enumerate(messages)
        if m["role"] == "assistant" and i > 0
    ]
    if not rows:
        raise DataError(f"row {row}: no assistant reply after a prompt to train on")
    return rows


def to_prompt_completion(dataset: datasets.Dataset) -> datasets.Dataset:
    """``messages`` rows → one ``prompt``/``completion`` row per assistant turn.

    Datasets already in prompt/completion or plain ``text`` form pass through; preference
    datasets are refused with a hint (they are for ``train dpo``), and so are labelled (KTO) rows.
    """
    import datasets as hf_datasets  # heavy: imported where used

    columns = set(dataset.column_names)
    if "label" in columns:
        raise DataError(KTO_DATA)
    if {"prompt", "completion"} <= columns or "text" in columns:
        return dataset
    if {"chosen", "rejected"} <= columns:
        raise DataError("this is a preference dataset (prompt/chosen/rejected): use `largeforge train dpo`")
    if "messages" not in columns:
        raise DataError(f"an SFT dataset needs a 'messages' column; found {', '.join(sorted(columns))}")
    rows: list[dict[str, Any]] = []
    tools = dataset["tools"] if "tools" in columns else None  # each reply's row keeps its tools
    for index, messages in enumerate(dataset["messages"]):
        rows.extend(_assistant_turns(messages, index, {"tools": tools[index]} if tools is not None else {}))
    return hf_datasets.Dataset.from_list(rows)


def check_preference_dataset(dataset: datasets.Dataset) -> None:
    """A DPO dataset must have prompt, chosen and rejected columns."""
    missing = {"prompt", "chosen", "rejected"} - set(dataset.column_names)
    if "label" in dataset.column_names:
        raise DataError(KTO_DATA)
    if missing:
        raise DataError(f"a preference dataset needs prompt, chosen and rejected; missing {', '.join(sorted(missing))}")
