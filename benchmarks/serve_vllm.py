"""LargeForge's vLLM backend against vLLM's own OpenAI server, with the transformers engine beside
them, on the embedded SmolLM2-135M-Instruct, in one run.

``largeforge serve inference --backend vllm`` starts vLLM's OpenAI server as a child process and
puts LargeForge's gateway in front of it. The benchmark streams the same chat completions

* through the gateway (``gateway``),
* straight to that same vLLM server, on its own port (``vllm``): the same process, so the only
  difference is the gateway's hop (a second vLLM beside it would split the machine's cores),
* to ``largeforge serve inference`` with the transformers engine (``transformers``),

with one client and with 8 concurrent clients, round by round, the order of the three rotating
every round so that load from other processes hits them alike. Ratios are taken within each
round and their median is reported. Targets: gateway ≥ 0.95× vLLM for 1 and for 8 clients.
Writes ``benchmarks/results/serve_vllm.json`` (with the 1-minute load average of every round).

    python benchmarks/serve_vllm.py [--rounds 5] [--max-tokens 64] [--clients 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from largeforge.models import DEFAULT_MODEL
from largeforge.utils.process import CommandProcess
from largeforge_serve.launch import ServerProcess

RESULTS = Path(__file__).parent / "results" / "serve_vllm.json"
MESSAGES = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]
_READY = re.compile(r"serving .* at (http://\S+/v1)")
_UPSTREAM_PORT = re.compile(r"starting vllm: .* --port (\d+)")


def stream_chat(url: str, max_tokens: int, out: list[tuple[int, float]]) -> None:
    """One streamed chat completion; appends (completion tokens, seconds to the first token)."""
    body = {
        "model": DEFAULT_MODEL,
        "messages": MESSAGES,
        "temperature": 0,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    usage, first = None, None
    start = time.perf_counter()
    with httpx.Client(timeout=900) as client, client.stream("POST", f"{url}/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if first is None and '"content":"' in line:
                first = time.perf_counter() - start
            if line.startswith("data: {") and '"usage":{' in line:
                usage = json.loads(line[6:])["usage"]
    assert usage is not None and first is not None
    out.append((int(usage["completion_tokens"]), first))


def measure(url: str, clients: int, max_tokens: int) -> tuple[float, float]:
    """Aggregate tokens/s of ``clients`` concurrent streams, and their median time to first token."""
    results: list[tuple[int, float]] = []
    threads = [threading.Thread(target=stream_chat, args=(url, max_tokens, results)) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    assert len(results) == clients, "a client failed"
    return sum(t for t, _ in results) / elapsed, statistics.median(f for _, f in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--transformers-threads",
        type=int,
        default=1,
        help="torch threads of the transformers server (vLLM binds one core and keeps one for "
        "its API server; on a busy 2-core machine one thread is faster)",
    )
    args = parser.parse_args()

    common = [
        "--model",
        DEFAULT_MODEL,
        "--max-concurrency",
        str(args.clients),
        "--max-model-len",
        "2048",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ]
    # -v: the gateway logs the command line of its vLLM child, whose port the direct clients use.
    gateway = CommandProcess(
        ["-v", "serve", "inference", "--backend", "vllm", *common], ready=_READY, timeout=1800, env={"COLUMNS": "400"}
    )
    transformers = ServerProcess(["--backend", "transformers", "--threads", str(args.transformers_threads), *common])
    started = time.perf_counter()
    with gateway:
        vllm_start = time.perf_counter() - started
        port = next(m.group(1) for line in gateway.lines if (m := _UPSTREAM_PORT.search(line)))
        with transformers:
            urls = {"gateway": gateway.url, "vllm": f"http://127.0.0.1:{port}/v1", "transformers": transformers.url}
            for url in urls.values():  # warm-up
                measure(url, 1, 8)
            rates: dict[str, list[float]] = {f"{k}_{n}": [] for k in urls for n in (1, args.clients)}
            ttft: dict[str, list[float]] = {k: [] for k in rates}
            loads: list[float] = []
            names = list(urls)
            for round_no in range(args.rounds):
                loads.append(os.getloadavg()[0])
                order = names[round_no % 3 :] + names[: round_no % 3]
                for clients in (1, args.clients):
                    for name in order:
                        rate, first = measure(urls[name], clients, args.max_tokens)
                        rates[f"{name}_{clients}"].append(rate)
                        ttft[f"{name}_{clients}"].append(first)
                        print(
                            f"round {round_no + 1}: {name:>12} × {clients}: {rate:6.1f} tok/s, "
                            f"first token {first:.2f}s (load {os.getloadavg()[0]:.2f})",
                            flush=True,
                        )

    def ratio(a: str, b: str) -> list[float]:
        return [round(x / y, 3) for x, y in zip(rates[a], rates[b], strict=True)]

    many = args.clients
    per_round = {
        "gateway_vs_vllm_1": ratio("gateway_1", "vllm_1"),
        f"gateway_vs_vllm_{many}": ratio(f"gateway_{many}", f"vllm_{many}"),
        "gateway_vs_transformers_1": ratio("gateway_1", "transformers_1"),
        f"gateway_vs_transformers_{many}": ratio(f"gateway_{many}", f"transformers_{many}"),
    }
    result: dict[str, Any] = {
        "model": DEFAULT_MODEL,
        "max_tokens": args.max_tokens,
        "clients": many,
        "rounds": args.rounds,
        "vllm_dtype": "float32",
        "transformers_threads": args.transformers_threads,
        "vllm_start_seconds": round(vllm_start, 1),
        "ratios_median": {k: round(statistics.median(v), 3) for k, v in per_round.items()},
        "targets": {"gateway_vs_vllm_1": 0.95, f"gateway_vs_vllm_{many}": 0.95},
        "ratios_per_round": per_round,
        "tokens_per_second_median": {k: round(statistics.median(v), 2) for k, v in rates.items()},
        "tokens_per_second_all": {k: [round(x, 2) for x in v] for k, v in rates.items()},
        "first_token_seconds_median": {k: round(statistics.median(v), 3) for k, v in ttft.items()},
        "load_average_1min_per_round": [round(x, 2) for x in loads],
        "machine": {"arch": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result["ratios_median"].items():
        print(f"{key}: {value:.3f}x")
    print(f"load average per round: {result['load_average_1min_per_round']}; wrote {RESULTS}")


if __name__ == "__main__":
    main()
