"""LargeForge's llamacpp backend vs llama.cpp's own Python server vs the transformers engine.

All three serve SmolLM2-135M-Instruct on one CPU thread each, started side by side, and are
measured round by round in turn (so each round's ratios share the machine's load):

* one client: time to first token and decode tokens/s of a streamed chat completion,
* 8 concurrent streaming clients: aggregate tokens/s (all tokens ÷ wall time) and the slowest
  client's time to first token.

Contenders: ``largeforge serve inference --backend llamacpp`` (the gateway + llama-server) and
``python -m llama_cpp.server`` (llama-cpp-python's OpenAI server, ``--interrupt_requests False`` so
a new request does not cut a running stream) on the same GGUF file, and ``largeforge serve
inference`` with the transformers engine on the same model in fp32. Tokens are counted as the
content chunks of the stream (one token each on all three). Writes
``benchmarks/results/serve_llamacpp.json``.

    python benchmarks/serve_llamacpp.py [--gguf FILE] [--rounds 3] [--max-tokens 96]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).parent / "results" / "serve_llamacpp.json"
PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server process and its base URL; ``wait`` polls ``ready`` until it answers 200."""

    def __init__(self, name: str, command: list[str], port: int, ready: str = "/v1/models") -> None:
        self.name, self.port, self.ready = name, port, ready
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(f"/tmp/lf-bench-{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.log.name}")
            try:
                if httpx.get(self.url + self.ready, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(self.name)

    def stop(self) -> None:
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


def stream_once(url: str, model: str, max_tokens: int) -> dict[str, float]:
    """One streamed chat completion: time to first token, tokens, decode tokens/s."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
    }
    start = time.perf_counter()
    first = last = 0.0
    tokens = 0
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=600) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line[6:]).get("choices") or []
            if choices and (choices[0].get("delta") or {}).get("content"):
                now = time.perf_counter()
                if tokens == 0:
                    first = now
                last = now
                tokens += 1
    decode = (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0
    return {"ttft": first - start, "tokens": tokens, "decode_tps": decode, "seconds": last - start}


def concurrent(url: str, model: str, clients: int, max_tokens: int) -> dict[str, float]:
    results: list[dict[str, float]] = []
    start = time.perf_counter()
    threads = [
        threading.Thread(target=lambda: results.append(stream_once(url, model, max_tokens))) for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    tokens = sum(r["tokens"] for r in results)
    return {"aggregate_tps": tokens / wall, "tokens": tokens, "wall": wall, "max_ttft": max(r["ttft"] for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--gguf",
        type=Path,
        default=None,
        help="GGUF file (default: the embedded SmolLM2 exported to q4_k_m by quant gguf)",
    )
    parser.add_argument("--model", default="smollm2-135m-instruct", help="Model for the transformers engine.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-transformers", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    gguf = args.gguf
    if gguf is None:
        from largeforge_quant.gguf import GGUFQuantizer

        gguf = Path("/tmp/lf-bench-smollm2-q4_k_m.gguf")
        if not gguf.is_file():
            GGUFQuantizer(args.model, type="q4_k_m", eval_samples=0).quantize([], gguf, overwrite=True)
    largeforge = [
        sys.executable,
        "-m",
        "largeforge.cli.main",
        "serve",
        "inference",
        "--host",
        "127.0.0.1",
        "--threads",
        str(args.threads),
        "--max-concurrency",
        str(args.clients),
    ]
    servers = {
        "largeforge_llamacpp": Server(
            "largeforge_llamacpp",
            [
                *largeforge,
                "--backend",
                "llamacpp",
                "--model",
                str(gguf),
                "--served-model-name",
                "m",
                "--max-model-len",
                "2048",
                "--port",
                str(port := free_port()),
            ],
            port,
        ),
        "llama_cpp_server": Server(
            "llama_cpp_server",
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(gguf),
                "--model_alias",
                "m",
                "--n_threads",
                str(args.threads),
                "--n_threads_batch",
                str(args.threads),
                "--n_ctx",
                "2048",
                "--interrupt_requests",
                "False",
                "--host",
                "127.0.0.1",
                "--port",
                str(port2 := free_port()),
            ],
            port2,
        ),
    }
    if not args.skip_transformers:
        servers["largeforge_transformers"] = Server(
            "largeforge_transformers",
            [
                *largeforge,
                "--backend",
                "transformers",
                "--model",
                args.model,
                "--served-model-name",
                "m",
                "--port",
                str(port3 := free_port()),
            ],
            port3,
        )
    results: dict[str, Any] = {
        "benchmark": "serve_llamacpp",
        "gguf": str(gguf),
        "threads": args.threads,
        "clients": args.clients,
        "max_tokens": args.max_tokens,
        "load_average_start": os.getloadavg(),
        "rounds": [],
    }
    try:
        for server in servers.values():
            server.wait()
        for server in servers.values():  # warm-up: first requests compile/allocate
            stream_once(server.url, "m", 8)
        for round_no in range(args.rounds):
            row: dict[str, Any] = {"load_average": os.getloadavg()}
            for name, server in servers.items():
                one = stream_once(server.url, "m", args.max_tokens)
                many = concurrent(server.url, "m", args.clients, args.max_tokens)
                row[name] = {"one": one, "many": many}
                print(
                    f"round {round_no + 1} {name}: 1 client {one['decode_tps']:.1f} tok/s decode, "
                    f"ttft {one['ttft']:.3f}s; {args.clients} clients {many['aggregate_tps']:.1f} tok/s, "
                    f"max ttft {many['max_ttft']:.2f}s",
                    flush=True,
                )
            results["rounds"].append(row)
    finally:
        for server in servers.values():
            server.stop()

    def ratio(metric: str, part: str, a: str, b: str) -> dict[str, Any]:
        per_round = [r[a][part][metric] / r[b][part][metric] for r in results["rounds"] if r[b][part][metric]]
        return {"rounds": [round(x, 3) for x in per_round], "median": round(statistics.median(per_round), 3)}

    summary = {
        "llamacpp_vs_llama_cpp_server_one_client_decode": ratio(
            "decode_tps", "one", "largeforge_llamacpp", "llama_cpp_server"
        ),
        "llamacpp_vs_llama_cpp_server_8_clients_aggregate": ratio(
            "aggregate_tps", "many", "largeforge_llamacpp", "llama_cpp_server"
        ),
    }
    if "largeforge_transformers" in servers:
        summary["llamacpp_vs_transformers_one_client_decode"] = ratio(
            "decode_tps", "one", "largeforge_llamacpp", "largeforge_transformers"
        )
        summary["llamacpp_vs_transformers_8_clients_aggregate"] = ratio(
            "aggregate_tps", "many", "largeforge_llamacpp", "largeforge_transformers"
        )
        summary["ttft_llamacpp_over_transformers"] = ratio(
            "ttft", "one", "largeforge_llamacpp", "largeforge_transformers"
        )
    results["summary"] = summary
    results["load_average_end"] = os.getloadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
