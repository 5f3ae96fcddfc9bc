"""What the Arrow-based readers share: importing pyarrow lazily, rows out of record batches, and
tables out of rows.

In a columnar file a missing value and a null are the same thing, so a row's null columns are
left out (as if the key were absent from a JSON row) and the formats' defaults apply.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any

from largeforge.contracts import RowBatch
from largeforge.errors import DataError

PYARROW_HINT = 'pip install pyarrow (it comes with largeforge-train, or pip install "largeforge-core[data]")'


def pyarrow(what: str) -> ModuleType:
    """The ``pyarrow`` module (imported here, on first use: it is large); a one-line error
    naming ``what`` needs it when it is not installed."""
    try:
        import pyarrow as pa
    except ImportError:
        raise DataError(f"reading or writing {what} needs pyarrow: {PYARROW_HINT}") from None
    return pa


def present(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` without its null columns."""
    return {key: value for key, value in row.items() if value is not None}


def record_batches(batches: Iterator[Any], size: int, start: int = 0) -> Iterator[RowBatch]:
    """pyarrow record batches as :class:`RowBatch` es of at most ``size`` rows, numbered from ``start``."""
    for batch in batches:
        nulls = any(column.null_count for column in batch.columns)
        for offset in range(0, batch.num_rows, size):
            rows = batch.slice(offset, size).to_pylist()
            if nulls:  # most batches have none: no pass over the rows then
                rows = [present(row) for row in rows]
            yield RowBatch(start, rows)
            start += len(rows)


def table(rows: Sequence[Mapping[str, Any]], what: str) -> Any:
    """A pyarrow table of ``rows`` (columns in first-seen order); a one-line error when a column
    holds values of different kinds."""
    pa = pyarrow(what)
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    columns = {name: [row.get(name) for row in rows] for name in names}
    arrays = {}
    for name, values in columns.items():
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(
                f"cannot write {what}: column {name!r} holds values of different kinds "
                f"({str(exc).splitlines()[0]}); write JSON Lines (.jsonl) instead"
            ) from None
    return pa.table(arrays)
