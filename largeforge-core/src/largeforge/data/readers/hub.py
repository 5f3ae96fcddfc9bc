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
from largeforge.data.readers.folder import files_batches, names_split, split_files
from largeforge.errors import DataError

HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?P<folder>(?:/[\w.-]+)*)(?::(?P<split>[\w.-]+))?$")


def _offline() -> bool:
    return any(
        os.environ.get(name, "").lower() in ("1", "true", "yes", "on")
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


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
        files = [
            p for p in base.rglob("*.arrow") if names_split(split, p.name.lower()) and not p.name.startswith("cache-")
        ]
        if not files:
            return []
        newest = max(files, key=lambda p: p.stat().st_mtime).parent
        return sorted(p for p in files if p.parent == newest)

    def batches(self, location: str, size: int = 4096) -> Iterator[RowBatch]:
        yield from files_batches(self._files(location)[1], size)
