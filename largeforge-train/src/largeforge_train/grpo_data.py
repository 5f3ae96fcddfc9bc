"""Prompt-only data for GRPO: rows the model answers during training, plus the columns rewards read.

A row is ``{"prompt": "..."}``, ``{"prompt": [messages]}``, ``{"messages": [...]}`` whose last
turn is the user's, or Alpaca's ``instruction`` (with ``input``). Every other key of the row
(``answer``, ``solution``, ...) stays a column: TRL hands dataset columns to the reward functions
by name. Prompts become TRL's conversational layout (a list of messages), as in LargeForge's other
trainers, so the model's chat template applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from largeforge.data.reader import raw_rows
from largeforge.errors import DataError

if TYPE_CHECKING:
    import datasets

_ROLES = ("system", "user", "assistant")


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a JSON array or JSON Lines file as dicts (one-line errors naming file and row)."""
    rows = []
    for index, line, raw in raw_rows(path):
        where = f"{path}: line {line}" if line is not None else f"{path}: row {index}"
        try:
            row = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise DataError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object, found {type(row).__name__}")
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no rows")
    return rows


def _refuse_other_kinds(columns: set[str], where: str) -> None:
    if {"chosen", "rejected"} <= columns:
        raise DataError(
            f"{where}: `largeforge train grpo` needs prompts alone, but this is preference pairs "
            "(prompt/chosen/rejected): use `largeforge train dpo` (or orpo, simpo)"
        )
    if "label" in columns and ("completion" in columns or "messages" in columns):
        raise DataError(
            f"{where}: `largeforge train grpo` needs prompts alone, but this is unpaired preference "
            "data (a reply with a label): use `largeforge train kto`"
        )


def _messages(value: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: expected a non-empty list of messages")
    out = []
    for turn in value:
        if not isinstance(turn, dict) or turn.get("role") not in _ROLES or not isinstance(turn.get("content"), str):
            raise DataError(f"{where}: every message needs a role (system, user or assistant) and a string content")
        out.append({"role": turn["role"], "content": turn["content"]})
    if out[-1]["role"] != "user":
        raise DataError(
            f"{where}: the last message is the {out[-1]['role']}'s; GRPO generates the reply, so a "
            "prompt must end with the user's turn (keep a reference reply in a column such as answer)"
        )
    return out


def to_prompt_row(row: dict[str, Any], where: str) -> dict[str, Any]:
    """One row in TRL's conversational prompt layout, its other keys kept."""
    _refuse_other_kinds(set(row), where)
    extra = {k: v for k, v in row.items() if k not in ("prompt", "messages", "instruction", "input")}
    if "prompt" in row:
        prompt = row["prompt"]
        if isinstance(prompt, str):
            if not prompt.strip():
                raise DataError(f"{where}: empty prompt")
            return {"prompt": [{"role": "user", "content": prompt}], **extra}
        return {"prompt": _messages(prompt, f"{where}: prompt"), **extra}
    if "messages" in row:
        return {"prompt": _messages(row["messages"], f"{where}: messages"), **extra}
    if isinstance(row.get("instruction"), str) and row["instruction"].strip():
        text = row["instruction"] + (f"\n\n{row['input']}" if str(row.get("input") or "").strip() else "")
        return {"prompt": [{"role": "user", "content": text}], **extra}
    keys = ", ".join(sorted(row)) or "none"
    raise DataError(
        f"{where}: a GRPO row needs a prompt (or messages ending with the user's turn, or an "
        f"instruction); found keys {keys}"
    )


def to_prompt_dataset(data: datasets.Dataset | list[dict[str, Any]], source: str | None = None) -> datasets.Dataset:
    """Prompt rows (see the module docstring) as a ``datasets.Dataset`` TRL's ``GRPOTrainer`` reads.

    Preference pairs, labelled rows and conversations that end with a reply are refused in one line
    naming the row and the method that takes them."""
    import datasets as hf_datasets  # heavy: imported where used

    rows = data.to_list() if isinstance(data, hf_datasets.Dataset) else data
    prefix = f"{source}: " if source else ""
    if rows:
        _refuse_other_kinds(set(rows[0]), f"{prefix}row 0")
    converted = [to_prompt_row(row, f"{prefix}row {index}") for index, row in enumerate(rows)]
    if not converted:
        raise DataError(f"{prefix}no rows")
    try:
        return hf_datasets.Dataset.from_list(converted)
    except (TypeError, ValueError) as exc:  # pyarrow: a column with mixed types
        raise DataError(f"{prefix}rows disagree on a column's type ({' '.join(str(exc).split())[:200]})") from None


def load_prompt_dataset(path: str | Path) -> datasets.Dataset:
    """:func:`to_prompt_dataset` of a JSON/JSONL file."""
    return to_prompt_dataset(read_rows(path), str(path))


def check_reward_columns(rewards: list[tuple[str, Any]], columns: list[str], source: str | None = None) -> None:
    """Every column a reward reads must be in the data (one line naming the reward and the column)."""
    for name, reward in rewards:
        for column in getattr(reward, "columns", []):
            if column not in columns:
                where = f"{source}: " if source else ""
                raise DataError(
                    f"{where}reward {name!r} reads the column {column!r}, which the data lacks "
                    f"(columns: {', '.join(columns)})"
                )
