"""Validate data files and row lists, reporting every invalid row."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from largeforge.contracts import DataFormat, RowError
from largeforge.data import parts
from largeforge.data.conversation import Conversation
from largeforge.data.detect import get_format
from largeforge.data.reader import (
    Buffer,
    decode_all,
    decode_rows,
    describe_validation_error,
    is_jsonl,
    jsonl_line_numbers,
    read_data,
)
from largeforge.data.rows import typed
from largeforge.data.screen import PLACEHOLDER_OPEN, SHORT_RESPONSE_CHARS
from largeforge.data.source import DataSource, as_source
from largeforge.registry import Registry

_PLACEHOLDER = re.compile(r"\{\{\s*\w+\s*\}\}")
# A regex finds "{{" in a large file three times faster than ``in`` (it scans with memchr).
_PLACEHOLDER_OPEN = re.compile(re.escape(PLACEHOLDER_OPEN.encode()))


@dataclass
class RowIssue:
    """An invalid row (error) or a suspicious one (warning)."""

    index: int
    reason: str
    line: int | None = None

    @property
    def location(self) -> str:
        return f"line {self.line}" if self.line is not None else f"row {self.index}"

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


@dataclass
class ValidationReport:
    """Counts and every problem of one validation."""

    path: str
    format: str
    total: int = 0
    valid: int = 0
    invalid: int = 0
    errors: list[RowIssue] = field(default_factory=list)
    warnings: list[RowIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no row is invalid (warnings allowed)."""
        return self.invalid == 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def placeholders(conversation: Conversation) -> str:
    """Unfilled ``{{name}}``-style template placeholders in a conversation, comma-separated."""
    texts = [m.content for m in conversation.messages] + conversation.replies()
    return ", ".join(sorted({p for t in texts if "{{" in t for p in _PLACEHOLDER.findall(t)}))


@dataclass
class _Checked:
    """The outcome of checking some rows: how many, and the issues (indices relative to them)."""

    total: int
    errors: list[RowIssue]
    warnings: list[RowIssue]


