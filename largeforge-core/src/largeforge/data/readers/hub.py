"""Hugging Face hub dataset ids (``owner/name``, ``owner/name/folder``, ``…:split``), read from
the local cache: the hub cache (``huggingface-cli download --repo-type dataset``) or, failing
that, the Arrow files ``datasets.load_dataset`` prepared. Offline (``HF_HUB_OFFLINE``), an id
that is not cached fails in one line that says how to get it; online, the hub snapshot is
downloaded first. The data files found go to the reader of their kind (Parquet, JSON, CSV, Arrow).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from largeforge.contracts import DataReader, RowBatch
from largeforge.data.source import reader_for
from largeforge.errors import DataError

HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?P<folder>(?:/[\w.-]+)*)(?::(?P<split>[\w.-]+))?$")
SPLITS = ("train", "test", "validation", "valid", "dev", "eval")
DATA_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv", ".tsv", ".arrow", ".ndjson")


def _offline() -> bool:
    return any(
        os.environ.get(name, "").lower() in ("1", "true", "yes", "on")
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _token(name: str, path: str) -> bool:
    """Whether ``name`` appears in ``path`` as a word of its own (``train-000.parquet``, ``data/train/``)."""
    return re.search(rf"(^|[/._\- 0-9]){re.escape(name)}($|[/._\- 0-9])", path) is not None


def split_files(folder: Path, split: str) -> list[Path]:
    """The data files of ``split`` in a dataset folder, by the file naming ``datasets`` follows:
    files whose path names the split, or every data file when none names any split."""
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in DATA_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    named = [p for p in files if _token(split, p.relative_to(folder).as_posix().lower())]
    if named:
        return named
    if split == "train" and not any(_token(s, p.relative_to(folder).as_posix().lower()) for p in files for s in SPLITS):
        return files
    return []


class HubReader(DataReader):
    name = "hub"
    description = "Hugging Face hub dataset ids (owner/name[/folder][:split]) from the local cache"

    def claims(self, location: str) -> bool:
        return HUB_ID.match(location) is not None and not Path(location).exists()

    def _parts(self, location: str) -> tuple[str, str, str]:
        match = HUB_ID.match(location)
        assert match is not None
        return match["repo"], match["folder"].lstrip("/"), match["split"] or "train"

    def local_path(self, location: str) -> Path:
        return self._files(location)[0]

    def _files(self, location: str) -> tuple[Path, list[Path]]:
        """The cached folder of the dataset and the data files of the split asked for."""
        repo, folder, split = self._parts(location)
        snapshot = self._snapshot(repo)
        if snapshot is not None:
            files = split_files(snapshot / folder, split)
            if files:
                return snapshot, files
            raise DataError(
                f"{location}: the cached copy of {repo} ({snapshot}) has no data files for split "
                f"{split!r}{f' in {folder}' if folder else ''}"
            )
        prepared = self._prepared(repo, split)
        if prepared:
            return prepared[0].parent, prepared
        how = (
            f"download it where there is internet (huggingface-cli download --repo-type dataset {repo}, "
            f"or datasets.load_dataset({repo!r})) and copy the cache here, or pass a local file"
        )
        state = "offline: HF_HUB_OFFLINE is set" if _offline() else "and it could not be downloaded"
        raise DataError(
            f"{location}: no such file or folder, and the Hugging Face dataset {repo} is not in the "
            f"local cache ({state}); {how}"
        )

    @staticmethod
    def _snapshot(repo: str) -> Path | None:
        """The hub cache's snapshot of ``repo`` (downloaded first when online), or ``None``."""
        try:
            from huggingface_hub import snapshot_download  # only for hub ids: keeps the data layer light
        except ImportError:
            return None
        for local_only in (True, False) if not _offline() else (True,):
            try:
                return Path(snapshot_download(repo, repo_type="dataset", local_files_only=local_only))
            except Exception:  # not cached / not reachable: try the next way, then say so
                continue
        return None

    @staticmethod
    def _prepared(repo: str, split: str) -> list[Path]:
        """Arrow files ``datasets.load_dataset`` prepared for ``repo``'s ``split`` (newest version)."""
        root = Path(
            os.environ.get("HF_DATASETS_CACHE")
            or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "datasets"
        )
        base = root / repo.replace("/", "___")
        if not base.is_dir():
            return []
        files = [p for p in base.rglob("*.arrow") if _token(split, p.name.lower()) and not p.name.startswith("cache-")]
        if not files:
            return []
        newest = max(files, key=lambda p: p.stat().st_mtime).parent
        return sorted(p for p in files if p.parent == newest)

    def batches(self, location: str, size: int = 4096) -> Iterator[RowBatch]:
        start = 0
        for file in self._files(location)[1]:
            # rows are numbered across the files, by index (a line number would not say which file)
            rows = 0
            for batch in reader_for(str(file)).batches(str(file), size):
                yield RowBatch(start + batch.start, batch.rows, errors=batch.errors)
                rows = batch.start + len(batch.rows)
            start += rows
