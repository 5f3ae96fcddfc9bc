"""Parquet files (what Hugging Face datasets are stored as), read one row group batch at a time so
a large file is never loaded whole."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from largeforge.contracts import DataReader, RowBatch
from largeforge.data.inputs import stream_bytes
from largeforge.data.readers.columnar import pyarrow, record_batches, table
from largeforge.errors import DataError

MAGIC = b"PAR1"


class ParquetReader(DataReader):
    name = "parquet"
    description = "Parquet files (.parquet), streamed by record batch"
    suffixes = (".parquet", ".pq")

    def sniff(self, head: bytes) -> bool:
        return head[:4] == MAGIC

    def batches(self, location: str, size: int = 4096) -> Iterator[RowBatch]:
        pa = pyarrow("Parquet")
        import pyarrow.parquet as pq  # with pyarrow, on first use

        piped = stream_bytes(location)
        try:
            file = pq.ParquetFile(pa.BufferReader(piped) if piped is not None else location)
            yield from record_batches(file.iter_batches(batch_size=size), size)
        except FileNotFoundError:
            raise DataError(f"{location}: file not found") from None
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"{location}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None

    def encode(self, rows: Sequence[Mapping[str, Any]], location: str) -> bytes:
        pyarrow("Parquet")
        import pyarrow.parquet as pq

        sink = io.BytesIO()
        pq.write_table(table(rows, "Parquet"), sink)
        return sink.getvalue()
