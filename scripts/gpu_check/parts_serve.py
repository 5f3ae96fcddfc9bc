"""The serving part: the transformers engine on the GPU behind ``largeforge serve inference``,
measured with the official openai client (1 client, then 8 at once)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from typing import Any

from gpu_check.common import MODEL, CheckFailed, Context, cuda_peak_mb

STORY: list[Any] = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]
MAX_TOKENS = 128


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clients(base_url: str, count: int, requests: int, max_tokens: int = MAX_TOKENS) -> dict[str, Any]:
    """``count`` threads, each streaming ``requests`` greedy chat completions one after another;
    aggregate completion tokens per second (from the streams' ``usage``)."""
    from openai import OpenAI

    tokens: list[int] = []
    first: list[float] = []
    texts: list[str] = []
    errors: list[str] = []

    def one_client() -> None:
        client = OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=120)
        for _ in range(requests):
            started, pieces, usage = time.perf_counter(), list[str](), None
            try:
                stream = client.chat.completions.create(
                    model=MODEL,
                    messages=STORY,
                    temperature=0,
                    max_tokens=max_tokens,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        if not pieces:
                            first.append(time.perf_counter() - started)
                        pieces.append(chunk.choices[0].delta.content)
                    usage = chunk.usage or usage
            except Exception as exc:  # a failed request is a result to report, not the end of the part
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            tokens.append(usage.completion_tokens if usage else 0)
            texts.append("".join(pieces))

    threads = [threading.Thread(target=one_client) for _ in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return {
        "clients": count,
        "requests": len(tokens),
        "tokens": sum(tokens),
        "seconds": round(seconds, 2),
        "tokens_per_s": round(sum(tokens) / seconds, 1),
        "first_token_s_max": round(max(first, default=0.0), 3),
        "same_text": len(set(texts)) == 1,
        "errors": errors,
    }


def _wait_healthy(url: str, server: subprocess.Popen[bytes], seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise CheckFailed(f"the server did not answer /health in {seconds:.0f} s (exit code {server.poll()})")


def part_serve(ctx: Context) -> dict[str, Any]:
    """The transformers engine behind ``largeforge serve inference``: 1, then 8 streaming clients."""
    port, probe = _free_port(), ctx.work / "probe-serve.json"
    args = ["serve", "inference", "--model", MODEL, "--backend", "transformers", "--port", str(port)]
    server = subprocess.Popen(ctx.cli_command(probe, *args, "--max-concurrency", "8"))
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server, 120)
        clients(f"{url}/v1", 1, 1, 16)  # warm-up
        single, eight = clients(f"{url}/v1", 1, 2), clients(f"{url}/v1", 8, 2)
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl+C: the server drains and the probe writes its facts
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    facts = json.loads(probe.read_text()) if probe.is_file() else {}
    return {
        "checks": {
            "no_errors": not (single["errors"] or eight["errors"]),
            "all_answered": eight["requests"] == 16 and eight["tokens"] > 0,
            "on_cuda": cuda_peak_mb(facts) > 0,
            "batching_helps": eight["tokens_per_s"] > 2 * single["tokens_per_s"],
        },
        "one_client": single,
        "eight_clients": eight,
        "ratio_8_vs_1": round(eight["tokens_per_s"] / max(single["tokens_per_s"], 1e-9), 2),
        "cuda_peak_mb": cuda_peak_mb(facts),
    }
