"""A forged team served as LoRA adapters on one base: LargeForge's default engine vs the transformers engine.

The team is a forge pipeline's experts after ``largeforge forge PIPELINE`` has trained them (by
default the quickstart's two). Both contenders are started as the forge's ``--up`` starts a team
in ``serve.mode: adapters``: ``largeforge serve inference --model BASE --adapter NAME=PATH ...
--max-concurrency N``; one with the default engine (``auto``: llama.cpp on a CPU with llama.cpp
installed, base and adapters converted once to GGUF), one with ``--backend transformers`` (the
engine the quickstart's team was served by before llama.cpp became the CPU default).

Measured round by round in turn, so each round's ratios share the machine's load: one client per
expert (time to first token, decode tokens/s of a streamed chat completion) and ``--clients``
concurrent streaming clients spread over the experts (aggregate tokens/s, slowest first token).
Before timing, each contender's greedy answers to the pipeline's demo queries, asked of every
expert, are compared. Writes ``benchmarks/results/serve_team.json``.

    largeforge forge examples/quickstart/pipeline.yaml     # trains the team once
    python benchmarks/serve_team.py [--pipeline FILE] [--rounds 3] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from largeforge.utils.process import largeforge_command
from serve_llamacpp import Server, answer, concurrent, round_ratios, stream_once

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).parent / "results" / "serve_team.json"
QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart" / "pipeline.yaml"
BASELINE = "largeforge_transformers"


def team(pipeline_file: Path) -> tuple[str, dict[str, Path], int, list[str]]:
    """The pipeline's base model, each expert's trained adapter, the serving concurrency and demo queries."""
    from largeforge.forge.plan import plan_pipeline
    from largeforge.forge.spec import load_pipeline

    pipeline = load_pipeline(pipeline_file)
    plan = plan_pipeline(pipeline)
    adapters = {expert.spec.name: expert.artifact for expert in plan.experts}
    missing = [name for name, path in adapters.items() if not path.exists()]
    if missing:
        sys.exit(f"{pipeline_file}: experts {missing} are not trained yet: run `largeforge forge {pipeline_file}`")
    spec = pipeline.spec
    return spec.base_model, adapters, spec.serve.max_concurrency, list(spec.demo_queries)


def contenders(base: str, adapters: dict[str, Path], concurrency: int) -> dict[str, Server]:
    command = largeforge_command("serve", "inference", "--model", base)
    command += ["--max-concurrency", str(concurrency)]
    command += [arg for name, path in adapters.items() for arg in ("--adapter", f"{name}={path}")]
    return {
        "largeforge_default": Server("team_default", command),
        BASELINE: Server("team_transformers", [*command, "--backend", "transformers"]),
    }


def engine(server: Server) -> str:
    """The engine a server says it runs (``/health``), for the record."""
    health = httpx.get(server.url + "/health", timeout=10).json()
    return str(health.get("backend") or health.get("engine") or health)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pipeline", type=Path, default=QUICKSTART)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    base, adapters, concurrency, queries = team(args.pipeline)
    experts = list(adapters)
    servers = contenders(base, adapters, concurrency)
    results: dict[str, Any] = {
        "benchmark": "serve_team",
        "pipeline": str(args.pipeline),
        "base_model": base,
        "experts": experts,
        "commands": {name: server.command for name, server in servers.items()},
        "cpus": os.cpu_count(),
        "clients": args.clients,
        "max_tokens": args.max_tokens,
        "load_average_start": os.getloadavg(),
        "rounds": [],
    }
    try:
        for server in servers.values():
            server.wait()
        results["engines"] = {name: engine(server) for name, server in servers.items()}
        print(f"engines: {results['engines']}", flush=True)
        # Also the warm-up: every expert's greedy answer to every demo query, on both engines.
        answers = {
            name: {expert: [answer(server.url, q, model=expert) for q in queries] for expert in experts}
            for name, server in servers.items()
        }
        reference = answers[BASELINE]
        results["answers"] = {
            "queries": queries,
            "answers": answers,
            "equal_to_transformers": {
                expert: [a == r for a, r in zip(answers["largeforge_default"][expert], reference[expert], strict=True)]
                for expert in experts
            },
        }
        print(f"answers equal to the transformers engine's: {results['answers']['equal_to_transformers']}")
        for round_no in range(args.rounds):
            row: dict[str, Any] = {"load_average": os.getloadavg()}
            for name, server in servers.items():
                one = {expert: stream_once(server.url, args.max_tokens, expert) for expert in experts}
                many = concurrent(server.url, args.clients, args.max_tokens, experts)
                decode = statistics.mean(r["decode_tps"] for r in one.values())
                row[name] = {"one": one, "one_decode_tps": decode, "many": many}
                print(
                    f"round {round_no + 1} {name}: 1 client {decode:.1f} tok/s decode (mean over experts); "
                    f"{args.clients} clients {many['aggregate_tps']:.1f} tok/s, slowest first token "
                    f"{many['max_ttft']:.2f}s",
                    flush=True,
                )
            results["rounds"].append(row)
    finally:
        for server in servers.values():
            server.stop()

    rounds = results["rounds"]
    default = "largeforge_default"

    def ratio(value: Callable[[dict[str, Any]], float]) -> dict[str, Any]:
        """The default engine's ``value`` over the transformers engine's, round by round."""
        return round_ratios((value(r[default]), value(r[BASELINE])) for r in rounds)

    results["summary"] = {
        "default_over_transformers": {
            "one_client_decode": ratio(lambda contender: contender["one_decode_tps"]),
            f"{args.clients}_clients_aggregate": ratio(lambda contender: contender["many"]["aggregate_tps"]),
            f"{args.clients}_clients_slowest_first_token": ratio(lambda contender: contender["many"]["max_ttft"]),
        },
        "tokens_per_second_median": {
            name: {
                "one_client_decode": round(statistics.median(r[name]["one_decode_tps"] for r in rounds), 1),
                f"{args.clients}_clients_aggregate": round(
                    statistics.median(r[name]["many"]["aggregate_tps"] for r in rounds), 1
                ),
            }
            for name in servers
        },
    }
    results["load_average_end"] = os.getloadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results["summary"], indent=2))


if __name__ == "__main__":
    main()
