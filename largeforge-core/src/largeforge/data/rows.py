"""Rows of any data source, typed by a format: the one path every reader's rows take.

A batch of plain rows (after the source's column mapping) is converted into the format's
``row_type`` by one msgspec call; when some row does not fit, the batch is converted row by row
so each bad row gets its own reason. JSON files without a mapping take the faster road of
:mod:`largeforge.data.reader` (decoded straight from their bytes); the rows, their numbers and
the reasons are the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import msgspec

from largeforge.contracts import DataFormat, RowBatch, RowError
from largeforge.data import reader
from largeforge.data.reader import Row, row_error, scan_json
from largeforge.data.source import as_source
from largeforge.errors import DataError

#: Rows converted per msgspec call (and held in memory at once) off the JSON fast path.
BATCH_ROWS = 4096


@cache
def _optional_fields(row_type: type) -> frozenset[str]:
    """Fields of ``row_type`` whose default is ``None``: an empty CSV cell leaves them out."""
    return frozenset(f.encode_name for f in msgspec.structs.fields(row_type) if f.default is None)


def batches(source: Any, size: int = BATCH_ROWS) -> Iterator[RowBatch]:
    """The source's rows as plain values, batch by batch, with its column mapping applied."""
    source = as_source(source)
    apply = source.columns.apply if source.columns else None
    for batch in source.reader.batches(source.location, size):
        if apply is not None:
            batch.rows = [apply(row) for row in batch.rows]
        yield batch


def typed(
    source: Any, fmt: DataFormat, size: int = BATCH_ROWS
) -> Iterator[tuple[RowBatch, list[Any], list[str | None]]]:
    """Each batch with its rows converted into ``fmt.row_type`` and, per row, why not (or ``None``)."""
    source = as_source(source)
    row_type = fmt.row_type
    text = source.reader.text_values
    optional = _optional_fields(row_type) if text else frozenset()
    for batch in batches(source, size):
        rows = batch.rows
        if text:  # an empty cell of an optional field is an absent value
            rows = [
                {k: v for k, v in r.items() if v != "" or k not in optional} if isinstance(r, dict) else r for r in rows
            ]
        errors: list[str | None] = [batch.errors.get(i) for i in range(len(rows))]
        if not batch.errors:
            try:
                yield batch, msgspec.convert(rows, list[row_type], strict=not text), errors  # type: ignore[valid-type]
                continue
            except (msgspec.ValidationError, RecursionError):
                pass  # row by row, below: each bad row gets its own reason
        items: list[Any] = [None] * len(rows)
        for i, row in enumerate(rows):
            if errors[i] is None:
                try:
                    items[i] = msgspec.convert(row, row_type, strict=not text)
                except (msgspec.ValidationError, RecursionError) as exc:
                    errors[i] = row_error(exc)
        yield batch, items, errors


def scan(source: Any, fmt: DataFormat, *, originals: bool = False) -> Iterator[Row]:
    """Every row of ``source`` (a :class:`~largeforge.data.source.DataSource` or a path) read as
    ``fmt`` and converted, with the reason where it fails. ``Row.data()`` is the row as read; with
    ``originals`` it holds every column, those ``fmt`` does not read included (JSON files then
    take the plain-rows path, slower than decoding straight into ``fmt``'s rows)."""
    source = as_source(source)
    if source.json_fast_path and not originals:
        yield from scan_json(source.location, fmt)
        return
    to_conversation = fmt.to_conversation
    for batch, items, errors in typed(source, fmt):
        for i, item in enumerate(items):
            error, conversation = errors[i], None
            if error is None:
                try:
                    conversation = to_conversation(item)
                except RowError as exc:
                    error = str(exc)
            yield Row(
                batch.start + i,
                batch.lines[i] if batch.lines else None,
                None,
                conversation,
                error,
                decoded=item,
                original=batch.rows[i],
            )


def sample_rows(source: Any, limit: int = 50) -> list[Any]:
    """Up to ``limit`` rows as plain values, for format detection and previews."""
    source = as_source(source)
    if source.json_fast_path:
        return reader.sample_rows(source.location, limit)
    out: list[Any] = []
    unreadable: str | None = None
    for batch in batches(source, limit):
        out += [row for i, row in enumerate(batch.rows) if i not in batch.errors]
        if unreadable is None and batch.errors:
            first = min(batch.errors)
            where = f"line {batch.lines[first]}" if batch.lines else f"row {batch.start + first}"
            unreadable = f"{source}: {where}: {batch.errors[first]}"
        if len(out) >= limit:
            break
    if not out and unreadable is not None:  # nothing to detect a format from: say why
        raise DataError(unreadable)
    return out[:limit]
