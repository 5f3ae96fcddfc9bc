"""Training throughput, measured side by side in one run (same model, data and settings).

1. LargeForge's ``SFTTrainer`` against TRL's ``SFTTrainer`` called directly (target: ≥ 0.97×):
   LoRA r16 on all linear layers, loss on completions, the same prompt/completion rows and the
   same TRL config fields. LargeForge adds its preflight, callbacks and checkpoint marking.
2. Packed against unpacked SFT on short examples (``identity.json``; target: ≥ 1.5×).

Throughput is trained tokens (TRL's ``num_tokens``: real tokens, padding excluded) per second of
``train_runtime`` (model loading excluded). The two runs of each pair alternate ``--repeats``
times and the median is kept, so drift in machine load hits both. Writes
``benchmarks/results/train_throughput.json``.

    python benchmarks/train_throughput.py [--model smollm2-135m-instruct] [--steps 6] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

RESULTS = Path(__file__).parent / "results" / "train_throughput.json"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def _identity_rows() -> Path:
    rows = json.loads((DATA / "identity.json").read_text())
    for row in rows:
        row["output"] = row["output"].replace("{{name}}", "Nova").replace("{{author}}", "Acme Labs")
    path = Path(tempfile.mkdtemp()) / "identity.json"
    path.write_text(json.dumps(rows, ensure_ascii=False))
    return path


def _config(out: str, steps: int, batch: int, max_len: int, packing: bool) -> Any:
    from largeforge.config import SFTConfig

    return SFTConfig(output_dir=out, max_steps=steps, per_device_train_batch_size=batch,
                     gradient_accumulation_steps=1, learning_rate=1e-4, warmup_ratio=0.0, logging_steps=1,
                     save_steps=10_000, max_seq_length=max_len, packing=packing, seed=0)


def _lora() -> Any:
    from largeforge.config import LoRAConfig

    return LoRAConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear")


def run_largeforge(model: str, data: Path, steps: int, batch: int, max_len: int, packing: bool) -> dict[str, float]:
    """One LargeForge SFT run; tokens, runtime and tokens/s."""
    from largeforge.data import DatasetFactory
    from largeforge_train.base import read_log
    from largeforge_train.sft import SFTTrainer

    with tempfile.TemporaryDirectory() as out:
        result = SFTTrainer(model, _config(out, steps, batch, max_len, packing), _lora(), progress=False).train(
            DatasetFactory.load(data))
        tokens = max(r.get("num_tokens", 0) for r in read_log(out))
    runtime = result.metrics["train_runtime"]
    return {"tokens": tokens, "runtime": runtime, "tokens_per_s": tokens / runtime}


def run_trl(model: str, data: Path, steps: int, batch: int, max_len: int) -> dict[str, float]:
    """The same run with TRL's SFTTrainer called directly, as a TRL user would."""
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from largeforge.data import DatasetFactory
    from largeforge.models import resolve_model
    from largeforge_train.sft_data import to_prompt_completion

    path = resolve_model(model)
    dataset = to_prompt_completion(DatasetFactory.load(data))
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(output_dir=out, max_steps=steps, per_device_train_batch_size=batch,
                         gradient_accumulation_steps=1, learning_rate=1e-4, warmup_steps=0, logging_steps=1,
                         save_steps=10_000, max_length=max_len, bf16=False, gradient_checkpointing=False,
                         report_to="none", disable_tqdm=True, seed=0, data_seed=0, dataloader_pin_memory=False,
                         completion_only_loss=True)
        trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(path), args=args, train_dataset=dataset,
                             processing_class=AutoTokenizer.from_pretrained(path),
                             peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                                                    target_modules="all-linear", task_type="CAUSAL_LM"))
        metrics = trainer.train().metrics
        tokens = max(r.get("num_tokens", 0) for r in trainer.state.log_history)
    runtime = metrics["train_runtime"]
    return {"tokens": tokens, "runtime": runtime, "tokens_per_s": tokens / runtime}


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    alpaca, identity = DATA / "alpaca_en_demo.json", _identity_rows()

    started = time.time()
    lf_runs, trl_runs, packed_runs, unpacked_runs = [], [], [], []
    for _ in range(args.repeats):
        trl_runs.append(run_trl(args.model, alpaca, args.steps, args.batch, 512))
        lf_runs.append(run_largeforge(args.model, alpaca, args.steps, args.batch, 512, packing=False))
        unpacked_runs.append(run_largeforge(args.model, identity, args.steps, args.batch, 512, packing=False))
        packed_runs.append(run_largeforge(args.model, identity, args.steps, args.batch, 512, packing=True))
    lf, trl, packed, unpacked = map(_median, (lf_runs, trl_runs, packed_runs, unpacked_runs))
    results = {
        "model": args.model, "steps": args.steps, "batch": args.batch, "repeats": args.repeats,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average": os.getloadavg()},
        "largeforge_vs_trl": {"data": "alpaca_en_demo.json", "max_length": 512, "largeforge": lf, "trl": trl,
                              "ratio": lf["tokens_per_s"] / trl["tokens_per_s"], "target": 0.97},
        "packed_vs_unpacked": {"data": "identity.json", "max_length": 512, "packed": packed, "unpacked": unpacked,
                               "ratio": packed["tokens_per_s"] / unpacked["tokens_per_s"], "target": 1.5},
        "wall_time_s": time.time() - started,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"LargeForge / TRL tokens/s: {results['largeforge_vs_trl']['ratio']:.3f} (target >= 0.97)")
    print(f"packed / unpacked tokens/s: {results['packed_vs_unpacked']['ratio']:.2f} (target >= 1.5)")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
