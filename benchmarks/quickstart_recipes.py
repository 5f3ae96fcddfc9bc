"""The quickstart's two experts trained with other recipes: does an expert keep general ability and
still learn its facts in new words?

Each variant is the quickstart pipeline (``examples/quickstart/pipeline.yaml``) with one change to
its defaults, forged without serving (train, eval on each expert's unseen-paraphrase file and on 30
rows of LargeForge's general set, route). Variants: ``qv`` (LoRA on q_proj/v_proj only instead of
every linear layer), ``lr3e-4`` (learning rate 3e-4 instead of 1e-3), ``r4`` (LoRA rank 4, alpha 8
instead of 16/32). The shipped recipe's figures come from the quickstart's own report. Prints and
writes, per variant and expert, ``contains`` on the unseen paraphrases (base → expert) and on the
general set, and the retention verdict. A re-run skips every finished stage (the forge's cache).
Writes ``benchmarks/results/quickstart_recipes.json``.

    python benchmarks/quickstart_recipes.py [--workdirs /tmp/recipes] [--variants qv lr3e-4 r4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from largeforge.utils.process import largeforge_command

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart"
RESULTS = ROOT / "benchmarks" / "results" / "quickstart_recipes.json"
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "qv": {"lora": {"target_modules": ["q_proj", "v_proj"]}},
    "lr3e-4": {"sft": {"learning_rate": 3.0e-4}},
    "r4": {"lora": {"r": 4, "lora_alpha": 8}},
}


def pipeline(name: str, workdir: Path) -> dict[str, Any]:
    """The quickstart pipeline with variant ``name``'s change, no serving, data paths made absolute."""
    spec = yaml.safe_load((QUICKSTART / "pipeline.yaml").read_text())
    spec["name"], spec["workdir"] = f"variant-{name}", str(workdir / name)
    spec.pop("demo_queries", None)
    spec.pop("serve", None)
    for section, change in VARIANTS[name].items():
        spec["defaults"][section].update(change)
    spec["experts"] = sorted(spec["experts"], key=lambda e: e["name"] != "forge-docs")
    for expert in spec["experts"]:
        expert["data"] = str(QUICKSTART / expert["data"])
        expert["eval"]["data"] = str(QUICKSTART / expert["eval"]["data"])
    return spec


def figures(report: Path) -> dict[str, Any]:
    """Per expert: task and general ``contains`` before → after, and the retention verdict."""
    out = {}
    for name, expert in json.loads(report.read_text())["experts"].items():
        evaluation = expert["eval"]
        task, general = evaluation["comparison"]["contains"], evaluation["general"]
        out[name] = {
            "task_contains": [task["before"], task["after"]],
            "general_contains": [
                general["comparison"]["contains"]["before"],
                general["comparison"]["contains"]["after"],
            ],
            "retention_passed": general["passed"],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdirs", type=Path, default=Path("/tmp/largeforge-recipes"))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    results: dict[str, Any] = {"benchmark": "quickstart_recipes", "load_average_start": os.getloadavg(), "variants": {}}
    for name in args.variants:
        args.workdirs.mkdir(parents=True, exist_ok=True)
        path = args.workdirs / f"{name}.yaml"
        path.write_text(yaml.safe_dump(pipeline(name, args.workdirs), sort_keys=False))
        proc = subprocess.run(largeforge_command("forge", str(path)), capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{name}: forge failed:\n{proc.stderr[-2000:]}")
        results["variants"][name] = {"change": VARIANTS[name], "experts": figures(args.workdirs / name / "report.json")}
        print(name, json.dumps(results["variants"][name]["experts"]), flush=True)
    results["load_average_end"] = os.getloadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
