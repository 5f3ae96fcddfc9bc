"""Arrow IPC files and streams (.arrow, .feather: Feather version 2), memory-mapped and read one
record batch at a time."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from largeforge.contracts import DataReader, RowBatch
from largeforge.data.inputs import stream_bytes
from largeforge.data.readers.columnar import pyarrow, record_batches, table
from largeforge.errors import DataError

FILE_MAGIC = b"ARROW1"
STREAM_MAGIC = b"\xff\xff\xff\xff"


def arrow_batches(location: str, size: int, start: int = 0) -> Iterator[RowBatch]:
    """The rows of an Arrow IPC file or stream (the stream form is what ``datasets`` writes)."""
    pa = pyarrow("Arrow files")
    piped = stream_bytes(location)
    try:
        source = pa.BufferReader(piped) if piped is not None else pa.memory_map(location)
        try:
            reader = pa.ipc.open_file(source)
            batches: Iterator[Any] = (reader.get_batch(i) for i in range(reader.num_record_batches))
        except pa.ArrowInvalid:  # not the file form: the stream form
            source.seek(0)
            batches = iter(pa.ipc.open_stream(source))
        yield from record_batches(batches, size, start)
    except FileNotFoundError:
        raise DataError(f"{location}: file not found") from None
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{location}: not a readable Arrow file ({str(exc).splitlines()[0]})") from None


class ArrowReader(DataReader):
    name = "arrow"
    description = "Arrow IPC files and streams (.arrow, .feather)"
    suffixes = (".arrow", ".feather", ".arrows", ".ipc")

    def sniff(self, head: bytes) -> bool:
        return head[:6] == FILE_MAGIC or head[:4] == STREAM_MAGIC

    def batches(self, location: str, size: int = 4096) -> Iterator[RowBatch]:
        return arrow_batches(location, size)

    def encode(self, rows: Sequence[Mapping[str, Any]], location: str) -> bytes:
        pa = pyarrow("Arrow files")
        data = table(rows, "Arrow files")
        sink = io.BytesIO()
        with pa.ipc.new_file(sink, data.schema) as writer:
            writer.write_table(data)
        return sink.getvalue()
