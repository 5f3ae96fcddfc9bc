"""Data inputs that are streams: ``-`` (standard input), ``<(cat file)`` or ``/dev/stdin``.

A stream can be read once, but a data command reads its input more than once (a look at the
first rows to detect the format, then every row). A stream's bytes are therefore read on first
use and kept for the rest of the process; regular files are read from disk each time.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

from largeforge.errors import DataError

#: The name that stands for standard input.
STDIN = "-"
_READ: dict[str, bytes] = {}


def is_stream(location: str | Path) -> bool:
    """Whether ``location`` is standard input, a pipe or a character device (not a regular file)."""
    text = str(location)
    if text == STDIN or text in _READ:
        return True
    try:
        mode = Path(text).stat().st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def stream_bytes(location: str | Path) -> bytes | None:
    """All bytes of a stream input (read once, then kept); ``None`` for anything else."""
    text = str(location)
    if text in _READ:
        return _READ[text]
    if not is_stream(text):
        return None
    try:
        if text == STDIN:
            data = sys.stdin.buffer.read()
        else:
            with open(text, "rb") as handle:
                data = handle.read()
    except OSError as exc:
        raise DataError(f"{text}: cannot read ({exc.strerror})") from None
    _READ[text] = data
    return data


def head(location: str | Path, size: int = 64) -> bytes:
    """The first ``size`` bytes of a file or stream (empty when unreadable)."""
    data = stream_bytes(location)
    if data is not None:
        return data[:size]
    try:
        with open(location, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""
