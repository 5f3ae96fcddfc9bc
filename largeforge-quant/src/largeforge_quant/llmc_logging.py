"""llm-compressor logs through loguru to the ``sys.stdout`` of the moment it was imported; under
pytest (or any caller that swaps and closes stdout) that stream is later closed and every log
line prints an "I/O operation on closed file" traceback. Its loguru output goes to LargeForge's
logging instead (logger ``largeforge.llmcompressor``, warnings and above)."""

from __future__ import annotations

import logging
from typing import Any

_routed = False


def route_llmcompressor_logs() -> None:
    """Replace loguru's console sink (added by ``import llmcompressor``) by one into
    ``logging``; idempotent."""
    global _routed
    if _routed:
        return
    import llmcompressor  # noqa: F401  (its import configures loguru)
    from llmcompressor.logger import support_log_once
    from loguru import logger as loguru

    target = logging.getLogger("largeforge.llmcompressor")

    def sink(message: Any) -> None:
        record = message.record
        target.log(record["level"].no, "%s", record["message"])

    loguru.remove()
    loguru.add(sink, level="WARNING", format="{message}", filter=support_log_once)  # type: ignore[arg-type]
    _routed = True
