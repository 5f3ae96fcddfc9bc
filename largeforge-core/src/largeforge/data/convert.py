"""Convert a data source into another layout and file kind without losing rows or fields silently.

``to`` names the layout (a registered format); the output's suffix picks the file kind (the
registered reader that claims it and can write: ``.jsonl``, ``.json``, ``.parquet``, ``.csv``,
``.tsv``, ``.arrow``). Columns the source layout does not know carry over as they are, and so does every row when the
layout stays the same (``--to`` the layout it is in: only the file kind changes). Every
input row ends up either in the output or in the report of rejected rows (also written next to
the output as ``<output>.rejected.jsonl`` with the original row and the reason): a row the target
layout cannot hold, or one whose conversion would drop a value (:mod:`largeforge.data.lossless`),
is rejected, so ``rows in = rows out + rows rejected`` always holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from largeforge.contracts import DataFormat, DataReader, RowError
from largeforge.data.columns import ColumnMap
from largeforge.data.detect import get_format
from largeforge.data.lossless import lost
from largeforge.data.reader import Row
from largeforge.data.rows import scan
from largeforge.data.source import open_source
from largeforge.data.validator import RowIssue
from largeforge.errors import DataError
from largeforge.utils.io import write_output


@dataclass
class ConversionReport:
    source: str
    target: str
    from_format: str
    to_format: str
    rows_in: int = 0
    rows_out: int = 0
    rejected: list[RowIssue] = field(default_factory=list)
    rejected_path: str | None = None
    file_kind: str = "json"


def rejected_path_for(target: Path) -> Path:
    return target.with_name(target.name + ".rejected.jsonl")


def writer_for(target: Path) -> DataReader:
    """The registered reader that writes files named like ``target`` (by suffix)."""
    from largeforge.plugins import registries  # the registries are built on first use

    writers = [e.value for e in registries().readers.entries() if e.value.writable and e.value.suffixes]
    for writer in writers:
        if target.suffix.lower() in writer.suffixes:
            return writer
    kinds = ", ".join(s for w in writers for s in w.suffixes)
    raise DataError(f"{target}: cannot tell which kind of file to write from its name; end it in one of {kinds}")


def _fields(fmt: DataFormat) -> frozenset[str]:
    """The column names ``fmt`` reads (the encoded field names of its row type)."""
    return frozenset(f.encode_name for f in msgspec.structs.fields(fmt.row_type))


def _as_read(row: Row, text_values: bool) -> Any:
    """A valid row written in the layout it was read in: as it was (a CSV row's cells as the values
    its layout reads them as: ``"true"`` a boolean, an empty optional cell absent)."""
    source = row.data()
    if not text_values or not isinstance(source, dict):
        return source
    typed = msgspec.to_builtins(row.decoded)
    return {key: typed.get(key, value) for key, value in source.items() if key not in typed or typed[key] is not None}


def _written(row: Row, dst_fmt: DataFormat, known: frozenset[str]) -> dict[str, Any]:
    """The output row of a converted ``row``; :class:`RowError` when it cannot be written whole."""
    assert row.conversation is not None
    try:
        out = dst_fmt.from_conversation(row.conversation)
    except RowError as exc:
        raise RowError(f"cannot be written as {dst_fmt.name}: {exc}") from None
    source = row.data()
    if isinstance(source, dict):
        extras = {key: value for key, value in source.items() if key not in known}
        clash = sorted(extras.keys() & out.keys())
        if clash:
            raise RowError(
                f"its column {clash[0]!r} is not part of the source layout, and {dst_fmt.name} writes a "
                f"{clash[0]!r} of its own"
            )
        out.update(extras)
    missing = lost(source, out)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise RowError(f"cannot be written as {dst_fmt.name} without losing {missing[0]}{more}")
    return out


def convert_file(
    source: Any,
    target: str | Path,
    to: str,
    from_: str = "auto",
    *,
    overwrite: bool = False,
    columns: ColumnMap | None = None,
    dataset_info: str | Path | None = None,
) -> ConversionReport:
    """Convert ``source`` (any location :func:`~largeforge.data.source.open_source` opens) into
    format ``to`` at ``target``, whose suffix picks the file kind. Rows that cannot be read or
    written whole are reported, never dropped."""
    src = open_source(source, columns=columns, dataset_info=dataset_info)
    target = Path(target)
    if target.is_dir():
        raise DataError(f"{target}: is a directory; give the name of a file to write")
    if target.exists() and not overwrite:
        raise DataError(f"{target}: already exists (pass --overwrite to replace it)")
    if src.reader.suffixes and Path(src.location).exists() and Path(src.location).resolve() == target.resolve():
        raise DataError(f"{target}: output would overwrite the input")
    writer = writer_for(target)
    src_fmt = get_format(from_, src)
    dst_fmt = get_format(to)
    if not dst_fmt.writable:
        raise DataError(f"format {dst_fmt.name!r} cannot be written")
    report = ConversionReport(str(src), str(target), src_fmt.name, dst_fmt.name, file_kind=writer.name)
    known = _fields(src_fmt) | (frozenset(src.columns.columns) if src.columns else frozenset())
    same_layout = src_fmt.name == dst_fmt.name  # another file kind: the rows carry over as they are
    encoder = msgspec.json.Encoder()
    out: list[dict[str, Any]] = []
    rejects: list[bytes] = []
    for row in scan(src, src_fmt, originals=True):
        report.rows_in += 1
        reason = row.error
        if row.conversation is not None and same_layout:
            out.append(_as_read(row, src.reader.text_values))
            continue
        if row.conversation is not None:
            try:
                out.append(_written(row, dst_fmt, known))
                continue
            except RowError as exc:
                reason = str(exc)
        issue = RowIssue(row.index, reason or "invalid", row.line)
        report.rejected.append(issue)
        rejects.append(
            encoder.encode({"index": row.index, "line": row.line, "reason": issue.reason, "row": row.data()})
        )
    report.rows_out = len(out)
    if not writer.json_text:  # columnar files: one kind of value per column; free-form JSON as JSON text
        out = dst_fmt.uniform_rows(out)
        for row_out in out:
            for name in dst_fmt.json_fields & row_out.keys():
                if not isinstance(row_out[name], str):
                    row_out[name] = encoder.encode(row_out[name]).decode()
    write_output(target, writer.encode(out, str(target)))
    reject_file = rejected_path_for(target)
    if rejects:
        write_output(reject_file, b"".join(line + b"\n" for line in rejects))
        report.rejected_path = str(reject_file)
    else:
        reject_file.unlink(missing_ok=True)
    assert report.rows_in == report.rows_out + len(report.rejected)
    return report
