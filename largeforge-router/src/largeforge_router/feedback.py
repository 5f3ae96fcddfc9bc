"""Learning from misroutes: corrections sent to ``POST /v1/router/feedback`` are stored as
labelled queries and learnt the next time the classifier is trained (``router serve`` at start,
``router train``, a forge's route stage).

The router remembers the query and the expert of its most recent routed requests by request id,
so a client corrects a misroute with the ``X-Request-ID`` it got back and the right expert. A
correction of a query that is also in the training data replaces that row's label.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from pathlib import Path

from largeforge.utils.io import ensure_dir
from largeforge.utils.text import query_key
from largeforge_router.config import read_labelled

#: How many routed requests are remembered for feedback (the oldest are forgotten first).
REMEMBERED = 10_000


class RecentRoutes:
    """The query and routed expert of the last :data:`REMEMBERED` requests, by request id."""

    def __init__(self, limit: int = REMEMBERED) -> None:
        self.limit = limit
        self._routes: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, request_id: str, query: str, expert: str) -> None:
        """Record that request ``request_id`` asked ``query`` and was routed to ``expert``."""
        with self._lock:
            self._routes[request_id] = (query, expert)
            self._routes.move_to_end(request_id)
            while len(self._routes) > self.limit:
                self._routes.popitem(last=False)

    def get(self, request_id: str) -> tuple[str, str] | None:
        """``(query, routed expert)`` of ``request_id``, or ``None`` if it is not remembered."""
        with self._lock:
            return self._routes.get(request_id)


class FeedbackStore:
    """Corrections appended to a JSONL file of ``{"query", "expert", "routed", "request_id", "time"}``
    rows (the ``{"query", "expert"}`` form every router training file has)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def add(self, query: str, expert: str, *, routed: str | None = None, request_id: str | None = None) -> int:
        """Store one correction; returns how many the file now holds."""
        row = {"query": query, "expert": expert, "routed": routed, "request_id": request_id, "time": time.time()}
        with self._lock:
            ensure_dir(self.path.parent)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            return len(read_corrections(self.path))


def read_corrections(path: str | Path | None) -> list[tuple[str, str]]:
    """The ``(query, expert)`` corrections stored at ``path`` (none when it does not exist); a
    later correction of the same query wins."""
    if path is None or not Path(path).is_file():
        return []
    latest = {query_key(query): (query, expert) for query, expert in read_labelled(path)}
    return list(latest.values())


def with_corrections(training: list[tuple[str, str]], corrections: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``training`` with every query that has a correction relabelled by it, plus the corrected
    queries that were not in it."""
    if not corrections:
        return training
    corrected = {query_key(query) for query, _ in corrections}
    return [pair for pair in training if query_key(pair[0]) not in corrected] + corrections
