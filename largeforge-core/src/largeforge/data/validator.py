"""Validate data files and row lists, reporting every invalid row (spec 2.8)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from largeforge.contracts import DataFormat
from largeforge.data.conversation import Conversation
from largeforge.data.detect import get_format
from largeforge.data.reader import Row, describe_validation_error, scan
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


def row_warnings(conversation: Conversation) -> list[str]:
    """Edge cases worth a look that do not make a row invalid."""
    found = []
    replies = [m for m in conversation.messages if m.role == "assistant"]
    replies += [m for m in (conversation.chosen, conversation.rejected) if m is not None]
    if any(len(m.content.strip()) < SHORT_RESPONSE_CHARS for m in replies):
        found.append("very short response")
    texts = [m.content for m in conversation.messages] + [m.content for m in replies]
    placeholders = sorted({p for t in texts for p in _PLACEHOLDER.findall(t)})
    if placeholders:
        found.append(f"unfilled template placeholder {', '.join(placeholders)}")
    return found


class DataValidator:
    """Validates files or in-memory rows against a registered format."""

    def __init__(self, formats: Registry[DataFormat] | None = None) -> None:
        self.formats = formats

    def validate_file(self, path: str | Path, format: str = "auto") -> ValidationReport:
        """Read the whole file and report counts, every invalid row and warnings."""
        fmt = get_format(format, path, self.formats)
        report = ValidationReport(str(path), fmt.name)
        for row in scan(path, fmt):
            self._account(report, row)
        return report

    @staticmethod
    def _account(report: ValidationReport, row: Row) -> None:
        report.total += 1
        if row.conversation is None:
            report.invalid += 1
            report.errors.append(RowIssue(row.index, row.error or "invalid", row.line))
            return
        report.valid += 1
        for warning in row_warnings(row.conversation):
            report.warnings.append(RowIssue(row.index, warning, row.line))

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
