"""File helpers: JSON/JSONL with msgspec, directory creation and atomic writes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from largeforge.errors import DataError


def ensure_dir(path: str | Path) -> Path:
    """Create ``path`` (and parents) if needed and return it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def get_file_size(path: str | Path) -> int:
    """Size of a file in bytes, or of all files under a directory."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _new_file_mode(path: Path) -> int:
    """The mode ``path`` keeps (when it exists) or a new file gets: 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0o022)  # the only way to read the umask; put back at once
        os.umask(mask)
        return 0o666 & ~mask


def atomic_write(path: str | Path, content: str | bytes) -> Path:
    """Write ``content`` so readers see either the old file or the whole new one, never half.

    The data goes to a temporary file in the same directory, is fsync'ed, then renamed over
    ``path`` (rename is atomic on POSIX and Windows within one filesystem). The file gets the
    mode an ordinary write would give it (the umask's, or the mode of the file it replaces), not
    the temporary file's private 0600.
    """
    path = Path(path)
    ensure_dir(path.parent)
    data = content.encode("utf-8") if isinstance(content, str) else content
    mode = _new_file_mode(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_output(path: str | Path, content: str | bytes) -> Path:
    """:func:`atomic_write` for a file the user named: a path that is a directory, a folder that
    cannot be written, a full disk are each a one-line :class:`DataError`."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give the name of a file to write")
    try:
        return atomic_write(path, content)
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory; give the name of a file to write") from None
    except (NotADirectoryError, FileExistsError):
        raise DataError(f"{path}: cannot write: a part of its folder path is a file") from None
    except PermissionError:
        raise DataError(f"{path}: cannot write: permission denied (is {path.parent} read-only?)") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot write ({exc.strerror or exc})") from None


def load_json(path: str | Path) -> Any:
    """Load a JSON file; a missing file or bad JSON raises :class:`DataError` naming the file."""
    path = Path(path)
    try:
        return msgspec.json.decode(path.read_bytes())
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except msgspec.DecodeError as exc:
        raise DataError(f"{path}: invalid JSON: {exc}") from None


def save_json(data: Any, path: str | Path, indent: int = 2) -> Path:
    """Save ``data`` as indented UTF-8 JSON, atomically."""
    encoded = msgspec.json.format(msgspec.json.encode(data), indent=indent)
    return atomic_write(path, encoded + b"\n")


def load_jsonl(path: str | Path) -> list[Any]:
    """Load a JSON Lines file (blank lines skipped); errors name the line number."""
    path = Path(path)
    rows = []
    try:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        rows.append(msgspec.json.decode(line))
                    except msgspec.DecodeError as exc:
                        raise DataError(f"{path}:{number}: invalid JSON: {exc}") from None
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    return rows


def save_jsonl(data: Iterable[Any], path: str | Path) -> Path:
    """Save an iterable of rows as JSON Lines, atomically."""
    encoder = msgspec.json.Encoder()
    buffer = bytearray()
    for row in data:
        encoder.encode_into(row, buffer, len(buffer))
        buffer += b"\n"
    return atomic_write(path, bytes(buffer))
