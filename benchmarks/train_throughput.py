"""Training throughput, measured side by side in one run (same model, data, LoRA and settings).

1. LargeForge's ``SFTTrainer`` against TRL's ``SFTTrainer`` called directly (target: ≥ 0.97×):
   LoRA r16 on all linear layers, loss on completions, the same prompt/completion rows (Alpaca
   demo), the same TRL config fields, ``--steps`` steps of ``--batch`` rows each, so both train
   exactly the same tokens. LargeForge adds its preflight, callbacks and checkpoint marking.
2. Packed against unpacked SFT on short examples (target: ≥ 1.5×): one epoch over the same
   ``identity.json`` rows (about 110 tokens each), so both train exactly the same real tokens.
   Unpacked is LargeForge's default: batches of ``--batch`` examples padded to their longest.
   Packed is ``packing: true``: whole examples packed best-fit-decreasing into rows of about
   ``--batch`` examples, one row per step (so about the same examples per step and steps per epoch
   as unpacked), padding-free, attention per example. Two diagnostic variants (``--no-variants``
   skips them): ``packed_rows_of_max_length`` packs as TRL does, ``--batch`` rows of
   ``max_seq_length`` tokens per step (per-example attention), and ``packed_before`` is that with
   transformers' plain ``sdpa`` attention over a dense block-diagonal mask of the whole step — what
   ``packing: true`` did before per-example attention and batch-sized rows.

Throughput is real tokens per second of ``train_runtime`` (model loading and data preparation
excluded); the same per CPU second of this process over the training loop is recorded beside it,
as a check less sensitive to other jobs on the machine. Real tokens are TRL's ``num_tokens``: the
non-padding input tokens, prompt and reply, counted from the attention mask (padded batches) or
the position ids (padding-free batches), and checked equal across the runs of a comparison.
``computed_tokens`` also counts the padding a batch carries; ``loss_tokens`` are the reply tokens
the loss is taken on. The runs of each comparison alternate order over ``--repeats`` rounds (after
one untimed warm-up run); a ratio is taken within each round, where the runs are adjacent in time
and share the machine's load, and the median over rounds is reported.
Writes ``benchmarks/results/train_throughput.json``.

    python benchmarks/train_throughput.py [--model smollm2-135m-instruct] [--steps 6] [--repeats 3]
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
MAX_LENGTH = 512
LR, SEED = 1e-4, 0


def _identity_rows(limit: int | None) -> Path:
    rows = json.loads((DATA / "identity.json").read_text())[:limit]
    for row in rows:
        row["output"] = row["output"].replace("{{name}}", "Nova").replace("{{author}}", "Acme Labs")
    path = Path(tempfile.mkdtemp()) / "identity.json"
    path.write_text(json.dumps(rows, ensure_ascii=False))
    return path


class _Counting:
    """Wraps the trainer's collator to count what each batch computes (padding included) and trains."""

    def __init__(self, collator: Any) -> None:
        self.collator, self.computed, self.loss_tokens, self.cpu_s = collator, 0, 0, 0.0

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collator(examples)
        self.computed += int(batch["input_ids"].numel())
        self.loss_tokens += int((batch["labels"] != -100).sum())
        return batch


def _instrument(trainer: Any) -> _Counting:
    """Count batches, and time the training loop in CPU seconds of this process (all its threads):
    less sensitive than wall time to the other jobs sharing the machine."""
    from transformers import TrainerCallback

    trainer.data_collator = counter = _Counting(trainer.data_collator)

    class CPUTime(TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, *args: Any, **kwargs: Any) -> None:
            counter.cpu_s = -time.process_time()

        def on_train_end(self, *args: Any, **kwargs: Any) -> None:
            counter.cpu_s += time.process_time()

    trainer.add_callback(CPUTime())
    return counter


def _measure(trainer: Any, counter: _Counting, log: list[dict[str, Any]], runtime: float) -> dict[str, float]:
    tokens = max(r.get("num_tokens", 0) for r in log)
    dataset_tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    return {"tokens": tokens, "tokens_per_s": tokens / runtime, "runtime": runtime,
            "tokens_per_cpu_s": tokens / counter.cpu_s, "cpu_s": counter.cpu_s,
            "steps": trainer.state.global_step, "computed_tokens": counter.computed,
            "loss_tokens": counter.loss_tokens, "dataset_tokens": dataset_tokens}


