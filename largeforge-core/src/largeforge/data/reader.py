"""Read JSON arrays and JSON Lines into rows, fast, reporting every bad row with its place.

Rows are decoded with msgspec straight into a format's ``row_type``; a row that does not
decode or does not convert is reported with its index (JSON) or line (JSONL) and a reason,
and reading goes on. Problems with the file itself (missing, empty, truncated, not UTF-8,
not an array) raise :class:`DataError` with one line. A UTF-8 byte-order mark is skipped; a
UTF-16 or UTF-32 file is refused with its encoding and how to convert it. A row nested deeper
than the decoder can follow is an invalid row (JSON Lines) or a one-line error naming the row
(a JSON array), never a ``RecursionError``.
"""

from __future__ import annotations

import gc
import mmap
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from largeforge.contracts import DataFormat, RowError
from largeforge.data import parts
from largeforge.data.conversation import Conversation
from largeforge.data.inputs import stream_bytes
from largeforge.data.parts import Buffer
from largeforge.errors import DataError

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines")


@dataclass(slots=True)
class Row:
    """One row of a data file: where it is, its raw JSON, and either a conversation or why not."""

    index: int
    line: int | None
    raw: bytes | msgspec.Raw | None
    conversation: Conversation | None = None
    error: str | None = None
    decoded: Any = None
    #: The row as a reader other than JSON's gave it (plain values), column mapping applied.
    original: Any = None

    @property
    def location(self) -> str:
        """``line N`` in JSON Lines files, ``row N`` (0-based index) in JSON arrays."""
        return f"line {self.line}" if self.line is not None else f"row {self.index}"

    def data(self) -> Any:
        """The row as plain JSON values (its text when it is not valid JSON)."""
        if self.original is not None:
            return self.original
        if self.raw is None:
            return msgspec.to_builtins(self.decoded)
        try:
            return msgspec.json.decode(self.raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return bytes(self.raw).decode("utf-8", "replace")

    def key(self) -> bytes:
        """The row's JSON bytes, to spot exact duplicates."""
        if self.raw is not None:
            return bytes(self.raw)
        return msgspec.json.encode(self.original if self.original is not None else self.decoded)


def is_jsonl(path: Path, head: bytes) -> bool:
    """JSON Lines by suffix, or a ``.json`` file whose first value is an object, not an array."""
    if path.suffix.lower() in JSONL_SUFFIXES:
        return True
    return head.lstrip()[:1] == b"{"


_NOT_SPACE = re.compile(rb"\S")
MAP_FROM_BYTES = 1 << 20
SAMPLE_BYTES = 1 << 18


_BOM_UTF8 = b"\xef\xbb\xbf"
_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
)


def _wide_encoding(head: bytes) -> str | None:
    """The UTF-16/32 encoding that ``head`` (a file's first bytes) shows, by BOM or by the NUL
    bytes around its first character."""
    for bom, name in _WIDE_BOMS:
        if head.startswith(bom):
            return name
    first = head.lstrip(b" \t\r\n")[:2] if not head.startswith(b"\x00") else head[:2]
    if len(first) == 2 and first[1:] == b"\x00" and first[:1] in b"[{":
        return "UTF-16 (little-endian)"
    if len(first) == 2 and first[:1] == b"\x00" and first[1:] in b"[{":
        return "UTF-16 (big-endian)"
    return None


