"""Structured logging on the standard library: JSON or coloured lines, request ids, timers.

from largeforge.utils.logging import get_logger
logger = get_logger(__name__)
logger.info("Training started", extra={"model": "llama-7b", "epochs": 3})
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

ROOT = "largeforge"
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("largeforge_request_id", default=None)

# Attributes every LogRecord has; anything else came in through ``extra=``.
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}
_COLOURS = {
    "DEBUG": "\033[36m",
    "INFO": "\033[32m",
    "WARNING": "\033[33m",
    "ERROR": "\033[31m",
    "CRITICAL": "\033[1;31m",
}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}


class RequestIdFilter(logging.Filter):
    """Copy the current request id (see :func:`request_context`) onto every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "request_id", None):
            payload["request_id"] = record.request_id  # type: ignore[attr-defined]
        payload.update(_extras(record))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class ColourFormatter(logging.Formatter):
    """``LEVEL logger: message key=value`` with the level coloured when writing to a terminal."""

    def __init__(self, colour: bool) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        name = record.levelname
        level = f"{_COLOURS.get(name, '')}{name:<7}\033[0m" if self.colour else f"{name:<7}"
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        rid = getattr(record, "request_id", None)
        text = f"{level} {record.name}: {record.getMessage()}"
        if rid:
            text += f" [{rid}]"
        if extras:
            text += f" {extras}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes to whatever ``sys.stderr`` is when a record is emitted, not the
    stream of the moment it was set up: a server thread that outlives a redirected or captured
    stderr (pytest's capsys, a closed pipe) would otherwise log into a closed file."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__/setStream assign it; ignore
        pass


def configure_logging(level: str | int = "INFO", *, json_format: bool | None = None) -> None:
    """Configure the ``largeforge`` logger tree once (idempotent).

    ``json_format`` defaults to the ``LARGEFORGE_LOG_FORMAT=json`` environment variable.
    """
    if json_format is None:
        json_format = os.environ.get("LARGEFORGE_LOG_FORMAT", "").lower() == "json"
    root = logging.getLogger(ROOT)
    for handler in list(root.handlers):
        if getattr(handler, "_largeforge", False):
            root.removeHandler(handler)
    handler = CurrentStderrHandler()
    handler._largeforge = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JSONFormatter() if json_format else ColourFormatter(sys.stderr.isatty()))
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    root.propagate = False


def get_logger(name: str) -> logging.Logger:
    """A logger under the ``largeforge`` tree (names outside it are nested under it; a sibling
    distribution's module ``largeforge_train.sft`` logs as ``largeforge.train.sft``)."""
    if name != ROOT and not name.startswith(f"{ROOT}."):
        if name.startswith(f"{ROOT}_"):
            name = name[len(ROOT) + 1 :]
        name = f"{ROOT}.{name}"
    return logging.getLogger(name)


@contextlib.contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Tag every log record emitted inside the block with ``request_id``."""
    token = request_id_var.set(request_id)
    try:
        yield
    finally:
        request_id_var.reset(token)


@contextlib.contextmanager
def timed(logger: logging.Logger, what: str, level: int = logging.INFO) -> Iterator[dict[str, float]]:
    """Log how long the block took: ``with timed(log, "load model") as t: ...``; ``t["seconds"]``."""
    result: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield result
    finally:
        result["seconds"] = time.perf_counter() - start
        logger.log(level, "%s took %.2fs", what, result["seconds"], extra={"seconds": round(result["seconds"], 3)})
