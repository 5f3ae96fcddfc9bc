"""Split a data file into parts at row boundaries and process the parts on several cores.

JSON Lines split after a newline. A JSON array splits between two rows, at a ``}, {"key":``
where ``key`` is the first key of the first row (rows written by one program share their
key order). Such a place can also lie inside a nested object or inside a string; then the
part before it does not decode (its brackets or its quotes do not close), the caller sees
that part fail and falls back to one process. A split is therefore right or detected, never
silently wrong.

Workers are forked, so they share the file's bytes with the parent instead of receiving a
copy; forking is only used on platforms that have it and from a single-threaded process. A
worker that fails (raises, or dies) is reported and the caller checks in one process.
"""

from __future__ import annotations

import mmap
import os
import pickle
import re
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, TypeVar

from largeforge.utils.logging import get_logger

T = TypeVar("T")
#: A data file's contents: bytes, or a memory map for large files (see :func:`largeforge.data.reader.read_data`).
Buffer = bytes | mmap.mmap
logger = get_logger(__name__)

#: Files smaller than this per worker are not worth a process.
MIN_PART_BYTES = 16 << 20

_FIRST_KEY = re.compile(rb'\s*\[\s*\{\s*("(?:[^"\\]|\\.)*")\s*:')


@dataclass(frozen=True, slots=True)
class Part:
    """Bytes ``start:end`` of a file, which decode as a whole once ``prefix`` and ``suffix``
    (the brackets of a JSON array) are put around them."""

    start: int
    end: int
    prefix: bytes = b""
    suffix: bytes = b""

    def of(self, data: Buffer) -> bytes:
        """A copy of the part with its brackets."""
        return self.prefix + data[self.start : self.end] + self.suffix

    def in_place(self, data: Buffer) -> bytes | memoryview:
        """The part with its brackets, without copying it when ``data`` is a copy-on-write
        memory map (:func:`largeforge.data.reader.read_data`): the brackets are written over
        the separators around the part (a comma or a space, by construction). Only for a
        forked worker, whose writes to the map no other process sees."""
        if not isinstance(data, mmap.mmap):
            return self.of(data)
        start, end = self.start - len(self.prefix), self.end + len(self.suffix)
        if self.prefix:
            data[start] = self.prefix[0]
        if self.suffix:
            data[self.end] = self.suffix[0]
        return memoryview(data)[start:end]


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_workers(size: int) -> int:
    """How many processes to use for a file of ``size`` bytes (1: do not fork)."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return 1  # forking a process with other threads running can deadlock the child
    return max(1, min(available_cpus(), size // MIN_PART_BYTES))


def _cuts(data: Buffer, targets: list[int], *, jsonl: bool) -> list[tuple[int, int]] | None:
    """Row boundaries ``(end of one part, start of the next)`` at or after each target offset."""
    size = len(data)
    cuts: list[tuple[int, int]] = []
    if jsonl:
        for target in targets:
            newline = data.find(b"\n", target)
            if newline != -1 and newline + 1 < size:
                cuts.append((newline + 1, newline + 1))
    else:
        first = _FIRST_KEY.match(data)
        if first is None:
            return None
        between_rows = re.compile(rb"\}\s*,\s*(?=\{\s*" + re.escape(first.group(1)) + rb"\s*:)")
        for target in targets:
            found = between_rows.search(data, target)
            if found is not None:
                cuts.append((found.start() + 1, found.end()))
    return sorted(set(cuts)) or None


def split(data: Buffer, parts: int, *, jsonl: bool) -> list[Part] | None:
    """Up to ``parts`` parts of ``data`` cut at row boundaries (see the module docstring), or
    ``None`` when no cut was found."""
    size = len(data)
    cuts = _cuts(data, [size * i // parts for i in range(1, parts)], jsonl=jsonl)
    if cuts is None:
        return None
    bounds = [(0, 0), *cuts, (size, size)]
    opened, closed = (b"", b"") if jsonl else (b"[", b"]")
    return [
        Part(start, end, opened if i else b"", closed if i < len(cuts) else b"")
        for i, ((_, start), (end, _)) in enumerate(pairwise(bounds))
    ]


def head(data: Buffer, size: int, *, jsonl: bool) -> bytes | None:
    """The rows in about the first ``size`` bytes, as a JSON array or JSON Lines of their own
    (``None`` when no row boundary was found). It may not decode: see the module docstring."""
    cuts = _cuts(data, [size], jsonl=jsonl)
    if cuts is None:
        return None
    return Part(0, cuts[0][0], suffix=b"" if jsonl else b"]").of(data)


def map_parts(work: Callable[[bytes | memoryview], tuple[T, Any]], data: Buffer, parts: list[Part]) -> list[T] | None:
    """``work(part)`` for every part, each in its own forked process, in order; ``None`` when a
    worker failed (it raised or died), so the caller can fall back to one process.

    ``work`` returns ``(result, keep)``: ``result`` comes back to the caller (pickled), ``keep``
    stays in the worker until it exits. Freeing a million decoded rows one by one costs a third
    of decoding them; a worker exits with ``os._exit`` instead, which returns the memory at once.
    """
    children: list[tuple[int, int]] = []
    for part in parts:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: run, send the result, exit without any interpreter teardown
            os.close(read_end)
            try:
                result, _keep = work(part.in_place(data))
                payload = pickle.dumps((True, result))
            except BaseException:  # reported to the parent, which falls back to one process
                payload = pickle.dumps((False, traceback.format_exc()))
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
            os._exit(0)
        os.close(write_end)
        children.append((pid, read_end))
    results: list[T] = []
    failed = False
    for pid, read_end in children:
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
        os.waitpid(pid, 0)
        # (ok, result or traceback), pickled by our own child
        outcome: tuple[bool, Any] = pickle.loads(payload) if payload else (False, "the worker died")
        if outcome[0]:
            results.append(outcome[1])
        else:
            failed = True
            logger.warning("a worker failed, checking in one process instead: %s", str(outcome[1]).strip())
    return None if failed else results