def read_data(path: str | Path) -> Buffer:
    """The file's contents, with one-line errors for a missing, unreadable or empty file.

    Files of 1 MiB or more are memory-mapped: msgspec decodes straight from the page cache,
    with no copy of the file into the process, and worker processes share the mapping. The
    map is copy-on-write, so a worker may patch its own view (see :mod:`largeforge.data.parts`)
    while the file stays untouched."""
    path = Path(path)
    piped = stream_bytes(path)
    try:
        if piped is not None:
            data: Buffer = piped
        else:
            data = _read_file(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a data file or a `datasets` save_to_disk folder") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    if data[:3] == _BOM_UTF8:  # what Windows tools and spreadsheet exports write
        data = data[3:]
    wide = _wide_encoding(data[:64])
    if wide is not None:
        converted = path.with_name(f"{path.stem}.utf8{path.suffix}")
        raise DataError(
            f"{path}: the file is {wide} encoded; LargeForge reads UTF-8. Convert it, "
            f"e.g. iconv -f {wide.split()[0]} -t UTF-8 {path} > {converted}"
        )
    if _NOT_SPACE.search(data) is None:  # no copy, unlike data.strip()
        raise DataError(f"{path}: file is empty")
    return data


def _read_file(path: Path) -> Buffer:
    """A regular file's bytes (memory-mapped from 1 MiB)."""
    with path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY) if size >= MAP_FROM_BYTES else file.read()


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes (see :func:`read_data` for the errors)."""
    data = read_data(path)
    return data if isinstance(data, bytes) else bytes(data)


def _check_utf8(path: Path, data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}: invalid UTF-8 at line {line} (byte {exc.start})") from None


def _json_error(path: Path, exc: msgspec.DecodeError, data: bytes) -> DataError:
    text = str(exc)
    if "truncated" in text:
        return DataError(f"{path}: truncated JSON: the file ends in the middle of a value")
    match = re.search(r"byte (\d+)", text)
    if match:
        pos = int(match.group(1))
        line = data.count(b"\n", 0, pos) + 1
        return DataError(f"{path}: invalid JSON at line {line} (byte {pos}): {text.split(' (')[0]}")
    return DataError(f"{path}: invalid JSON: {text}")


def jsonl_rows(data: bytes) -> Iterator[tuple[int, int | None, bytes | msgspec.Raw]]:
    index = 0
    # Split on "\n" only, as msgspec's decode_lines does: "\r" is JSON whitespace.
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.strip():
            yield index, number, line
            index += 1


#: What a row's nesting is reported against (msgspec recurses once per level).
TOO_DEEP = "JSON nested too deeply"
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def deepest_row(data: bytes) -> int:
    """The index of the most deeply nested row of a JSON array (strings skipped)."""
    depth = row = deepest = best = 0
    for match in _JSON_TOKEN.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > best:
                best, deepest = depth, row
        elif token in (b"]", b"}"):
            depth -= 1
        elif token == b"," and depth == 1:
            row += 1
    return deepest


def array_rows(path: Path, data: bytes) -> list[msgspec.Raw]:
    _check_utf8(path, data)
    try:
        return msgspec.json.decode(data, type=list[msgspec.Raw])
    except RecursionError:
        raise DataError(f"{path}: row {deepest_row(data)}: {TOO_DEEP} to read") from None
    except msgspec.ValidationError:
        raise DataError(f"{path}: expected a JSON array of rows or JSON Lines, got a single value") from None
    except msgspec.DecodeError as exc:
        raise _json_error(path, exc, data) from None


def raw_rows(path: str | Path) -> Iterator[tuple[int, int | None, bytes | msgspec.Raw]]:
    """Yield ``(index, line, raw)`` for every row; JSON Lines are streamed line by line."""
    path = Path(path)
    data = read_bytes(path)
    if is_jsonl(path, data[:64]):
        yield from jsonl_rows(data)
        return
    for index, raw in enumerate(array_rows(path, data)):
        yield index, None, raw


def sample_rows(path: str | Path, limit: int = 50) -> list[Any]:
    """Up to ``limit`` rows decoded as plain JSON, for format detection and previews.

    Only the head of a large file is decoded when it holds enough rows."""
    data = read_data(path)
    jsonl = is_jsonl(Path(path), data[:64])
    start = parts.head(data, SAMPLE_BYTES, jsonl=jsonl) if len(data) > SAMPLE_BYTES else None
    if start is not None:
        try:
            rows = msgspec.json.Decoder().decode_lines(start) if jsonl else msgspec.json.decode(start)
        except (msgspec.DecodeError, RecursionError):
            rows = []  # a bad row in the head: read row by row below, skipping it
        if isinstance(rows, list) and len(rows) >= limit:
            return rows[:limit]
    out = []
    for _, _, raw in raw_rows(path):
        try:
            out.append(msgspec.json.decode(raw))
        except (msgspec.DecodeError, RecursionError):
            continue
        if len(out) >= limit:
            break
    return out


def describe_validation_error(exc: msgspec.ValidationError) -> str:
    """``conversations[1].value: expected str, got null`` from msgspec's message."""
    text = str(exc)
    message, _, where = text.partition(" - at `$")
    message = message.replace("`", "")
    missing = re.match(r"Object missing required field (\S+)", message)
    where = where.rstrip("`").lstrip(".")
    if missing:
        field = f"{where}.{missing.group(1)}" if where else missing.group(1)
        return f"{field}: required field is missing"
    message = message[:1].lower() + message[1:]
    if message.startswith("expected object"):
        message = message.replace("expected object", "expected an object (a row)")
    return f"{where}: {message}" if where else message


