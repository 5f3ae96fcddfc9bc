"""Validate data files and row lists, reporting every invalid row (spec 2.8)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from largeforge.contracts import DataFormat, RowError
from largeforge.data.conversation import Conversation
from largeforge.data.detect import get_format
from largeforge.data.reader import decode_rows, describe_validation_error, read_bytes
from largeforge.registry import Registry

_PLACEHOLDER = re.compile(r"\{\{\s*\w+\s*\}\}")
SHORT_RESPONSE_CHARS = 2


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
    """Counts and every problem of one validation (spec 2.8)."""

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


class DataValidator:
    """Validates files or in-memory rows against a registered format."""

    def __init__(self, formats: Registry[DataFormat] | None = None) -> None:
        self.formats = formats

    def validate_file(self, path: str | Path, format: str = "auto") -> ValidationReport:
        """Read the whole file and report counts, every invalid row and warnings.

        This is the hot path (millions of rows): rows are checked with ``fmt.check``, and
        converted to conversations only when the file may hold template placeholders.
        """
        fmt = get_format(format, path, self.formats)
        data = read_bytes(path)
        look_for_placeholders = b"{{" in data
        report = ValidationReport(str(path), fmt.name)
        errors, warnings, check = report.errors, report.warnings, fmt.check
        index = -1
        for index, line, _, row, error in decode_rows(path, fmt, data):
            if error is None:
                try:
                    replies = check(row)
                except RowError as exc:
                    error = str(exc)
                else:
                    for text in replies:  # a plain loop: this runs once per row
                        if len(text) <= SHORT_RESPONSE_CHARS and len(text.strip()) < SHORT_RESPONSE_CHARS:
                            warnings.append(RowIssue(index, "very short response", line))
                            break
                    if look_for_placeholders:
                        found = placeholders(fmt.to_conversation(row))
                        if found:
                            warnings.append(RowIssue(index, f"unfilled template placeholder {found}", line))
                    continue
            errors.append(RowIssue(index, error, line))
        total = index + 1
        report.total, report.invalid = total, len(errors)
        report.valid = total - report.invalid
        return report

    def validate_rows(
        self, rows: Sequence[Any], format: str
    ) -> tuple[list[Conversation], list[dict[str, Any]]]:
        """Split in-memory rows into valid conversations and ``{"index", "row", "error"}``."""
        fmt = get_format(format, None, self.formats)
        valid: list[Conversation] = []
        invalid: list[dict[str, Any]] = []
        for index, row in enumerate(rows):
            try:
                valid.append(fmt.to_conversation(msgspec.convert(row, fmt.row_type)))
            except msgspec.ValidationError as exc:
                invalid.append({"index": index, "row": row,
                                "error": describe_validation_error(exc)})
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
