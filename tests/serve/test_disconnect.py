"""Issue 15, item 17: a non-streamed request stops decoding when its client goes away (it kept
running, counted active, for the whole generation)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest


@pytest.mark.parametrize("path", ["/chat/completions", "/completions"])
def test_client_gone_cancels_a_non_streamed_request(tiny_server: Any, path: str) -> None:
    body: dict[str, Any] = {"model": "tiny", "max_tokens": 1900, "temperature": 0}
    if path == "/chat/completions":
        body["messages"] = [{"role": "user", "content": "Write forever"}]
    else:
        body["prompt"] = ["Write forever", "And ever"]
    base = tiny_server.url.removesuffix("/v1")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{tiny_server.url}{path}", json=body, timeout=httpx.Timeout(60, read=1.0))
    left = time.monotonic()
    while httpx.get(f"{base}/health").json()["active_requests"] > 0:
        assert time.monotonic() - left < 3, "the abandoned request kept decoding"
        time.sleep(0.05)
