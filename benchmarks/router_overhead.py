"""Router overhead and classifier speed, measured side by side in one run.

1. Latency of a non-streamed chat completion sent straight to an expert versus through the
   router (``model: "auto"``, keyword routing) to that same expert, for two experts:
   ``constant``, a minimal asyncio HTTP server in its own process answering a fixed completion
   (so the difference is the router's own cost), and ``serve``, a real ``largeforge serve
   inference`` process on a tiny random Llama (2 layers, hidden 64, SmolLM2's tokenizer)
   answering one token. Requests alternate direct / routed, one at a time, over keep-alive
   connections; p50 and p95 of each path and the p50 of the paired differences are reported
   (target: at most 2 ms added at p50).

   The serve expert runs with ``--threads 1``: client, router and expert share the CPU, and on
   a 2-core machine torch's default intra-op threads fight them for it (one token took ~250 ms
   instead of ~9 ms at load average 3), which swamps the router's cost. Its latency still
   depends on what else runs; the paired difference is the figure to read there.
2. Keyword classification throughput (queries per second, one thread) on the example set.
3. Neural and hybrid classification latency for one query (p50, p95) with the packaged MiniLM.

Writes ``benchmarks/results/router_overhead.json``.

    python benchmarks/router_overhead.py [--requests 300] [--model DIR] [--expert-threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from largeforge_router.classifiers.hybrid import HybridClassifier
from largeforge_router.classifiers.keyword import KeywordClassifier
from largeforge_router.classifiers.neural import NeuralClassifier
from largeforge_router.config import load_router_config, read_labelled
from largeforge_router.evaluation import percentile
from largeforge_router.launch import RouterProcess

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "router"
RESULTS = ROOT / "benchmarks" / "results" / "router_overhead.json"


def tiny_model(target: Path) -> Path:
    """A tiny random Llama with SmolLM2's real tokenizer (the test suite's fast model)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from largeforge.models import DEFAULT_MODEL, resolve_model

    source = resolve_model(DEFAULT_MODEL)
    config = AutoConfig.from_pretrained(source)
    config.update(
        {
            "num_hidden_layers": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
        }
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)
    return target


def http_stack() -> dict[str, str | None]:
    """Versions of the HTTP pieces in play (uvicorn picks uvloop/httptools when installed)."""
    from importlib.metadata import PackageNotFoundError, version

    def get(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {name: get(name) for name in ("uvicorn", "uvloop", "httptools", "aiohttp", "litestar")}


def stats(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50), 3),
        "p95": round(percentile(values, 95), 3),
        "mean": round(sum(values) / len(values), 3),
    }


