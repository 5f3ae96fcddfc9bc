"""LargeForge's log handler writes to the stderr of the moment a record is emitted: a server
thread that outlives a captured or redirected stderr must not log into a closed file (which
printed 'Message: ... Arguments: ...' logging-error blocks into the test suite's output)."""

from __future__ import annotations

import io
import sys

from largeforge.utils.logging import configure_logging, get_logger


def test_records_go_to_the_current_stderr_not_a_closed_one(monkeypatch):
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("INFO")
    log = get_logger("largeforge.test.stream")
    log.info("one")
    first.close()  # as pytest closes a test's captured stream
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    errors: list[BaseException] = []
    monkeypatch.setattr("logging.Handler.handleError", lambda self, record: errors.append(sys.exc_info()[1]))
    log.info("two")
    assert "two" in second.getvalue() and not errors
