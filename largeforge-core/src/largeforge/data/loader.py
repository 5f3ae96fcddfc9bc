"""Load data files into conversations or a ``datasets.Dataset``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from largeforge.data.columns import ColumnMap
from largeforge.data.conversation import Conversation
from largeforge.data.detect import get_format
from largeforge.data.formats.alpaca import AlpacaRow, user_text
from largeforge.data.rows import scan
from largeforge.data.source import DataSource, open_source
from largeforge.errors import DataError
from largeforge.utils.logging import get_logger

if TYPE_CHECKING:
    import datasets

logger = get_logger(__name__)
_SHOWN_ERRORS = 3


def load_conversations(
    path: str | Path | DataSource,
    format: str = "auto",
    *,
    skip_invalid: bool = False,
    columns: ColumnMap | None = None,
    dataset_info: str | Path | None = None,
) -> list[Conversation]:
    """Every row of ``path`` (any location :func:`~largeforge.data.source.open_source` opens: a
    file of any supported kind, a ``datasets`` folder, a hub id, a name in ``dataset_info``) as a
    :class:`Conversation`, its columns mapped by ``columns``.

    Invalid rows raise :class:`DataError` (with the first few reasons and a count), so nothing
    is dropped silently; ``skip_invalid=True`` skips them with a warning instead.
    """
    source = open_source(path, columns=columns, dataset_info=dataset_info)
    fmt = get_format(format, source)
    conversations: list[Conversation] = []
    errors: list[str] = []
    for row in scan(source, fmt):
        if row.conversation is not None:
            conversations.append(row.conversation)
        else:
            errors.append(f"{row.location}: {row.error}")
    if errors:
        shown = "; ".join(errors[:_SHOWN_ERRORS])
        summary = f"{source}: {len(errors)} of {len(errors) + len(conversations)} rows are invalid ({shown}"
        summary += "; …)" if len(errors) > _SHOWN_ERRORS else ")"
        if not skip_invalid:
            raise DataError(f"{summary}; run `largeforge data validate {source}` to list them all")
        logger.warning("%s; skipped", summary)
    if not conversations:
        raise DataError(f"{source}: no valid rows")
    return conversations


def conversations_to_dataset(conversations: list[Conversation]) -> datasets.Dataset:
    """A ``datasets.Dataset`` in TRL's conversational layout (see ``Conversation.to_record``).

    ``datasets`` is not a dependency of largeforge-core (largeforge-train brings it)."""
    tasks = {c.task for c in conversations}
    if len(tasks) > 1:
        raise DataError(f"cannot mix example kinds in one dataset: {', '.join(sorted(tasks))}")
    try:
        import datasets
    except ImportError:
        raise DataError(
            "building a training dataset needs the `datasets` package, which largeforge-train "
            'brings: pip install "largeforge-core[train]" (or pip install datasets)'
        ) from None
    records = [c.to_record() for c in conversations]
    if any(c.tools for c in conversations):  # every row needs the column, for datasets' schema
        for record in records:
            record.setdefault("tools", None)
    return datasets.Dataset.from_list(records)


class DatasetFactory:
    """One entry point for every format."""

    @staticmethod
    def load(
        path: str | Path | DataSource,
        format: str = "auto",
        *,
        skip_invalid: bool = False,
        columns: ColumnMap | None = None,
        dataset_info: str | Path | None = None,
    ) -> datasets.Dataset:
        """Load ``path`` (format detected when ``"auto"``) as a ``datasets.Dataset``.

        SFT rows become ``messages``; preference rows ``prompt``/``chosen``/``rejected``;
        labelled (KTO) rows ``prompt``/``completion``/``label``; rows with tool definitions
        carry them in a ``tools`` column (JSON text, as TRL reads it).
        """
        return conversations_to_dataset(
            load_conversations(path, format, skip_invalid=skip_invalid, columns=columns, dataset_info=dataset_info)
        )


class FormatLoader:
    """A loader bound to one file and format (the spec's per-format loaders)."""

    format_name = "auto"

    def __init__(self, path: str | Path, tokenizer: Any = None) -> None:
        self.path = Path(path)
        self.tokenizer = tokenizer

    def load(self) -> list[Conversation]:
        """Load and validate every row (invalid rows raise :class:`DataError`)."""
        return load_conversations(self.path, self.format_name)

    def to_dataset(self) -> datasets.Dataset:
        """The rows as a ``datasets.Dataset``."""
        return conversations_to_dataset(self.load())


class AlpacaLoader(FormatLoader):
    format_name = "alpaca"

    @staticmethod
    def format_example(example: AlpacaRow | dict[str, str]) -> str:
        """The classic Alpaca prompt with its response (Input section only when non-empty)."""
        get = example.get if isinstance(example, dict) else lambda k, d="": getattr(example, k, d)
        instruction, input_text, output = get("instruction", ""), get("input", ""), get("output", "")
        text = f"### Instruction:\n{instruction}\n\n"
        if (input_text or "").strip():
            text += f"### Input:\n{input_text}\n\n"
        return text + f"### Response:\n{output}"


class ShareGPTLoader(FormatLoader):
    format_name = "sharegpt"

    @staticmethod
    def to_messages(example: Conversation) -> list[dict[str, str]]:
        """OpenAI-style ``{"role", "content"}`` messages of a conversation."""
        return [m.to_openai() for m in example.messages]


class DPOLoader(FormatLoader):
    format_name = "dpo"

    @staticmethod
    def validate_pair(example: Conversation) -> bool:
        """True when chosen and rejected differ (identical pairs are rejected on load)."""
        return bool(
            example.chosen and example.rejected and example.chosen.content.strip() != example.rejected.content.strip()
        )


__all__ = [
    "AlpacaLoader",
    "DPOLoader",
    "DatasetFactory",
    "FormatLoader",
    "ShareGPTLoader",
    "conversations_to_dataset",
    "load_conversations",
    "user_text",
]
