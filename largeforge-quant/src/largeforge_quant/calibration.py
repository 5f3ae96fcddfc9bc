"""Calibration data (spec 6.3): load, sample, truncate and cache the text a quantizer sees.

Sources, tried in this order:

* nothing given: LargeForge's built-in set (:data:`BUILTIN_SOURCE`, ``data/calibration.jsonl``),
  63 short texts written for the project (Apache-2.0) — prose on science, history and economics,
  how-tos, dialogues, instructions, code in eight languages, JSON/YAML/HTML, numbers and tables,
  logs, a tool call, and text in 14 languages — so ``largeforge quant gptq`` works offline;
* a ``.txt``/``.md`` file: one sample per paragraph (or per line when there are no blank lines);
* any file the core data layer reads (Alpaca, ShareGPT, OpenAI messages, DPO...): every
  conversation is rendered with the model's chat template, as the expert will see it;
* a JSON/JSONL file of ``{"text": ...}`` rows, or a directory saved with ``Dataset.save_to_disk``;
* a public dataset name (``wikitext``, ``c4``) only when it is already in the local Hugging Face
  cache. Nothing is fetched at run time; an unavailable source fails saying what to pass.

Each sample keeps its prompt and completion apart, so held-out rows (those not used for
calibration) can measure perplexity on completions only.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from largeforge.errors import DataError, LargeForgeError
from largeforge.utils.logging import get_logger

if TYPE_CHECKING:
    import datasets

logger = get_logger(__name__)

TEXT_SUFFIXES = (".txt", ".md", ".text")
#: Public calibration sets, by name: (hub id, config, split, text column).
NAMED_DATASETS: dict[str, tuple[str, str | None, str, str]] = {
    "wikitext": ("Salesforce/wikitext", "wikitext-2-raw-v1", "train", "text"),
    "wikitext-2-raw-v1": ("Salesforce/wikitext", "wikitext-2-raw-v1", "train", "text"),
    "c4": ("allenai/c4", "en", "validation", "text"),
}
#: LargeForge's own calibration set, shipped in the package (what an unset ``--calibration`` uses).
BUILTIN_SOURCE = "largeforge-builtin"
DEFAULT_SOURCE = BUILTIN_SOURCE
CACHE_VERSION = 1


def builtin_calibration_file() -> Path:
    """The packaged JSONL file of :data:`BUILTIN_SOURCE` (``{"text": ...}`` rows)."""
    return Path(__file__).with_name("data") / "calibration.jsonl"


def default_calibration_texts() -> list[str]:
    """The texts of LargeForge's built-in calibration set, in file order (no model needed):
    what GPTQ/AWQ calibrate on, and an importance-matrix run can use, when no source is given."""
    from largeforge.utils.io import load_jsonl

    return [row["text"] for row in load_jsonl(builtin_calibration_file())]


def describe_source(source: str | None) -> str:
    """How a report or progress line names a calibration source (the built-in one explained)."""
    if (source or DEFAULT_SOURCE) == BUILTIN_SOURCE:
        return f"{BUILTIN_SOURCE} (LargeForge's built-in set: prose, code, dialogue, 14 languages)"
    return str(source)


class CalibrationSourceError(LargeForgeError):
    """A calibration source cannot be used here; the message says what to pass instead."""


@dataclass(frozen=True)
class Sample:
    """One calibration or evaluation text: ``prompt`` (context) then ``completion``."""

    prompt: str
    completion: str

    @property
    def text(self) -> str:
        return self.prompt + self.completion


@dataclass
class CalibrationSplit:
    """Samples drawn from one source: ``calibration`` rows and disjoint ``heldout`` rows."""

    source: str
    calibration: list[Sample]
    heldout: list[Sample] = field(default_factory=list)
    total: int = 0

    @property
    def texts(self) -> list[str]:
        return [s.text for s in self.calibration]


def _unavailable(source: str, why: str) -> CalibrationSourceError:
    return CalibrationSourceError(
        f"calibration source {source!r} {why}; nothing is downloaded at run time: pass --calibration "
        "with a text/JSONL file or any dataset `largeforge data` reads (e.g. the expert's training data)"
    )


# -- reading sources -------------------------------------------------------------------------


def _text_file_samples(path: Path) -> list[Sample]:
    text = path.read_text(encoding="utf-8", errors="replace")
    parts = text.split("\n\n") if "\n\n" in text.strip() else text.splitlines()
    return [Sample("", p.strip()) for p in parts if p.strip()]


def _render(conversation: Any, formatter: Any) -> Sample:
    messages = list(conversation.messages)
    if conversation.chosen is not None:  # preference rows: calibrate on the preferred answer
        messages.append(conversation.chosen)
    full = formatter.format_messages(messages)
    if len(messages) > 1 and messages[-1].role == "assistant":
        prompt = formatter.format_messages(messages[:-1], add_generation_prompt=True)
        if full.startswith(prompt):
            return Sample(prompt, full[len(prompt) :])
    return Sample("", full)


def _text_rows(path: Path) -> list[Sample] | None:
    """Rows of a JSON/JSONL file that all carry a ``text`` string, else ``None``."""
    from largeforge.utils.io import load_json, load_jsonl

    try:
        rows = load_jsonl(path) if path.suffix.lower() in (".jsonl", ".ndjson") else load_json(path)
    except LargeForgeError:
        return None
    if isinstance(rows, list) and rows and all(isinstance(r, dict) and isinstance(r.get("text"), str) for r in rows):
        return [Sample("", r["text"]) for r in rows if r["text"].strip()]
    return None


def _file_samples(path: Path, tokenizer: Any) -> list[Sample]:
    if path.suffix.lower() in TEXT_SUFFIXES:
        return _text_file_samples(path)
    text_rows = _text_rows(path)
    if text_rows is not None:
        return text_rows
    from largeforge.data import ChatFormatter, load_conversations

    try:
        conversations = load_conversations(path, skip_invalid=True)
    except DataError as exc:
        raise DataError(f"{exc} (calibration files may also be plain text or JSONL rows with a 'text' field)") from None
    formatter = ChatFormatter(tokenizer)
    return [_render(c, formatter) for c in conversations]


def _dataset_rows(ds: datasets.Dataset, source: str, tokenizer: Any, column: str = "text") -> list[Sample]:
    if column in ds.column_names:
        return [Sample("", t) for t in ds[column] if isinstance(t, str) and t.strip()]
    if "messages" in ds.column_names:
        from largeforge.data import ChatFormatter, Conversation, Message

        formatter = ChatFormatter(tokenizer)
        return [
            _render(Conversation([Message(m["role"], m["content"]) for m in row]), formatter) for row in ds["messages"]
        ]
    raise DataError(f"{source}: dataset has no {column!r} or 'messages' column (has {', '.join(ds.column_names)})")


def _hub_cache_has(repo_id: str) -> bool:
    from datasets import config as ds_config
    from huggingface_hub.constants import HF_HUB_CACHE

    hub = Path(HF_HUB_CACHE) / f"datasets--{repo_id.replace('/', '--')}"
    legacy = Path(ds_config.HF_DATASETS_CACHE) / repo_id.split("/")[-1]
    return hub.is_dir() or legacy.is_dir()


def _named_samples(name: str, tokenizer: Any) -> list[Sample]:
    repo_id, config, split, column = NAMED_DATASETS[name]
    if not _hub_cache_has(repo_id):
        raise _unavailable(name, "is not in the local Hugging Face cache")
    import datasets

    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    os.environ.update(dict.fromkeys(saved, "1"))  # read from the cache only, never reach the hub
    try:
        ds = datasets.load_dataset(repo_id, config, split=split)
    except Exception as exc:
        raise _unavailable(name, f"cannot be loaded from the local cache ({type(exc).__name__})") from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return _dataset_rows(ds, name, tokenizer, column)


def _source_key(source: str, tokenizer: Any) -> tuple[str, str]:
    """(kind, cache key) of a source; the key changes when the file or the chat template does."""
    path = builtin_calibration_file() if source == BUILTIN_SOURCE else Path(source).expanduser()
    template = getattr(tokenizer, "chat_template", None) or ""
    if path.exists():
        stat = path.stat()
        ident = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        kind = "dir" if path.is_dir() else "file"
    elif source in NAMED_DATASETS:
        ident, kind = f"named:{source}", "named"
    else:
        raise _unavailable(
            source,
            "is neither an existing file or directory nor a known dataset "
            f"name ({', '.join(sorted([*NAMED_DATASETS, BUILTIN_SOURCE]))})",
        )
    digest = hashlib.sha256(f"v{CACHE_VERSION}|{ident}|{template}".encode()).hexdigest()[:24]
    return kind, digest


def cache_dir() -> Path:
    """Where rendered calibration sources are cached (``$LARGEFORGE_HOME/calibration``)."""
    from largeforge.models.paths import largeforge_home

    return largeforge_home() / "calibration"


def load_samples(source: str, tokenizer: Any = None, *, use_cache: bool = True) -> list[Sample]:
    """Every sample of ``source`` (file, saved dataset directory or local dataset name), cached."""
    kind, key = _source_key(source, tokenizer)
    cached = cache_dir() / f"{key}.json"
    if use_cache and cached.is_file():
        rows = json.loads(cached.read_text(encoding="utf-8"))
        logger.debug("calibration source %s from cache %s", source, cached)
        return [Sample(p, c) for p, c in rows]
    path = builtin_calibration_file() if source == BUILTIN_SOURCE else Path(source).expanduser()
    if kind == "file":
        samples = _file_samples(path, tokenizer)
    elif kind == "dir":
        import datasets

        try:
            ds = datasets.load_from_disk(str(path))
        except Exception:
            raise DataError(f"{path}: not a dataset saved with Dataset.save_to_disk; pass a data file") from None
        if isinstance(ds, datasets.DatasetDict):
            ds = ds["train"] if "train" in ds else next(iter(ds.values()))
        samples = _dataset_rows(ds, str(path), tokenizer)
    else:
        samples = _named_samples(source, tokenizer)
    if not samples:
        raise DataError(f"{source}: no calibration text (the source is empty)")
    if use_cache:
        from largeforge.utils.io import atomic_write

        atomic_write(cached, json.dumps([[s.prompt, s.completion] for s in samples], ensure_ascii=False))
    return samples


# -- sampling and truncation -----------------------------------------------------------------


def truncate_tokens(text: str, tokenizer: Any, max_tokens: int) -> str:
    """The first ``max_tokens`` tokens of ``text`` (unchanged when shorter)."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) <= max_tokens:
        return text
    return str(tokenizer.decode(ids[:max_tokens], clean_up_tokenization_spaces=False))