CONSTANT = json.dumps(
    {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": "code",
        "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "ok"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
).encode()


def _constant_expert(sock: socket.socket) -> None:
    """HTTP/1.1 keep-alive server answering every request with :data:`CONSTANT` (child process)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:  # the client closed its keep-alive connection
                writer.close()
                return
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            body = b'{"status": "ok"}' if head.startswith(b"GET /health") else CONSTANT
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            await writer.drain()

    async def run() -> None:
        server = await asyncio.start_server(handle, sock=sock)
        await server.serve_forever()

    asyncio.run(run())


class ConstantExpert:
    """:func:`_constant_expert` in a child process; ``with ConstantExpert() as url``."""

    def __enter__(self) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        self.proc = multiprocessing.get_context("fork").Process(target=_constant_expert, args=(sock,), daemon=True)
        self.proc.start()
        sock.close()
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.join()


def overhead(expert_url: str, requests: int, workdir: Path) -> dict[str, Any]:
    """Alternate direct and routed requests to ``expert_url``; latency statistics in ms."""
    config = {
        "experts": [
            {"name": "code", "keywords": ["python"], "endpoints": [expert_url]},
            {"name": "general", "endpoints": [expert_url]},
        ],
        "classifier": {"classifier_type": "keyword", "fallback_expert": "general"},
        "server": {"health_check_interval": 0},
    }
    path = workdir / "router.yaml"
    path.write_text(yaml.safe_dump(config))
    with RouterProcess(path) as router, httpx.Client(timeout=60) as direct, httpx.Client(timeout=60) as routed:
        message = [{"role": "user", "content": "why does my python loop never end?"}]
        body = {"messages": message, "max_tokens": 1, "temperature": 0}
        targets = ((direct, expert_url, "code"), (routed, router.url, "auto"))
        timings: dict[str, list[float]] = {"direct": [], "router": []}
        for i in range(requests + 20):
            for (client, url, model), key in zip(targets, timings, strict=True):
                start = time.perf_counter()
                response = client.post(f"{url}/v1/chat/completions", json={**body, "model": model})
                elapsed = (time.perf_counter() - start) * 1000
                response.raise_for_status()
                if key == "router":
                    assert response.headers["x-largeforge-expert"] == "code"
                if i >= 20:  # warm-up: connections, caches, first-call costs
                    timings[key].append(elapsed)
    added = [r - d for r, d in zip(timings["router"], timings["direct"], strict=True)]
    p50 = percentile(timings["router"], 50) - percentile(timings["direct"], 50)
    return {
        "requests": requests,
        "direct_ms": stats(timings["direct"]),
        "router_ms": stats(timings["router"]),
        "added_ms_p50": round(p50, 3),
        "added_ms_p95": round(percentile(timings["router"], 95) - percentile(timings["direct"], 95), 3),
        "paired_difference_ms": stats(added),
        "meets_2ms_target_at_p50": p50 <= 2.0,
    }


def classifiers() -> dict[str, Any]:
    cfg = load_router_config(EXAMPLES / "router.yaml")
    queries = [q for q, _ in read_labelled(EXAMPLES / "eval.jsonl")]
    keyword = KeywordClassifier(cfg.expert_keywords(), fallback_expert="general")
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < 2.0:
        for query in queries:
            keyword.classify(query)
        count += len(queries)
    keyword_qps = count / (time.perf_counter() - start)

    neural = NeuralClassifier(seed=0)
    neural.train(read_labelled(EXAMPLES / "train.jsonl"))
    hybrid = HybridClassifier(cfg.expert_keywords(), neural=neural, fallback_expert="general")
    out: dict[str, Any] = {"keyword_queries_per_s": round(keyword_qps), "queries": len(queries)}
    for name, clf in (("neural", neural), ("hybrid", hybrid)):
        clf.classify(queries[0])
        times = []
        for query in queries:
            start = time.perf_counter()
            clf.classify(query)
            times.append((time.perf_counter() - start) * 1000)
        out[f"{name}_ms"] = stats(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="Measured requests per path.")
    parser.add_argument("--model", type=Path, help="Expert model directory (default: a tiny random Llama).")
    parser.add_argument("--expert-threads", type=int, default=1, help="torch threads of the serve expert.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or tiny_model(Path(tmp) / "tiny")
        from largeforge_serve.launch import ServerProcess

        machine = {
            "python": platform.python_version(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_before": os.getloadavg(),
            "http_stack": http_stack(),
        }
        result: dict[str, Any] = {"machine": machine, "overhead": {}}
        with ConstantExpert() as url:
            result["overhead"]["constant_expert"] = overhead(url, args.requests, Path(tmp))
        with ServerProcess(
            [
                *("--model", str(model), "--backend", "transformers", "--served-model-name", "code"),
                *("--threads", str(args.expert_threads)),
            ]
        ) as expert:
            result["overhead"]["serve_tiny_model"] = overhead(expert.url.removesuffix("/v1"), args.requests, Path(tmp))
            result["overhead"]["serve_tiny_model"]["expert_threads"] = args.expert_threads
        result["classifiers"] = classifiers()
        machine["load_average_after"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
