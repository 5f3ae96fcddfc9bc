"""CSV and TSV files (spreadsheet exports): a header row naming the columns, then one row per line.

Cells are text; a field that wants a boolean (KTO's ``label``) reads ``true``/``false``, and an
empty cell of an optional field counts as absent. Only flat rows fit: writing a row with a nested
value (a list of messages) is refused in one line that says which file type holds it.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from largeforge.contracts import DataReader, RowBatch
from largeforge.data.inputs import stream_bytes
from largeforge.errors import DataError

# Replies longer than csv's default cell limit (128 KiB) are ordinary in training data.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class CSVReader(DataReader):
    name = "csv"
    description = "CSV files with a header row (flat rows: Alpaca, prompt/completion, flat preference pairs)"
    suffixes: ClassVar[tuple[str, ...]] = (".csv",)
    text_values = True
    delimiter = ","

    def batches(self, location: str, size: int = 4096) -> Iterator[RowBatch]:
        piped = stream_bytes(location)
        if piped is not None:
            try:
                text = piped.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise DataError(f"{location}: invalid UTF-8 (byte {exc.start})") from None
            yield from self._rows(location, io.StringIO(text), size)
            return
        try:
            with open(location, encoding="utf-8-sig", newline="") as handle:
                yield from self._rows(location, handle, size)
        except FileNotFoundError:
            raise DataError(f"{location}: file not found") from None
        except OSError as exc:
            raise DataError(f"{location}: cannot read ({exc.strerror})") from None

    def _rows(self, location: str, handle: Any, size: int) -> Iterator[RowBatch]:
        records = csv.reader(handle, delimiter=self.delimiter, strict=True)
        try:
            header = next(records, None)
            if not header or not any(name.strip() for name in header):
                raise DataError(f"{location}: file is empty (expected a header row naming the columns)")
            repeated = sorted({name for name in header if header.count(name) > 1})
            if repeated:
                raise DataError(f"{location}: line 1: column {repeated[0]!r} is named twice in the header")
            start, rows, errors = 0, list[dict[str, str] | None](), dict[int, str]()
            for record in records:
                if not record:  # a blank line
                    continue
                if len(record) != len(header):
                    errors[len(rows)] = f"has {len(record)} cells, the header has {len(header)} columns"
                    rows.append(None)
                else:
                    rows.append(dict(zip(header, record, strict=True)))
                if len(rows) >= size:
                    yield RowBatch(start, rows, errors=errors)
                    start, rows, errors = start + len(rows), [], {}
            if rows or start == 0:
                yield RowBatch(start, rows, errors=errors)
        except UnicodeDecodeError as exc:
            raise DataError(f"{location}: invalid UTF-8 (byte {exc.start})") from None
        except csv.Error as exc:
            raise DataError(f"{location}: line {records.line_num}: not valid {self.name.upper()} ({exc})") from None

    def encode(self, rows: Sequence[Mapping[str, Any]], location: str) -> bytes:
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        out = io.StringIO()
        writer = csv.writer(out, delimiter=self.delimiter, lineterminator="\n")
        writer.writerow(list(names))
        for index, row in enumerate(rows):
            cells = []
            for name in names:
                value = row.get(name)
                if isinstance(value, (dict, list)):
                    raise DataError(
                        f"{location}: {self.name.upper()} holds flat rows only, and row {index}'s "
                        f"{name!r} is a {type(value).__name__}: write .jsonl or .parquet instead"
                    )
                cells.append("" if value is None else str(value).lower() if isinstance(value, bool) else value)
            writer.writerow(cells)
        return out.getvalue().encode()


class TSVReader(CSVReader):
    name = "tsv"
    description = "Tab-separated files with a header row (flat rows)"
    suffixes: ClassVar[tuple[str, ...]] = (".tsv", ".tab")
    delimiter = "\t"
