"""Which kind of data each training method takes, and a one-line refusal naming the method that fits.

A loaded dataset holds one kind of example (the loader refuses mixes), told apart by its columns
(or, for a file, by its first row's :attr:`Conversation.task`, whose names these are): SFT
conversations, preference pairs, unpaired (KTO) rows with a boolean label, or bare prompts. A
trainer says which it takes in its ``data_kind`` class attribute; the hint in a refusal lists the
registered trainers that take the kind found, so a plugin's trainer is suggested too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from largeforge.errors import DataError

if TYPE_CHECKING:
    import datasets

#: data kind → how a user would recognise it
KINDS = {
    "sft": "SFT conversations (messages, or prompt/completion, without a label)",
    "preference": "preference pairs (prompt/chosen/rejected)",
    "kto": "unpaired preference rows (messages with a boolean label)",
    "prompt": "prompts alone (a prompt column)",
}


def data_kind(columns: Iterable[str]) -> str | None:
    """The kind of example a dataset with these columns holds, or ``None`` when unknown."""
    cols = set(columns)
    if {"chosen", "rejected"} <= cols:
        return "preference"
    if "label" in cols:
        return "kto"
    if "messages" in cols or "text" in cols or {"prompt", "completion"} <= cols:
        return "sft"
    if "prompt" in cols:
        return "prompt"
    return None


def methods_for(kind: str) -> list[str]:
    """Registered trainers whose ``data_kind`` is ``kind``, in registration order."""
    from largeforge.plugins import registries

    trainers = registries().trainers
    return [name for name in trainers.names() if getattr(trainers.get(name), "data_kind", None) == kind]


def mismatch(
    method: str,
    expected: str,
    found: str | None,
    where: str,
    *,
    columns: Iterable[str] = (),
    command: str = "largeforge train {}",
) -> str:
    """The one-line refusal of ``found`` data for ``method`` (which takes ``expected``), at ``where``;
    ``command`` spells a method (``"method {}"`` in a pipeline file)."""
    if found is None:
        holds = f"columns {', '.join(sorted(columns))}"
        hint = f"convert it to {KINDS.get(expected, expected)}"
    else:
        holds = KINDS.get(found, found)
        fits = methods_for(found)
        hint = (
            f"use `{command.format(fits[0])}`" + (f" (or {', '.join(fits[1:])})" if len(fits) > 1 else "")
            if fits
            else "no installed trainer takes it"
        )
    return f"{where}: `{command.format(method)}` needs {KINDS.get(expected, expected)}, but this is {holds}: {hint}"


def check_data_kind(method: str, expected: str | None, dataset: datasets.Dataset, source: str | None = None) -> None:
    """Raise :class:`DataError` when ``dataset`` is not the kind ``method`` trains on (``expected``;
    ``None`` checks nothing). The message names ``source`` (the file), the first row, what ``method``
    expects and which registered method takes the data instead."""
    if expected is None:
        return
    found = data_kind(dataset.column_names)
    if found != expected:
        where = f"{source}: row 0" if source else "row 0"
        raise DataError(mismatch(method, expected, found, where, columns=dataset.column_names))
