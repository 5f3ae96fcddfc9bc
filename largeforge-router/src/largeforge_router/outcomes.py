"""Whose fault an expert's answer is: the rule that retries and the circuit breaker follow.

* ``ok``: the expert answered (2xx, 3xx).
* ``client``: the request's own error: a 4xx other than 429, or a 5xx the expert attributes to
  the request (``X-LargeForge-Fault: request``, sent by ``largeforge serve``). The answer goes to
  the client as it is and is not retried: it would fail the same way on any replica.
* ``busy``: backpressure, a 429 or a 503 carrying ``Retry-After``. Another replica may take the
  request; the endpoint is healthy, so its circuit is untouched.
* ``fault``: any other 5xx, the endpoint's own failure: counted against its circuit and retried
  on the next replica.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Outcome = Literal["ok", "client", "busy", "fault"]
FAULT_HEADER = "x-largeforge-fault"
MAX_RETRY_AFTER = 3600  # seconds; a larger or unreadable Retry-After is capped


def classify(status: int, headers: Mapping[str, str]) -> Outcome:
    """The :data:`Outcome` of an HTTP answer with ``status`` and ``headers`` (case-insensitive
    mapping, as aiohttp's)."""
    if status == 429 or (status == 503 and retry_after(headers) is not None):
        return "busy"
    if status >= 500:
        return "client" if headers.get(FAULT_HEADER, "").strip().lower() == "request" else "fault"
    return "client" if status >= 400 else "ok"


def retry_after(headers: Mapping[str, str]) -> int | None:
    """The ``Retry-After`` seconds of an answer, at least 1 and at most :data:`MAX_RETRY_AFTER`
    (an HTTP-date counts as 1 s); None without the header."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit():
        return 1
    seconds = int(value) if len(value) <= 6 else MAX_RETRY_AFTER
    return max(1, min(seconds, MAX_RETRY_AFTER))