def load_calibration_split(
    source: str | None = None,
    tokenizer: Any = None,
    *,
    num_samples: int = 128,
    num_heldout: int = 0,
    seq_length: int = 512,
    seed: int = 0,
    use_cache: bool = True,
) -> CalibrationSplit:
    """Shuffle ``source`` with ``seed``; the first ``num_samples`` rows calibrate, the next
    ``num_heldout`` (disjoint) are kept for evaluation. Calibration texts are cut to
    ``seq_length`` tokens when a tokenizer is given. The built-in set is too small for both
    defaults (128 + 40): a quarter of it, at most ``num_heldout`` rows, is then held out."""
    source = source or DEFAULT_SOURCE
    samples = load_samples(source, tokenizer, use_cache=use_cache)
    if source == BUILTIN_SOURCE and num_samples + num_heldout > len(samples):
        num_heldout = min(num_heldout, len(samples) // 4)
        num_samples = min(num_samples, len(samples) - num_heldout)
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    chosen = [samples[i] for i in order[:num_samples]]
    heldout = [samples[i] for i in order[num_samples : num_samples + num_heldout]]
    if len(chosen) < num_samples:
        logger.warning(
            "calibration source %s has %d samples, fewer than the %d asked for", source, len(chosen), num_samples
        )
    if tokenizer is not None:
        chosen = [Sample("", truncate_tokens(s.text, tokenizer, seq_length)) for s in chosen]
    return CalibrationSplit(source, chosen, heldout, total=len(samples))


def get_calibration_data(
    dataset_name: str = DEFAULT_SOURCE,
    num_samples: int = 128,
    seq_length: int = 512,
    tokenizer: Any = None,
    seed: int = 0,
) -> list[str]:
    """``num_samples`` calibration texts from a source, each at most ``seq_length`` tokens
    (spec 6.3; without a tokenizer, texts are not truncated here but when tokenized)."""
    split = load_calibration_split(dataset_name, tokenizer, num_samples=num_samples, seq_length=seq_length, seed=seed)
    return split.texts


def prepare_calibration_dataset(texts: list[str], tokenizer: Any, seq_length: int = 512) -> datasets.Dataset:
    """Tokenize ``texts`` (truncated to ``seq_length``) into the dataset llm-compressor reads."""
    import datasets

    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise DataError("calibration data is empty: give at least one non-blank text")
    encoded = tokenizer(texts, truncation=True, max_length=seq_length, add_special_tokens=False)
    return datasets.Dataset.from_dict({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]})