Decoded = tuple[int, "int | None", "bytes | msgspec.Raw | None", Any, "str | None"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: decoding a large file allocates millions of objects,
    and each collection it triggers would walk all the rows decoded so far."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def decode_all(fmt: DataFormat, data: Buffer | memoryview, *, jsonl: bool) -> list[Any] | None:
    """Every row of ``data`` decoded into ``fmt.row_type`` by one msgspec call (JSON arrays and
    JSON Lines alike), or ``None`` when some row does not decode: callers then go row by row
    and report each bad one."""
    decoder: msgspec.json.Decoder[Any]
    try:
        with gc_paused():
            if jsonl:
                decoder = msgspec.json.Decoder(fmt.row_type)
                return decoder.decode_lines(data)
            decoder = msgspec.json.Decoder(list[fmt.row_type])  # type: ignore[name-defined]
            return decoder.decode(data)  # type: ignore[no-any-return]
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None


def jsonl_line_numbers(data: Buffer | memoryview) -> list[int]:
    """The 1-based line number of every non-blank line (row) of a JSON Lines file."""
    lines = bytes(data).split(b"\n")
    return [number for number, line in enumerate(lines, start=1) if line.strip()]


def decode_rows(
    path: str | Path, fmt: DataFormat, data: bytes | None = None, *, whole: bool = True
) -> Iterator[Decoded]:
    """``(index, line, raw, row, error)`` for every row, ``row`` decoded into ``fmt.row_type``
    (whose msgspec constraints do the per-field checks) or ``error`` saying why not.

    With ``whole`` (the default) the file is first decoded in one call (:func:`decode_all`);
    pass ``whole=False`` when that already failed."""
    path = Path(path)
    data = read_bytes(path) if data is None else data
    jsonl = is_jsonl(path, data[:64])
    decoded = decode_all(fmt, data, jsonl=jsonl) if whole else None
    if decoded is not None:
        lines: list[int] | list[None] = jsonl_line_numbers(data) if jsonl else [None] * len(decoded)
        for index, (line, item) in enumerate(zip(lines, decoded, strict=True)):
            yield index, line, None, item, None
        return
    if jsonl:
        rows: Iterator[tuple[int, int | None, bytes | msgspec.Raw]] = jsonl_rows(data)
    else:
        rows = ((i, None, raw) for i, raw in enumerate(array_rows(path, data)))
    decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(fmt.row_type)
    for index, line, raw in rows:
        item, error = None, None
        try:
            item = decoder.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            error = row_error(exc)
        yield index, line, raw, item, error


def row_error(exc: Exception) -> str:
    """Why one row did not decode or convert (msgspec's error, a bad byte, too deep a nesting)."""
    if isinstance(exc, msgspec.ValidationError):
        return describe_validation_error(exc)
    if isinstance(exc, UnicodeDecodeError):
        return "invalid UTF-8"
    if isinstance(exc, RecursionError):
        return TOO_DEEP
    return "invalid UTF-8" if "utf-8" in str(exc).lower() else f"invalid JSON: {exc}"


def scan_json(path: str | Path, fmt: DataFormat) -> Iterator[Row]:
    """Every row of a JSON or JSON Lines file decoded straight into ``fmt`` and converted, with an
    error where it fails (the fast path of :func:`largeforge.data.rows.scan`)."""
    to_conversation = fmt.to_conversation
    for index, line, raw, item, error in decode_rows(path, fmt):
        conversation = None
        if error is None:
            try:
                conversation = to_conversation(item)
            except RowError as exc:
                error = str(exc)
        yield Row(index, line, raw, conversation, error, decoded=item)
