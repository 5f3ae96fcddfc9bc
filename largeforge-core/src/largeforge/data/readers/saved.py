"""Folders written by ``datasets``' ``save_to_disk``: a ``Dataset`` (``state.json`` listing its
Arrow files) or a ``DatasetDict`` (``dataset_dict.json`` and a folder per split, of which ``train``
is read, or the only one). The Arrow files are read directly, batch by batch: no ``datasets``
import, nothing loaded whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from largeforge.contracts import DataReader, RowBatch
from largeforge.data.readers.arrow import arrow_batches
from largeforge.errors import DataError

STATE = "state.json"
DICT = "dataset_dict.json"


def _read_json(path: Path) -> dict:  # type: ignore[type-arg]
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable save_to_disk file ({exc})") from None
    if not isinstance(value, dict):
        raise DataError(f"{path}: not a save_to_disk file (expected a JSON object)")
    return value


def dataset_folder(folder: Path) -> Path:
    """The folder of one ``Dataset``: ``folder`` itself, or the split of a ``DatasetDict`` to read."""
    if (folder / STATE).is_file():
        return folder
    splits = [str(s) for s in _read_json(folder / DICT).get("splits", [])]
    if "train" in splits or len(splits) == 1:
        return folder / ("train" if "train" in splits else splits[0])
    raise DataError(
        f"{folder}: a DatasetDict with splits {', '.join(splits) or 'none'}: give the folder "
        f"of one split, e.g. {folder / (splits[0] if splits else 'train')}"
    )


def arrow_files(folder: Path) -> list[Path]:
    """The Arrow files of a saved ``Dataset`` folder, in order."""
    state = _read_json(folder / STATE)
    files = [folder / str(item.get("filename", "")) for item in state.get("_data_files", []) if isinstance(item, dict)]
    if not files:
        raise DataError(f"{folder / STATE}: lists no data files")
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise DataError(f"{missing[0]}: file not found (listed in {folder / STATE})")
    return files


class SavedDatasetReader(DataReader):
    name = "save_to_disk"
    description = "Folders written by datasets' save_to_disk (Dataset, or a DatasetDict's train split)"

    def claims(self, location: str) -> bool:
        folder = Path(location)
        return folder.is_dir() and ((folder / STATE).is_file() or (folder / DICT).is_file())

    def batches(self, location: str, size: int = 4096) -> Iterator[RowBatch]:
        start = 0
        for file in arrow_files(dataset_folder(Path(location))):
            for batch in arrow_batches(str(file), size, start):
                yield batch
                start = batch.start + len(batch.rows)
        if start == 0:
            yield RowBatch(0, [])
