"""Folders of data files (what LLaMA-Factory's ``file_name`` may name, what a hub snapshot holds):
the files of one split (``train`` unless ``folder:split`` says otherwise), each read by the reader
of its kind, one after another, rows numbered across them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from largeforge.contracts import DataReader, RowBatch
from largeforge.data.source import reader_for
from largeforge.errors import DataError

SPLITS = ("train", "test", "validation", "valid", "dev", "eval")
DATA_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv", ".tsv", ".arrow", ".ndjson")
#: Files beside the data that describe it (registries, ``datasets`` metadata), not rows.
NOT_DATA = frozenset({"dataset_info.json", "dataset_dict.json", "state.json", "dataset_infos.json"})


def names_split(name: str, path: str) -> bool:
    """Whether ``name`` appears in ``path`` as a word of its own (``train-000.parquet``, ``data/train/``)."""
    return re.search(rf"(^|[/._\- 0-9]){re.escape(name)}($|[/._\- 0-9])", path) is not None


def split_files(folder: Path, split: str) -> list[Path]:
    """The data files of ``split`` in a folder, by the file naming ``datasets`` follows: files whose
    path names the split, or every data file when none names any split."""
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in DATA_SUFFIXES
        and p.name not in NOT_DATA
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    relative = {p: p.relative_to(folder).as_posix().lower() for p in files}
    named = [p for p in files if names_split(split, relative[p])]
    if named:
        return named
    if split == "train" and not any(names_split(s, relative[p]) for p in files for s in SPLITS):
        return files
    return []


def files_batches(files: list[Path], size: int) -> Iterator[RowBatch]:
    """The rows of several files in order, numbered across them by index (a line number would not
    say which file)."""
    start = 0
    for file in files:
        rows = 0
        for batch in reader_for(str(file)).batches(str(file), size):
            yield RowBatch(start + batch.start, batch.rows, errors=batch.errors)
            rows = batch.start + len(batch.rows)
        start += rows


def _parts(location: str) -> tuple[Path, str]:
    folder, sep, split = location.rpartition(":")
    return (Path(folder), split) if sep and Path(folder).is_dir() else (Path(location), "train")


class FolderReader(DataReader):
    name = "folder"
    description = "Folders of data files (the train split, or folder:split), each file by its kind"

    def claims(self, location: str) -> bool:
        folder, _ = _parts(location)
        return folder.is_dir() and any(p.suffix.lower() in DATA_SUFFIXES for p in folder.rglob("*"))

    def local_path(self, location: str) -> Path:
        return _parts(location)[0]

    def batches(self, location: str, size: int = 4096) -> Iterator[RowBatch]:
        folder, split = _parts(location)
        files = split_files(folder, split)
        if not files:
            raise DataError(f"{location}: no data files for split {split!r} in {folder}")
        yield from files_batches(files, size)
