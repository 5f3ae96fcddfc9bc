"""Convert a data file between formats without losing rows silently.

Every input row ends up either in the output or in the report of rejected rows (also written
next to the output as ``<output>.rejected.jsonl`` with the original row and the reason), so
``rows in = rows out + rows rejected`` always holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from largeforge.contracts import RowError
from largeforge.data.detect import get_format
from largeforge.data.reader import JSONL_SUFFIXES, scan
from largeforge.data.validator import RowIssue
from largeforge.errors import DataError
from largeforge.utils.io import atomic_write


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


def rejected_path_for(target: Path) -> Path:
    return target.with_name(target.name + ".rejected.jsonl")


def convert_file(source: str | Path, target: str | Path, to: str, from_: str = "auto",
                 *, overwrite: bool = False) -> ConversionReport:
    """Convert ``source`` into format ``to`` at ``target`` (``.jsonl`` → JSON Lines, else a
    JSON array). Rows that cannot be read or represented are reported, never dropped."""
    source, target = Path(source), Path(target)
    if target.exists() and not overwrite:
        raise DataError(f"{target}: already exists (pass --overwrite to replace it)")
    if source.resolve() == target.resolve():
        raise DataError(f"{target}: output would overwrite the input")
    src_fmt = get_format(from_, source)
    dst_fmt = get_format(to)
    if not dst_fmt.writable:
        raise DataError(f"format {dst_fmt.name!r} cannot be written")
    report = ConversionReport(str(source), str(target), src_fmt.name, dst_fmt.name)
    encoder = msgspec.json.Encoder()
    out: list[bytes] = []
    rejects: list[bytes] = []
    for row in scan(source, src_fmt):
        report.rows_in += 1
        reason = row.error
        if row.conversation is not None:
            try:
                out.append(encoder.encode(dst_fmt.from_conversation(row.conversation)))
                continue
            except RowError as exc:
                reason = f"cannot be written as {dst_fmt.name}: {exc}"
        issue = RowIssue(row.index, reason or "invalid", row.line)
        report.rejected.append(issue)
        rejects.append(encoder.encode({"index": row.index, "line": row.line,
                                       "reason": issue.reason, "row": row.data()}))
    report.rows_out = len(out)
    if target.suffix.lower() in JSONL_SUFFIXES:
        payload = b"".join(line + b"\n" for line in out)
    else:
        payload = msgspec.json.format(b"[" + b",".join(out) + b"]", indent=2) + b"\n"
    atomic_write(target, payload)
    reject_file = rejected_path_for(target)
    if rejects:
        atomic_write(reject_file, b"".join(line + b"\n" for line in rejects))
        report.rejected_path = str(reject_file)
    else:
        reject_file.unlink(missing_ok=True)
    assert report.rows_in == report.rows_out + len(report.rejected)
    return report