def _lora() -> Any:
    from largeforge.config import LoRAConfig

    return LoRAConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear")


def run_largeforge(model: str, data: Path, batch: int, *, steps: int = -1, packing: bool = False,
                   rows_of_max_length: bool = False, dense_mask: bool = False) -> dict[str, float]:
    """One LargeForge SFT run (``steps=-1``: one epoch); the flags select the diagnostic variants."""
    from largeforge.config import SFTConfig
    from largeforge.data import DatasetFactory
    from largeforge_train.base import read_log
    from largeforge_train.sft import SFTTrainer

    class Measured(SFTTrainer):
        counter: _Counting
        pack_rows_to_batch = not rows_of_max_length

        def packed_attention(self) -> bool:
            return False if dense_mask else super().packed_attention()

        def _create_trainer(self, train_dataset: Any, eval_dataset: Any) -> Any:
            trainer = super()._create_trainer(train_dataset, eval_dataset)
            self.counter = _instrument(trainer)
            return trainer

    with tempfile.TemporaryDirectory() as out:
        config = SFTConfig(output_dir=out, num_train_epochs=1, max_steps=steps, per_device_train_batch_size=batch,
                           gradient_accumulation_steps=1, learning_rate=LR, weight_decay=0.0, warmup_ratio=0.0,
                           logging_steps=1, save_steps=10_000, max_seq_length=MAX_LENGTH, packing=packing,
                           bf16=False, seed=SEED)
        trainer = Measured(model, config, _lora(), progress=False)
        result = trainer.train(DatasetFactory.load(data))
        return _measure(trainer.trainer, trainer.counter, read_log(out), result.metrics["train_runtime"])


def run_trl(model: str, data: Path, batch: int, *, steps: int) -> dict[str, float]:
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
        args = SFTConfig(output_dir=out, num_train_epochs=1, max_steps=steps, per_device_train_batch_size=batch,
                         gradient_accumulation_steps=1, learning_rate=LR, weight_decay=0.0, warmup_steps=0,
                         logging_steps=1, save_steps=10_000, max_length=MAX_LENGTH, bf16=False,
                         gradient_checkpointing=False, report_to="none", disable_tqdm=True, seed=SEED,
                         data_seed=SEED, dataloader_pin_memory=False, completion_only_loss=True)
        trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(path), args=args, train_dataset=dataset,
                             processing_class=AutoTokenizer.from_pretrained(path),
                             peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                                                    target_modules="all-linear", task_type="CAUSAL_LM"))
        counter = _instrument(trainer)
        metrics = trainer.train().metrics
        return _measure(trainer, counter, trainer.state.log_history, metrics["train_runtime"])


