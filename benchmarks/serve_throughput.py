"""Serving throughput on the embedded SmolLM2-135M-Instruct, measured side by side in one run.

1. **HTTP overhead**: one client streaming chat completions through ``largeforge serve
   inference`` (a real server process on 127.0.0.1) versus the same requests given to the
   engine in-process (``TransformersEngine.stream_events``). Target: HTTP ≥ 0.95× in-process.
2. **Batching**: aggregate tokens/s of 8 concurrent streaming HTTP clients versus 1.
   Target ≥ 3×. For reference, the same run measures the ceiling: plain ``model.generate`` on a
   batch of 8 versus 1, without server or scheduler.

Every request is greedy with the same prompt and ``max_tokens``, so each generates the same
number of tokens. Each round runs the three measurements back to back (the single-client
pair in alternating order), so load from other processes hits them alike; the ratios are
taken within each round and their median is reported. Writes
``benchmarks/results/serve_throughput.json``.

    python benchmarks/serve_throughput.py [--rounds 5] [--requests 1] [--max-tokens 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from largeforge.models import DEFAULT_MODEL, resolve_model
from largeforge_serve.engines.base import SamplingParams
from largeforge_serve.engines.transformers_engine import TransformersEngine
from largeforge_serve.launch import ServerProcess

RESULTS = Path(__file__).parent / "results" / "serve_throughput.json"
MESSAGES = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]


def in_process(engine: TransformersEngine, requests: int, max_tokens: int) -> tuple[int, float]:
    """Tokens and seconds for ``requests`` sequential requests straight to the engine."""
    prompt = engine.render_chat(MESSAGES)
    params = SamplingParams(temperature=0, max_tokens=max_tokens)
    tokens, start = 0, time.perf_counter()
    for _ in range(requests):
        tokens += list(engine.stream_events(prompt, params, chat=True))[-1].completion_tokens
    return tokens, time.perf_counter() - start


def direct_generate(engine: TransformersEngine, batch: int, max_tokens: int) -> tuple[int, float]:
    """Reference ceiling: plain ``model.generate`` on ``batch`` copies of the prompt (no server,
    no scheduler), forced to produce exactly ``max_tokens`` tokens each."""
    import torch

    ids = engine.tokenizer(engine.render_chat(MESSAGES), return_tensors="pt", add_special_tokens=False)
    inputs = {k: v.repeat(batch, 1) for k, v in ids.items()}
    start = time.perf_counter()
    with torch.inference_mode():
        engine.model.generate(**inputs, max_new_tokens=max_tokens, min_new_tokens=max_tokens, do_sample=False)
    return batch * max_tokens, time.perf_counter() - start


def stream_over_http(url: str, requests: int, max_tokens: int, out: list[int]) -> None:
    """One client: ``requests`` sequential streamed chat completions; appends token counts."""
    body = {
        "model": DEFAULT_MODEL,
        "messages": MESSAGES,
        "temperature": 0,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.Client(timeout=600) as client:
        for _ in range(requests):
            usage = None
            with client.stream("POST", f"{url}/chat/completions", json=body) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if line.startswith("data: {") and '"usage":{' in line:
                        usage = json.loads(line[6:])["usage"]
            assert usage is not None
            out.append(usage["completion_tokens"])


def over_http(url: str, clients: int, requests: int, max_tokens: int) -> tuple[int, float]:
    counts: list[int] = []
    threads = [
        threading.Thread(target=stream_over_http, args=(url, requests, max_tokens, counts)) for _ in range(clients)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    assert len(counts) == clients * requests, "a client failed"
    return sum(counts), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1, help="sequential requests per client")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (both sides)")
    args = parser.parse_args()

    model_dir = resolve_model(DEFAULT_MODEL)
    engine = TransformersEngine(str(model_dir), max_batch_size=args.clients, threads=args.threads)
    engine.load()
    server_args = ["--model", DEFAULT_MODEL, "--backend", "transformers", "--max-concurrency", str(args.clients)]
    if args.threads:
        server_args += ["--threads", str(args.threads)]
    one, many = "http_1", f"http_{args.clients}"
    direct_one, direct_many = "generate_1", f"generate_{args.clients}"
    rates: dict[str, list[float]] = {"in_process_1": [], one: [], many: [], direct_one: [], direct_many: []}
    measures = {
        direct_one: lambda: direct_generate(engine, 1, args.max_tokens),
        direct_many: lambda: direct_generate(engine, args.clients, args.max_tokens),
        "in_process_1": lambda: in_process(engine, args.requests, args.max_tokens),
        one: lambda: over_http(server.url, 1, args.requests, args.max_tokens),
        many: lambda: over_http(server.url, args.clients, args.requests, args.max_tokens),
    }
    with ServerProcess(server_args) as server:
        over_http(server.url, 1, 1, 8)  # warm-up both paths
        in_process(engine, 1, 8)
        for round_no in range(args.rounds):
            # Swap the order of the two single-client paths every round so drift hits both.
            order = ["in_process_1", one] if round_no % 2 == 0 else [one, "in_process_1"]
            for name in [*order, many, direct_one, direct_many]:
                tokens, seconds = measures[name]()
                rates[name].append(tokens / seconds)
                print(
                    f"round {round_no + 1}: {name:>14}: {tokens} tokens in {seconds:.2f}s "
                    f"= {tokens / seconds:.1f} tok/s",
                    flush=True,
                )
    engine.unload()

    # Ratios are taken within each round (measured minutes apart at most), then the median.
    http_vs_engine = statistics.median(h / e for h, e in zip(rates[one], rates["in_process_1"], strict=True))
    batching = statistics.median(m / h for m, h in zip(rates[many], rates[one], strict=True))
    direct = statistics.median(m / o for m, o in zip(rates[direct_many], rates[direct_one], strict=True))
    median = {name: statistics.median(values) for name, values in rates.items()}
    result: dict[str, Any] = {
        "model": DEFAULT_MODEL,
        "max_tokens": args.max_tokens,
        "requests_per_client": args.requests,
        "clients": args.clients,
        "rounds": args.rounds,
        "torch_threads": args.threads or "default",
        "tokens_per_second_median": {k: round(v, 2) for k, v in median.items()},
        "tokens_per_second_all": {k: [round(x, 2) for x in v] for k, v in rates.items()},
        "http_vs_in_process": round(http_vs_engine, 3),
        "http_vs_in_process_target": 0.95,
        f"concurrent_{args.clients}_vs_1": round(batching, 3),
        f"concurrent_{args.clients}_vs_1_target": 3.0,
        f"reference_generate_batch_{args.clients}_vs_1": round(direct, 3),
        "ratios_per_round": {
            "http_vs_in_process": [round(h / e, 3) for h, e in zip(rates[one], rates["in_process_1"], strict=True)],
            f"concurrent_{args.clients}_vs_1": [round(m / h, 3) for m, h in zip(rates[many], rates[one], strict=True)],
            f"generate_batch_{args.clients}_vs_1": [
                round(m / o, 3) for m, o in zip(rates[direct_many], rates[direct_one], strict=True)
            ],
        },
        "machine": {"arch": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"HTTP / in-process (1 client): {http_vs_engine:.3f}x (target >= 0.95)")
    print(f"{args.clients} clients / 1 client (HTTP, streaming): {batching:.3f}x (target >= 3)")
    print(f"reference: model.generate batch {args.clients} / batch 1 (in-process): {direct:.3f}x")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
