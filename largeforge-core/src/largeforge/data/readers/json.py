"""JSON arrays of rows and JSON Lines: the one kind of file the JSON fast paths read straight into
a format's rows (see :mod:`largeforge.data.reader`); here, plain rows for everything else."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from largeforge.contracts import DataReader, RowBatch
from largeforge.data.reader import JSONL_SUFFIXES, array_rows, is_jsonl, jsonl_rows, read_bytes, row_error


class JSONReader(DataReader):
    name = "json"
    description = "JSON arrays of rows (.json) and JSON Lines (.jsonl, .ndjson)"
    suffixes = (".json", *JSONL_SUFFIXES)
    json_text = True

    def sniff(self, head: bytes) -> bool:
        return head.lstrip()[:1] in (b"[", b"{")

    def batches(self, location: str, size: int = 4096) -> Iterator[RowBatch]:
        path = Path(location)
        data = read_bytes(path)
        jsonl = is_jsonl(path, data[:64])
        raws = jsonl_rows(data) if jsonl else ((i, None, raw) for i, raw in enumerate(array_rows(path, data)))
        batch = RowBatch(0, [], [] if jsonl else None)
        decode = msgspec.json.decode
        for index, line, raw in raws:
            try:
                batch.rows.append(decode(raw))
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
                batch.errors[len(batch.rows)] = row_error(exc)
                batch.rows.append(None)
            if batch.lines is not None and line is not None:
                batch.lines.append(line)
            if len(batch.rows) >= size:
                yield batch
                batch = RowBatch(index + 1, [], [] if jsonl else None)
        if batch.rows or batch.start == 0:
            yield batch

    def encode(self, rows: Sequence[Mapping[str, Any]], location: str) -> bytes:
        encoder = msgspec.json.Encoder()
        if Path(location).suffix.lower() in JSONL_SUFFIXES:
            return b"".join(encoder.encode(row) + b"\n" for row in rows)
        return msgspec.json.format(b"[" + b",".join(encoder.encode(row) for row in rows) + b"]", indent=2) + b"\n"