def _median(runs: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    out["tokens_per_s_runs"] = [round(r["tokens_per_s"], 2) for r in runs]
    out["tokens_per_cpu_s_runs"] = [round(r["tokens_per_cpu_s"], 2) for r in runs]
    out["load_average_1min_runs"] = [round(r["load_average_1min"], 2) for r in runs]
    del out["load_average_1min"]
    return out


def _paired(runs: dict[str, list[dict[str, float]]], name: str, base: str) -> dict[str, Any]:
    """``name`` over ``base`` per round (the runs of a round are adjacent in time, so they share the
    machine's load), and the median over rounds; in wall time and in CPU time."""
    out: dict[str, Any] = {}
    for label, key in (("ratio", "tokens_per_s"), ("cpu_time_ratio", "tokens_per_cpu_s")):
        per_round = [a[key] / b[key] for a, b in zip(runs[name], runs[base], strict=True)]
        out[label] = statistics.median(per_round)
        out[f"{label}_per_round"] = [round(r, 3) for r in per_round]
    return out


def _same_tokens(runs: dict[str, list[dict[str, float]]]) -> None:
    """Fairness check: every run of a comparison trained the same real tokens, padding excluded."""
    counts = {(name, r["tokens"], r["loss_tokens"]) for name, rs in runs.items() for r in rs}
    if len({(t, lt) for _, t, lt in counts}) != 1:
        raise SystemExit(f"runs trained different tokens: {sorted(counts)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=6, help="steps of the LargeForge / TRL comparison")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--examples", type=int, default=None, help="identity rows for packing (default: all 91)")
    parser.add_argument("--no-variants", action="store_true", help="skip the diagnostic packing variants")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    alpaca, identity = DATA / "alpaca_en_demo.json", _identity_rows(args.examples)

    started = time.time()
    load_before = os.getloadavg()
    run_largeforge(args.model, identity, args.batch, steps=1)  # warm-up, untimed
    pair: dict[str, list[dict[str, float]]] = {"largeforge": [], "trl": []}
    packing: dict[str, list[dict[str, float]]] = {"packed": [], "unpacked": []}
    if not args.no_variants:
        packing.update(packed_rows_of_max_length=[], packed_before=[])
    runners = {
        "largeforge": lambda: run_largeforge(args.model, alpaca, args.batch, steps=args.steps),
        "trl": lambda: run_trl(args.model, alpaca, args.batch, steps=args.steps),
        "unpacked": lambda: run_largeforge(args.model, identity, args.batch),
        "packed": lambda: run_largeforge(args.model, identity, args.batch, packing=True),
        "packed_rows_of_max_length": lambda: run_largeforge(args.model, identity, args.batch, packing=True,
                                                            rows_of_max_length=True),
        "packed_before": lambda: run_largeforge(args.model, identity, args.batch, packing=True,
                                                rows_of_max_length=True, dense_mask=True),
    }
    for round_ in range(args.repeats):
        for group in (pair, packing):
            for name in (list(group) if round_ % 2 == 0 else list(reversed(group))):
                group[name].append(runners[name]())
                run = group[name][-1]
                run["load_average_1min"] = os.getloadavg()[0]
                print(f"round {round_ + 1} {name}: {run['tokens_per_s']:.2f} tokens/s, "
                      f"{run['tokens_per_cpu_s']:.2f} per CPU s (load {os.getloadavg()[0]:.2f})", flush=True)
    _same_tokens(pair)
    _same_tokens(packing)
    med = {name: _median(runs) for group in (pair, packing) for name, runs in group.items()}
    lf, trl, packed, unpacked = med["largeforge"], med["trl"], med["packed"], med["unpacked"]
    results: dict[str, Any] = {
        "model": args.model, "steps": args.steps, "batch": args.batch, "repeats": args.repeats,
        "max_length": MAX_LENGTH, "lora": "r16 alpha32 all-linear, dropout 0",
        "metric": "real (non-padding) input tokens per second of train_runtime; TRL's num_tokens",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average_start": load_before, "load_average_end": os.getloadavg()},
        "largeforge_vs_trl": {"data": "alpaca_en_demo.json", "largeforge": lf, "trl": trl,
                              **_paired(pair, "largeforge", "trl"), "target": 0.97},
        "packed_vs_unpacked": {"data": f"identity.json ({args.examples or 'all'} rows, one epoch)",
                               "packed": packed, "unpacked": unpacked,
                               **_paired(packing, "packed", "unpacked"), "target": 1.5},
        "wall_time_s": time.time() - started,
    }
    for name in ("packed_rows_of_max_length", "packed_before"):
        if name in med:
            results["packed_vs_unpacked"][name] = med[name]
            paired = _paired(packing, name, "unpacked")
            results["packed_vs_unpacked"][f"{name}_ratio"] = paired["ratio"]
            results["packed_vs_unpacked"][f"{name}_cpu_time_ratio"] = paired["cpu_time_ratio"]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    pair_r, pack_r = results["largeforge_vs_trl"], results["packed_vs_unpacked"]
    print(f"LargeForge / TRL tokens/s: {pair_r['ratio']:.3f} (target >= 0.97; "
          f"per CPU second {pair_r['cpu_time_ratio']:.3f})")
    print(f"packed / unpacked tokens/s: {pack_r['ratio']:.2f} (target >= 1.5; "
          f"per CPU second {pack_r['cpu_time_ratio']:.2f})")
    for name in ("packed_rows_of_max_length", "packed_before"):
        if name in pack_r:
            print(f"{name} / unpacked: {pack_r[f'{name}_ratio']:.2f} "
                  f"(per CPU second {pack_r[f'{name}_cpu_time_ratio']:.2f})")
    print(f"load average {results['machine']['load_average_start']} -> {results['machine']['load_average_end']}; "
          f"written to {args.output}")


if __name__ == "__main__":
    main()
