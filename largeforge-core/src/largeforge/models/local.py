"""Local model directories and Hugging Face hub ids (from the local cache when offline)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from largeforge.contracts import ModelSource
from largeforge.errors import ModelSourceError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_MODEL_FILES = ("config.json", "adapter_config.json")


class LocalDirectorySource(ModelSource):
    """A directory with ``config.json`` (a model) or ``adapter_config.json`` (a PEFT adapter)."""

    name = "local"
    description = "a model or adapter directory on disk"

    def can_resolve(self, ref: str) -> bool:
        path = Path(ref).expanduser()
        if path.exists() or ref.startswith((".", "/", "~")):
            return True
        return os.sep in ref and not _HUB_ID.match(ref)

    def resolve(self, ref: str) -> Path:
        path = Path(ref).expanduser()
        if not path.exists():
            raise ModelSourceError(f"model directory {ref!r} does not exist")
        if not path.is_dir():
            raise ModelSourceError(f"model path {ref!r} is a file, expected a model directory")
        if not any((path / f).is_file() for f in _MODEL_FILES):
            raise ModelSourceError(f"{ref!r} is not a model directory (no config.json or adapter_config.json)")
        return path.resolve()


class HubSource(ModelSource):
    """Hugging Face hub ids such as ``HuggingFaceTB/SmolLM2-135M-Instruct``.

    Resolved from the local Hugging Face cache; downloaded only when the hub is reachable and
    ``HF_HUB_OFFLINE`` is not set.
    """

    name = "huggingface"
    description = "a Hugging Face hub id, from the local cache (downloaded only when online)"

    def can_resolve(self, ref: str) -> bool:
        return bool(_HUB_ID.match(ref))

    def resolve(self, ref: str) -> Path:
        try:
            from huggingface_hub import snapshot_download
        except ImportError:
            raise ModelSourceError(
                f"resolving hub id {ref!r} needs huggingface_hub (installed with "
                "largeforge-core[train] or [serve]); or pass a local model directory"
            ) from None
        try:
            return Path(snapshot_download(ref, local_files_only=True))
        except Exception:
            pass
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        hint = (
            f"download it where the hub is reachable (`hf download {ref}`) and copy the "
            "Hugging Face cache here, or pass a local model directory"
        )
        if offline:
            raise ModelSourceError(f"{ref!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set: {hint}")
        try:
            return Path(snapshot_download(ref))
        except Exception as exc:
            raise ModelSourceError(
                f"{ref!r} is not cached locally and the Hugging Face hub cannot be reached "
                f"({type(exc).__name__}): {hint}"
            ) from None

    def available(self) -> list[dict[str, Any]]:
        try:
            from huggingface_hub import scan_cache_dir

            info = scan_cache_dir()
        except Exception:
            return []
        return [
            {
                "name": repo.repo_id,
                "source": self.name,
                "status": "cached",
                "path": str(repo.repo_path),
                "description": f"{repo.size_on_disk / 1e6:.0f} MB",
            }
            for repo in info.repos
            if repo.repo_type == "model"
        ]
