"""Preflight: render and tokenize a few examples before anything trains.

It stops, with a message saying what to change, on the failures users of fine-tuning frameworks
report most: a model that never stops talking (completions do not end with the tokenizer's EOS),
a loss mask that covers nothing, a tokenizer without chat template, and data that is entirely cut
off by ``max_seq_length``. It needs only the tokenizer, so it runs before the model loads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from largeforge.utils.logging import get_logger
from largeforge_train.errors import PreflightError

if TYPE_CHECKING:
    from datasets import Dataset

logger = get_logger(__name__)
SAMPLE_SIZE = 16


@dataclass
class PreflightReport:
    """What the preflight saw on the sampled examples."""

    checked: int = 0
    truncated: int = 0
    trained_tokens: int = 0
    warnings: list[str] = field(default_factory=list)


def load_chat_template(chat_template: str | None) -> str | None:
    """A chat template given inline or as a path to a Jinja file."""
    if chat_template and len(chat_template) < 4096 and Path(chat_template).is_file():
        return Path(chat_template).read_text()
    return chat_template


def check_chat_template(tokenizer: Any, chat_template: str | None = None) -> None:
    """Conversational data needs a chat template: the tokenizer's own or one given."""
    if chat_template is None and not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "the tokenizer")
        raise PreflightError(
            f"{name} has no chat template and none was given: pass --chat-template (a Jinja file or "
            "string), or use an instruct model's tokenizer"
        )


def _ids(tokenizer: Any, messages: list[dict[str, Any]], template: str | None, *, generation: bool) -> list[int]:
    out = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, chat_template=template, add_generation_prompt=generation
    )
    return list(out["input_ids"])


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _conversational(dataset: Dataset, tokenizer: Any, chat_template: str | None) -> bool:
    """Whether the rows' prompts are conversations, which need a chat template (checked)."""
    conversational = isinstance(dataset[0]["prompt"], list)
    if conversational:
        check_chat_template(tokenizer, chat_template)
    return conversational


def _tokenized(
    tokenizer: Any, prompt: list[dict[str, Any]], reply: list[dict[str, Any]], template: str | None
) -> tuple[list[int], list[int]]:
    """The ids of the prompt (generation prompt added) and of the prompt with its reply."""
    prompt_ids = _ids(tokenizer, prompt, template, generation=True)
    return prompt_ids, _ids(tokenizer, prompt + reply, template, generation=False)


def _sampled_replies(
    dataset: Dataset, tokenizer: Any, chat_template: str | None, sample_size: int, sides: tuple[str, ...]
) -> Iterator[tuple[str, list[int], list[int]]]:
    """(column, prompt ids, conversation ids) of the reply in each of the ``sides`` columns of the
    sampled rows, each checked to end with the tokenizer's EOS token; none for plain-text rows
    (TRL appends EOS itself)."""
    if not _conversational(dataset, tokenizer, chat_template):
        return
    for index in range(min(sample_size, len(dataset))):
        row = dataset[index]
        for side in sides:
            prompt_ids, full = _tokenized(tokenizer, row["prompt"], row[side], chat_template)
            if tokenizer.eos_token_id not in full[_common_prefix(prompt_ids, full) :]:
                which = f"the {side} reply" if len(sides) > 1 else "the reply"
                raise PreflightError(
                    f"example {index}: {which} does not end with the tokenizer's EOS token "
                    f"{tokenizer.eos_token!r}: set --eos-token to the chat template's end-of-turn token"
                )
            yield side, prompt_ids, full


