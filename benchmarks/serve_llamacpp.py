"""LargeForge's default serving on a CPU vs llama.cpp's own ``llama-server`` vs the transformers engine.

Every contender is started exactly as its users would start it, with its own defaults, and all
of them serve SmolLM2-135M-Instruct side by side; they are measured round by round in turn, so
each round's ratios share the machine's load:

* ``llama_server``: ``llama-server -m FILE`` (llama.cpp's own C++ server, its defaults: all
  physical cores, automatic slots); FILE is ``--gguf``, by default the f16 GGUF LargeForge's
  ``auto`` converts the model to (the same precision, the same file);
* ``largeforge_gguf``: ``largeforge serve inference --model FILE`` (defaults);
* ``largeforge_auto``: ``largeforge serve inference --model MODEL`` (defaults: a Hugging Face
  model or alias, converted once to GGUF and served by llama-server behind the gateway);
* ``largeforge_transformers``: the same with ``--backend transformers`` (the engine LargeForge
  served with before llama.cpp became the CPU default);
* ``llama_cpp_python`` (``--with-llama-cpp-python``): ``python -m llama_cpp.server --model FILE``.

Measured: one client (time to first token, decode tokens/s of a streamed chat completion) and
``--clients`` concurrent streaming clients (aggregate tokens/s = all tokens ÷ wall time, and the
slowest client's first token). Tokens are the content chunks of the stream (one token each).
Before timing, each contender's greedy answers to the README's example prompts are compared
with the transformers engine's, and the GGUF's perplexity with the original model's (the same
held-out chat texts, prompts as context). Writes ``benchmarks/results/serve_llamacpp.json``.

    python benchmarks/serve_llamacpp.py [--rounds 3] [--max-tokens 128] [--gguf FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from largeforge.utils.process import largeforge_command

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).parent / "results" / "serve_llamacpp.json"
PROMPT = "Write a long story about a lighthouse keeper who finds a message in a bottle."
#: The README's example prompts: its first question and the quickstart's demo queries.
EXAMPLES = [
    "What is the capital of France?",
    "Who are you?",
    "What should I call you?",
    "How do I find the invalid rows in my training data?",
    "Which command starts the OpenAI-compatible server?",
]
BASELINE = "llama_server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server process on a free loopback port; ``wait`` polls ``/v1/models`` until it answers 200."""

    def __init__(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [*command, "--port", str(self.port)]
        self.log = open(f"/tmp/lf-bench-{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            self.command,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )

    def wait(self, timeout: float = 1800) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.log.name}")
            try:
                if httpx.get(self.url + "/v1/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(self.name)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


def chat_body(content: str, max_tokens: int, stream: bool, model: str = "m") -> dict[str, Any]:
    # Every contender answers any `model` name here (llama-server ignores it; LargeForge's
    # gateways are started with --served-model-name m); a team's server names its experts.
    return {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": stream,
    }


def answer(url: str, content: str, max_tokens: int = 48, model: str = "m") -> str:
    """The greedy, non-streamed answer to one user message."""
    body = chat_body(content, max_tokens, False, model)
    response = httpx.post(url + "/v1/chat/completions", json=body, timeout=600)
    response.raise_for_status()
    return str(response.json()["choices"][0]["message"]["content"]).strip()


def stream_once(url: str, max_tokens: int, model: str = "m") -> dict[str, float]:
    """One streamed chat completion: time to first token, tokens, decode tokens/s."""
    start = time.perf_counter()
    first = last = 0.0
    tokens = 0
    body = chat_body(PROMPT, max_tokens, True, model)
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


def concurrent(url: str, clients: int, max_tokens: int, models: list[str] | None = None) -> dict[str, float]:
    """``clients`` streamed completions at once (their ``models`` in turn): aggregate tokens/s, slowest first token."""
    names = models or ["m"]
    results: list[dict[str, float]] = []
    start = time.perf_counter()
    threads = [
        threading.Thread(target=lambda m=names[i % len(names)]: results.append(stream_once(url, max_tokens, m)))
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    tokens = sum(r["tokens"] for r in results)
    return {"aggregate_tps": tokens / wall, "tokens": tokens, "wall": wall, "max_ttft": max(r["ttft"] for r in results)}


def round_ratios(pairs: Iterable[tuple[float, float]]) -> dict[str, Any]:
    """Ours ÷ theirs in each round (rounds where theirs is 0 left out) and the median of them."""
    per_round = [ours / theirs for ours, theirs in pairs if theirs]
    return {
        "rounds": [round(x, 3) for x in per_round],
        "median": round(statistics.median(per_round), 3) if per_round else None,
    }


def default_gguf(model: str) -> Path:
    """The f16 GGUF ``serve inference --model MODEL`` converts to and serves (converted here if new)."""
    from largeforge_serve.engines.gguf_cache import model_as_gguf

    return model_as_gguf(model, "f16")


def perplexities(model: str, gguf: Path, samples: int) -> dict[str, Any]:
    """Perplexity of the original model (transformers, fp32) and of ``gguf`` (llama.cpp) on the
    completions of the first ``samples`` chat conversations LargeForge ships for calibration."""
    from transformers import AutoTokenizer

    from largeforge.models import resolve_model
    from largeforge_quant.calibration import load_samples
    from largeforge_quant.gguf import BUILTIN_CALIBRATION, gguf_perplexity
    from largeforge_quant.report import model_perplexity

    directory = resolve_model(model)
    texts = load_samples(str(BUILTIN_CALIBRATION), AutoTokenizer.from_pretrained(directory))[:samples]
    original = model_perplexity(directory, texts)
    converted = gguf_perplexity(gguf, texts)
    return {
        "samples": len(texts),
        "transformers": round(original, 4),
        "gguf": round(converted, 4),
        "ratio": round(converted / original, 4),
    }


def contenders(args: argparse.Namespace, gguf: Path) -> dict[str, Server]:
    from largeforge.utils.llamacpp import bindings_library_dir, find_binary

    llama_server = os.environ.get("LARGEFORGE_LLAMA_SERVER") or find_binary("llama-server")
    if llama_server is None:
        sys.exit("llama-server not found: bash scripts/install_llamacpp.sh")
    largeforge = largeforge_command("serve", "inference", "--served-model-name", "m")
    servers = {
        BASELINE: Server(BASELINE, [str(llama_server), "-m", str(gguf), "--host", "127.0.0.1"]),
        "largeforge_gguf": Server("largeforge_gguf", [*largeforge, "--model", str(gguf)]),
        "largeforge_auto": Server("largeforge_auto", [*largeforge, "--model", args.model]),
    }
    if not args.skip_transformers:
        servers["largeforge_transformers"] = Server(
            "largeforge_transformers", [*largeforge, "--model", args.model, "--backend", "transformers"]
        )
    if args.with_llama_cpp_python:
        library = bindings_library_dir()
        servers["llama_cpp_python"] = Server(
            "llama_cpp_python",
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--interrupt_requests", "False"],
            env={"LLAMA_CPP_LIB_PATH": str(library)} if library else None,
        )
    return servers


def compare_answers(servers: dict[str, Server]) -> dict[str, Any]:
    """Each contender's greedy answers to :data:`EXAMPLES`, and which equal the transformers engine's."""
    answers = {name: [answer(server.url, q) for q in EXAMPLES] for name, server in servers.items()}
    reference = answers.get("largeforge_transformers")
    same = {
        name: [a == r for a, r in zip(given, reference, strict=True)] if reference else None
        for name, given in answers.items()
    }
    return {"prompts": EXAMPLES, "answers": answers, "equal_to_transformers": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="Hugging Face model directory or alias.")
    parser.add_argument("--gguf", type=Path, default=None, help="GGUF file (default: the f16 file auto serves).")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--skip-transformers", action="store_true")
    parser.add_argument("--with-llama-cpp-python", action="store_true", help="Add llama-cpp-python's server.")
    parser.add_argument("--perplexity-samples", type=int, default=24, help="0 skips the perplexity check.")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    gguf = args.gguf or default_gguf(args.model)
    quality = perplexities(args.model, gguf, args.perplexity_samples) if args.perplexity_samples else None
    if quality:
        print(f"perplexity: transformers {quality['transformers']}, GGUF {quality['gguf']}", flush=True)
    servers = contenders(args, gguf)
    results: dict[str, Any] = {
        "benchmark": "serve_llamacpp",
        "model": args.model,
        "gguf": str(gguf),
        "commands": {name: server.command for name, server in servers.items()},
        "cpus": os.cpu_count(),
        "clients": args.clients,
        "max_tokens": args.max_tokens,
        "perplexity": quality,
        "load_average_start": os.getloadavg(),
        "rounds": [],
    }
    try:
        for server in servers.values():
            server.wait()
        results["answers"] = compare_answers(servers)  # also the warm-up
        for name, same in results["answers"]["equal_to_transformers"].items():
            print(f"answers of {name} equal to transformers': {same}", flush=True)
        for round_no in range(args.rounds):
            row: dict[str, Any] = {"load_average": os.getloadavg()}
            for name, server in servers.items():
                one = stream_once(server.url, args.max_tokens)
                many = concurrent(server.url, args.clients, args.max_tokens)
                row[name] = {"one": one, "many": many}
                print(
                    f"round {round_no + 1} {name}: 1 client {one['decode_tps']:.1f} tok/s decode, "
                    f"ttft {one['ttft']:.3f}s; {args.clients} clients {many['aggregate_tps']:.1f} tok/s, "
                    f"slowest first token {many['max_ttft']:.2f}s",
                    flush=True,
                )
            results["rounds"].append(row)
    finally:
        for server in servers.values():
            server.stop()

    def ratio(metric: str, part: str, name: str) -> dict[str, Any]:
        return round_ratios((r[name][part][metric], r[BASELINE][part][metric]) for r in results["rounds"])

    results["summary"] = {
        f"{name}_over_{BASELINE}": {
            "one_client_decode": ratio("decode_tps", "one", name),
            f"{args.clients}_clients_aggregate": ratio("aggregate_tps", "many", name),
            f"{args.clients}_clients_slowest_first_token": ratio("max_ttft", "many", name),
        }
        for name in servers
        if name != BASELINE
    }
    results["load_average_end"] = os.getloadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results["summary"], indent=2))


if __name__ == "__main__":
    main()
