"""Validation throughput: LargeForge's msgspec loader versus a plain pydantic implementation.

Generates 200k Alpaca rows and 50k ShareGPT rows (2–6 turns, with a few invalid rows), then,
in one run and on the same files, validates them with

* LargeForge: ``DataValidator().validate_file`` as users get it (one msgspec decode per part
  into the format's row type, the format's screen, the exact check on flagged rows, every
  invalid row reported; files of 16 MiB or more per CPU split across processes), and the same
  held to one process (``workers=1``);
* pydantic: the spec's design (``AlpacaExample``/``ShareGPTExample`` BaseModels with the same
  constraints and alternation rule), ``json.load`` then ``model_validate`` row by row,
  collecting every error.

Both must agree on the invalid-row count. Writes ``benchmarks/results/data_validate.json``.

    python benchmarks/data_validate.py [--alpaca 200000] [--sharegpt 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from largeforge.data import DataValidator, parts

RESULTS = Path(__file__).parent / "results" / "data_validate.json"
WORDS = [
    "model",
    "data",
    "expert",
    "router",
    "train",
    "serve",
    "token",
    "batch",
    "layer",
    "adapter",
    "query",
    "answer",
    "Paris",
    "France",
    "capital",
    "energy",
    "river",
    "mountain",
    "science",
    "history",
    "music",
]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def make_alpaca(n: int, rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        row = {
            "instruction": sentence(rng, 12),
            "input": sentence(rng, 6) if i % 3 else "",
            "output": sentence(rng, 40),
        }
        if i % 1000 == 999:
            row["output"] = ""  # invalid: empty output
        rows.append(row)
    return rows


def make_sharegpt(n: int, rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        turns = []
        for t in range(rng.choice((2, 4, 6))):
            turns.append({"from": "human" if t % 2 == 0 else "gpt", "value": sentence(rng, 25)})
        if i % 1000 == 999:
            turns[0]["from"] = "gpt"  # invalid: does not start with human
        rows.append({"conversations": turns})
    return rows


# -- the plain pydantic implementation (spec 2.1) -----------------------------------------------


class AlpacaExample(BaseModel):
    instruction: str = Field(min_length=1)
    input: str = ""
    output: str = Field(min_length=1)


class ShareGPTMessage(BaseModel):
    from_: str = Field(alias="from")
    value: str = Field(min_length=1)

    @field_validator("from_")
    @classmethod
    def known_role(cls, v: str) -> str:
        if v not in ("human", "gpt", "system"):
            raise ValueError(f"unknown role {v}")
        return v


class ShareGPTExample(BaseModel):
    conversations: list[ShareGPTMessage] = Field(min_length=2)

    @field_validator("conversations")
    @classmethod
    def alternate(cls, turns: list[ShareGPTMessage]) -> list[ShareGPTMessage]:
        body = turns[1:] if turns[0].from_ == "system" else turns
        for i, turn in enumerate(body):
            if turn.from_ != ("human" if i % 2 == 0 else "gpt"):
                raise ValueError("turns must alternate human/gpt")
        return turns


def pydantic_validate(path: Path, model: type[BaseModel]) -> int:
    rows = json.loads(path.read_bytes())
    invalid = 0
    for row in rows:
        try:
            model.model_validate(row)
        except ValidationError:
            invalid += 1
    return invalid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alpaca", type=int, default=200_000)
    parser.add_argument("--sharegpt", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(0)
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "cpus": parts.available_cpus(),
            "load_average_before": os.getloadavg(),
        }
    }
    counts: dict[str, set[int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            ("alpaca", args.alpaca, make_alpaca, AlpacaExample),
            ("sharegpt", args.sharegpt, make_sharegpt, ShareGPTExample),
        ]
        for name, n, make, model in cases:
            path = Path(tmp) / f"{name}.json"
            path.write_text(json.dumps(make(n, rng)))
            timings = {
                "largeforge": DataValidator(),
                "largeforge_one_process": DataValidator(workers=1),
                "pydantic": model,
            }
            best: dict[str, float] = {key: float("inf") for key in timings}
            for _ in range(args.repeats):  # interleaved, so load changes hit every contender alike
                for key, how in timings.items():
                    start = time.perf_counter()
                    if key == "pydantic":
                        invalid = pydantic_validate(path, how)
                    else:
                        report = how.validate_file(path, name)
                        invalid = report.invalid
                        assert report.total == n
                    best[key] = min(best[key], time.perf_counter() - start)
                    counts.setdefault(name, set()).add(invalid)
            assert len(counts[name]) == 1, counts  # every contender found the same invalid rows
            results[name] = {
                "rows": n,
                "invalid_rows": counts[name].pop(),
                "file_mb": round(path.stat().st_size / 1e6, 1),
                "largeforge_workers": parts.default_workers(path.stat().st_size),
                **{f"{key}_rows_per_s": round(n / seconds) for key, seconds in best.items()},
                "speedup_vs_pydantic": round(best["pydantic"] / best["largeforge"], 2),
                "one_process_speedup_vs_pydantic": round(best["pydantic"] / best["largeforge_one_process"], 2),
            }
            print(
                f"{name:9} {n:>7} rows  largeforge {n / best['largeforge']:>10,.0f} rows/s "
                f"(one process {n / best['largeforge_one_process']:>10,.0f})   "
                f"pydantic {n / best['pydantic']:>10,.0f} rows/s   "
                f"speedup {best['pydantic'] / best['largeforge']:.2f}x"
            )
    results["machine"]["load_average_after"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