class DataValidator:
    """Validates files or in-memory rows against a registered format.

    ``screen=False`` checks every row one by one instead of letting the format screen them
    (slower; the report is the same). ``workers`` caps the processes a large file is split
    across (``None``: one per CPU, for files of at least 16 MiB per process)."""

    def __init__(
        self, formats: Registry[DataFormat] | None = None, *, screen: bool = True, workers: int | None = None
    ) -> None:
        self.formats = formats
        self.screen = screen
        self.workers = workers

    def validate_file(self, path: str | Path | DataSource, format: str = "auto") -> ValidationReport:
        """Read every row of ``path`` (a path or a :class:`~largeforge.data.source.DataSource`:
        any file kind, a ``datasets`` folder, a hub id, with its column mapping) and report
        counts, every invalid row and warnings.

        This is the hot path (millions of rows): a JSON file is decoded by one msgspec call per
        part, the format screens the rows and only those it flags get the exact per-row check
        (:mod:`largeforge.data.screen`); large files are split across processes
        (:mod:`largeforge.data.parts`). A file where some row does not decode is checked row by
        row in one process, so every bad row is reported with its own reason. Other sources are
        read batch by batch (:func:`largeforge.data.rows.typed`), screened the same way.
        """
        source = as_source(path)
        fmt = get_format(format, source, self.formats)
        if source.json_fast_path:
            data = read_data(source.location)
            jsonl = is_jsonl(Path(source.location), data[:64])
            checked = self._check_in_parts(fmt, data, jsonl) or self._check(fmt, Path(source.location), data, jsonl)
        else:
            checked = self._check_batches(fmt, source)
        report = ValidationReport(
            str(source), fmt.name, total=checked.total, errors=checked.errors, warnings=checked.warnings
        )
        report.invalid = len(report.errors)
        report.valid = report.total - report.invalid
        return report

    def _check_in_parts(self, fmt: DataFormat, data: Buffer, jsonl: bool) -> _Checked | None:
        """Check ``data`` split across processes; ``None`` when it is not split or a part does
        not decode as a whole."""
        workers = parts.default_workers(len(data))
        workers = workers if self.workers is None else min(workers, self.workers)
        pieces = parts.split(data, workers, jsonl=jsonl) if workers > 1 else None
        if pieces is None:
            return None
        results = parts.map_parts(partial(self._check_whole, fmt, jsonl=jsonl), data, pieces)
        if results is None or any(result is None for result in results):
            return None
        merged = _Checked(0, [], [])
        for piece, result in zip(pieces, results, strict=True):
            assert result is not None
            lines_before = (
                bytes(data[: piece.start]).count(b"\n") if jsonl and (result.errors or result.warnings) else 0
            )
            for issues, into in ((result.errors, merged.errors), (result.warnings, merged.warnings)):
                for issue in issues:
                    issue.index += merged.total
                    if issue.line is not None:
                        issue.line += lines_before
                    into.append(issue)
            merged.total += result.total
        return merged

    def _check_whole(self, fmt: DataFormat, data: bytes | memoryview, *, jsonl: bool) -> tuple[_Checked | None, Any]:
        """Check ``data`` when it decodes in one call (``None`` otherwise), and the decoded rows."""
        rows = decode_all(fmt, data, jsonl=jsonl)
        if rows is None:
            return None, None
        return self._check_rows(fmt, data, jsonl, rows), rows

    def _check(self, fmt: DataFormat, path: Path, data: Buffer, jsonl: bool) -> _Checked:
        """Check ``data`` in this process, row by row where it does not decode as a whole."""
        rows = decode_all(fmt, data, jsonl=jsonl)
        if rows is not None:
            return self._check_rows(fmt, data, jsonl, rows)
        checked = _Checked(0, [], [])
        look_for_placeholders = _PLACEHOLDER_OPEN.search(data) is not None
        data = data if isinstance(data, bytes) else bytes(data)
        for index, line, _, row, error in decode_rows(path, fmt, data, whole=False):
            self._check_row(checked, fmt, index, line, row, error, look_for_placeholders)
            checked.total = index + 1
        return checked

    def _check_batches(self, fmt: DataFormat, source: DataSource) -> _Checked:
        """Check a source batch by batch: screened where every row of a batch converted, else
        each row on its own."""
        checked = _Checked(0, [], [])
        for batch, items, errors in typed(source, fmt):
            whole = self.screen and not any(errors)
            suspects = fmt.screen(items, placeholders=True) if whole else None
            order = range(len(items)) if suspects is None else sorted(suspects)
            for i in order:
                self._check_row(
                    checked, fmt, batch.start + i, batch.lines[i] if batch.lines else None, items[i], errors[i], True
                )
            checked.total = batch.start + len(items)
        return checked

    def _check_rows(self, fmt: DataFormat, data: Buffer | memoryview, jsonl: bool, rows: list[Any]) -> _Checked:
        """Check decoded ``rows``: the exact check on those the format's screen flags."""
        checked = _Checked(len(rows), [], [])
        look_for_placeholders = _PLACEHOLDER_OPEN.search(data) is not None
        suspects = fmt.screen(rows, placeholders=look_for_placeholders) if self.screen else None
        order = range(len(rows)) if suspects is None else sorted(suspects)
        lines = jsonl_line_numbers(data) if order and jsonl else None
        for index in order:
            self._check_row(
                checked, fmt, index, lines[index] if lines else None, rows[index], None, look_for_placeholders
            )
        return checked

    @staticmethod
    def _check_row(
        checked: _Checked,
        fmt: DataFormat,
        index: int,
        line: int | None,
        row: Any,
        error: str | None,
        look_for_placeholders: bool,
    ) -> None:
        """The exact check of one row: an error, or warnings for a short reply or placeholders."""
        if error is None:
            try:
                replies = fmt.check(row)
            except RowError as exc:
                error = str(exc)
            else:
                for text in replies:
                    if len(text) <= SHORT_RESPONSE_CHARS and len(text.strip()) < SHORT_RESPONSE_CHARS:
                        checked.warnings.append(RowIssue(index, "very short response", line))
                        break
                if look_for_placeholders:
                    found = placeholders(fmt.to_conversation(row))
                    if found:
                        checked.warnings.append(RowIssue(index, f"unfilled template placeholder {found}", line))
                return
        checked.errors.append(RowIssue(index, error, line))

    def validate_rows(self, rows: Sequence[Any], format: str) -> tuple[list[Conversation], list[dict[str, Any]]]:
        """Split in-memory rows into valid conversations and ``{"index", "row", "error"}``."""
        fmt = get_format(format, None, self.formats)
        valid: list[Conversation] = []
        invalid: list[dict[str, Any]] = []
        for index, row in enumerate(rows):
            try:
                valid.append(fmt.to_conversation(msgspec.convert(row, fmt.row_type)))
            except msgspec.ValidationError as exc:
                invalid.append({"index": index, "row": row, "error": describe_validation_error(exc)})
            except ValueError as exc:
                invalid.append({"index": index, "row": row, "error": str(exc)})
        return valid, invalid

    # The spec's per-format entry points.
    @classmethod
    def validate_alpaca(cls, data: Sequence[Any]) -> tuple[list[Conversation], list[dict[str, Any]]]:
        """Validate Alpaca rows: (valid, invalid-with-errors)."""
        return cls().validate_rows(data, "alpaca")

    @classmethod
    def validate_sharegpt(cls, data: Sequence[Any]) -> tuple[list[Conversation], list[dict[str, Any]]]:
        """Validate ShareGPT rows: (valid, invalid-with-errors)."""
        return cls().validate_rows(data, "sharegpt")

    @classmethod
    def validate_dpo(cls, data: Sequence[Any]) -> tuple[list[Conversation], list[dict[str, Any]]]:
        """Validate preference rows: (valid, invalid-with-errors)."""
        return cls().validate_rows(data, "dpo")