def preflight_sft(
    dataset: Dataset,
    tokenizer: Any,
    *,
    max_length: int,
    completion_only: bool = True,
    packing: bool = False,
    chat_template: str | None = None,
    sample_size: int = SAMPLE_SIZE,
) -> PreflightReport:
    """Check up to ``sample_size`` prompt/completion (or ``text``) rows as TRL will tokenize them.

    Raises :class:`PreflightError` naming the first offending example when the loss mask covers
    nothing, completions do not end with EOS, or every sampled example exceeds ``max_length``.
    ``packing`` checks the same: TRL's best-fit-decreasing packing truncates an example longer than
    ``max_length`` exactly as unpacked training does.
    """
    del packing  # same limits packed or not (see above)
    report = PreflightReport()
    eos_id = tokenizer.eos_token_id
    conversational = "prompt" in dataset.column_names and _conversational(dataset, tokenizer, chat_template)
    empty: list[int] = []
    no_eos: list[tuple[int, str]] = []
    for index in range(min(sample_size, len(dataset))):
        row = dataset[index]
        if conversational:
            prompt_ids, full = _tokenized(tokenizer, row["prompt"], row["completion"], chat_template)
            start = _common_prefix(prompt_ids, full) if completion_only else 0
        elif "prompt" in dataset.column_names:  # plain prompt/completion text: TRL appends EOS
            prompt_ids = tokenizer(row["prompt"])["input_ids"]
            full = tokenizer(row["prompt"] + row["completion"])["input_ids"] + [eos_id]
            start = len(prompt_ids) if completion_only else 0
        else:  # language modelling text: TRL appends EOS, the whole text is trained
            full, start = tokenizer(row["text"])["input_ids"] + [eos_id], 0
        report.checked += 1
        trained = full[start:]
        # Packing (best-fit decreasing) keeps whole examples and cuts longer ones at max_length,
        # exactly as truncation without packing does.
        kept = full[start:max_length]
        if len(full) > max_length:
            report.truncated += 1
        report.trained_tokens += len(kept)
        if not trained:
            empty.append(index)
        elif eos_id not in trained:
            no_eos.append((index, tokenizer.decode(trained[-3:])))
    if report.checked and len(empty) == report.checked:
        raise PreflightError(
            f"the loss mask covers nothing: in the {report.checked} examples checked, no token of the reply is "
            "trained (the chat template renders nothing after the prompt). Fix the chat template, or use "
            "--train-on-prompt to train on whole sequences"
        )
    if no_eos:
        index, tail = no_eos[0]
        raise PreflightError(
            f"examples do not end with the tokenizer's EOS token {tokenizer.eos_token!r} ({len(no_eos)} of "
            f"{report.checked} checked; example {index} ends with {tail!r}): the model would never learn to stop. "
            "Set --eos-token to the chat template's end-of-turn token, or fix the template"
        )
    if report.checked and report.truncated == report.checked:
        raise PreflightError(
            f"every example is truncated: all {report.checked} examples checked are longer than "
            f"max_seq_length={max_length} tokens, so no reply would be learned whole. Raise --max-length"
        )
    if empty:
        report.warnings.append(f"{len(empty)} of {report.checked} examples have nothing to train on; TRL drops them")
    if report.truncated:
        report.warnings.append(
            f"{report.truncated} of {report.checked} examples are longer than "
            f"max_seq_length={max_length} and will be truncated"
        )
    for warning in report.warnings:
        logger.warning("preflight: %s", warning)
    return report


def preflight_dpo(
    dataset: Dataset,
    tokenizer: Any,
    *,
    max_length: int,
    chat_template: str | None = None,
    sample_size: int = SAMPLE_SIZE,
) -> PreflightReport:
    """Check preference rows: chat template present, replies end with EOS, not all truncated."""
    report = PreflightReport(checked=min(sample_size, len(dataset)))
    replies = _sampled_replies(dataset, tokenizer, chat_template, sample_size, ("chosen", "rejected"))
    report.truncated = sum(len(full) > max_length for side, _, full in replies if side == "chosen")
    if report.checked and report.truncated == report.checked:
        raise PreflightError(
            f"every example is truncated: all {report.checked} examples checked are longer "
            f"than max_length={max_length} tokens. Raise --max-length"
        )
    return report


def preflight_kto(
    dataset: Dataset,
    tokenizer: Any,
    *,
    max_length: int,
    chat_template: str | None = None,
    sample_size: int = SAMPLE_SIZE,
) -> PreflightReport:
    """Check unpaired (KTO) rows as TRL's ``KTOTrainer`` tokenizes them: a chat template, replies
    that end with EOS, and prompts that leave room for a reply (TRL drops a row whose prompt
    alone fills ``max_length``). Only one label in the whole set is a warning: no reward margin."""
    report = PreflightReport(checked=min(sample_size, len(dataset)))
    dropped = 0
    for _, prompt_ids, full in _sampled_replies(dataset, tokenizer, chat_template, sample_size, ("completion",)):
        dropped += len(prompt_ids) >= max_length
        report.truncated += len(full) > max_length
    if report.checked and dropped == report.checked:
        raise PreflightError(
            f"every prompt fills max_length={max_length}: all {report.checked} examples checked "
            "would be dropped. Raise --max-length"
        )
    labels = set(dataset["label"])
    if len(labels) < 2:
        report.warnings.append(
            f"every row is labelled {labels.pop() if labels else None}: KTO learns from both "
            "desirable and undesirable replies, and no reward margin can be measured"
        )
    if dropped:
        report.warnings.append(
            f"{dropped} of {report.checked} examples have a prompt of max_length={max_length} "
            "tokens or more and will be dropped (raise --max-length to keep them)"
        )
    if report.truncated > dropped:
        report.warnings.append(
            f"{report.truncated - dropped} of {report.checked} examples are longer than "
            f"max_length={max_length} and will be truncated"
        )
    for warning in report.warnings:
        logger.warning("preflight: %s", warning)
    return report
