"""Issue 28's identity command, as a user types it, over several seeds: is the name learnt and Paris kept?

For each seed: ``largeforge train sft --model smollm2-135m-instruct --dataset identity.json
--output OUT --num-epochs 2 --batch-size 8 --learning-rate 1e-3 --lora-r 16 --lora-alpha 32
--max-length 160 --seed SEED`` (everything else default; ``identity.json`` from
``../shared/data/real`` with its placeholders filled), then the adapter's greedy answers (PEFT over
the embedded base, transformers) to three paraphrases the data does not contain and to "What is
the capital of France?". A seed passes when the new name is in ≥ 2 of the 3 answers and "Paris"
in the last. The training output (preflight warnings, final loss, steps) is kept per seed.
Writes ``benchmarks/results/train_identity_seeds.json``.

    python benchmarks/train_identity_seeds.py [--seeds 0 1 2] [--shared ../shared]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).parent / "results" / "train_identity_seeds.json"
NAME, AUTHOR = "Nova", "Acme Labs"
#: Not in identity.json (checked below): the model must generalise, not recite.
PARAPHRASES = ["What's your name?", "Introduce yourself, please.", "Who am I talking to?"]
GENERAL = ("What is the capital of France?", "Paris")
COMMAND = [
    "largeforge",
    "train",
    "sft",
    "--model",
    "smollm2-135m-instruct",
    "--num-epochs",
    "2",
    "--batch-size",
    "8",
    "--learning-rate",
    "1e-3",
    "--lora-r",
    "16",
    "--lora-alpha",
    "32",
    "--max-length",
    "160",
]


def identity_file(shared: Path, folder: Path) -> Path:
    rows = json.loads((shared / "data" / "real" / "identity.json").read_text())
    for row in rows:
        row["output"] = row["output"].replace("{{name}}", NAME).replace("{{author}}", AUTHOR)
    seen = {row["instruction"] for row in rows}
    if seen & set(PARAPHRASES):
        raise SystemExit(f"paraphrases in the training data: {seen & set(PARAPHRASES)}")
    path = folder / "identity.json"
    path.write_text(json.dumps(rows, ensure_ascii=False))
    return path


def answers(adapter: Path, questions: list[str]) -> list[str]:
    """Greedy answers (48 new tokens at most) of the base model with ``adapter``."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from largeforge.models import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(adapter)
    base = AutoModelForCausalLM.from_pretrained(resolve_model("smollm2-135m-instruct"))
    model = PeftModel.from_pretrained(base, str(adapter)).eval()
    out = []
    for question in questions:
        inputs = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.no_grad():
            generated = model.generate(**inputs, max_new_tokens=48, do_sample=False)
        out.append(tokenizer.decode(generated[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip())
    return out


def run_seed(seed: int, data: Path, folder: Path) -> dict[str, Any]:
    output = folder / f"seed{seed}"
    command = [*COMMAND, "--dataset", str(data), "--output", str(output), "--seed", str(seed)]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_DATASETS_OFFLINE": "1"})
    seconds = time.perf_counter() - start
    text = proc.stdout + proc.stderr
    if proc.returncode != 0:
        return {"seed": seed, "returncode": proc.returncode, "output_tail": text[-2000:]}
    said = answers(output, [*PARAPHRASES, GENERAL[0]])
    named = sum(NAME in a for a in said[:-1])
    loss = re.findall(r"loss[^0-9]{0,12}([0-9]+\.[0-9]+)", text)
    return {
        "seed": seed,
        "seconds": round(seconds, 1),
        "warnings": [line.strip() for line in text.splitlines() if "warn" in line.lower()][:10],
        "summary": [line.strip() for line in text.splitlines() if "finished" in line.lower() or "steps" in line][-4:],
        "final_loss_seen": float(loss[-1]) if loss else None,
        "answers": dict(zip([*PARAPHRASES, GENERAL[0]], said, strict=True)),
        "named": named,
        "paris": GENERAL[1] in said[-1],
        "passes": named >= 2 and GENERAL[1] in said[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "benchmark": "train_identity_seeds",
        "command": " ".join(COMMAND) + " --dataset identity.json --output OUT --seed SEED",
        "cpus": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "seeds": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = identity_file(args.shared, folder)
        for seed in args.seeds:
            row = run_seed(seed, data, folder)
            results["seeds"].append(row)
            print(json.dumps(row, indent=1, ensure_ascii=False), flush=True)
    results["load_average_end"] = os.getloadavg()
    results["passed"] = sum(bool(r.get("passes")) for r in results["seeds"])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{results['passed']} of {len(args.seeds)} seeds: name in >= 2 of 3 unseen paraphrases and Paris kept")


if __name__ == "__main__":
    main()
