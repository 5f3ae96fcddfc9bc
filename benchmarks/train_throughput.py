"""Training throughput, measured side by side in one run (same model, data, LoRA and settings).

1. LargeForge's ``SFTTrainer`` against TRL's ``SFTTrainer`` called directly (target: ≥ 0.97×):
   LoRA r16 on all linear layers, loss on completions, the same prompt/completion rows (Alpaca
   demo), the same TRL config fields, ``--steps`` steps of ``--batch`` rows each, so both train
   exactly the same tokens. LargeForge adds its preflight, callbacks and checkpoint marking.
2. Packed against unpacked SFT on short examples (target: ≥ 1.5×), one epoch over the same rows so
   both train exactly the same real tokens, on two data sets: all of ``identity.json`` (short and
   uniform, about 110 tokens each) and ``--alpaca-examples`` rows sampled from the Alpaca demo
   (short and mixed, about 200 tokens on average, cut at ``max_length``). The gain packing can
   give is bounded by the padding it removes: ``padding_ceiling`` is the unpacked run's computed
   tokens (padding included) over its real tokens.
   Unpacked is LargeForge's default: batches of ``--batch`` examples padded to their longest.
   Packed is ``packing: true``: whole examples packed best-fit-decreasing into rows of about
   ``--batch`` examples, one row per step (so about the same examples per step and steps per epoch
   as unpacked), padding-free, attention per example. Two diagnostic variants on identity
   (``--variants`` adds them): ``packed_rows_of_max_length`` packs as TRL does, ``--batch`` rows of
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
                                          [--alpaca-examples 128] [--variants]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

RESULTS = Path(__file__).parent / "results" / "train_throughput.json"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
MAX_LENGTH = 512
LR, SEED = 1e-4, 0
# The packing comparison's runs: name -> run_largeforge flags (the first two always, the rest with --variants).
PACKING_ARMS: dict[str, dict[str, bool]] = {"packed": {"packing": True}, "unpacked": {}}
PACKING_VARIANTS: dict[str, dict[str, bool]] = {
    "packed_rows_of_max_length": {"packing": True, "rows_of_max_length": True},
    "packed_before": {"packing": True, "rows_of_max_length": True, "dense_mask": True},
}


def _identity_rows(limit: int | None) -> Path:
    rows = json.loads((DATA / "identity.json").read_text())[:limit]
    for row in rows:
        row["output"] = row["output"].replace("{{name}}", "Nova").replace("{{author}}", "Acme Labs")
    return _write_rows(rows, "identity.json")


def _alpaca_rows(count: int) -> Path:
    """A seeded random sample of the Alpaca demo: real instructions of mixed, mostly short length."""
    rows = json.loads((DATA / "alpaca_en_demo.json").read_text())
    return _write_rows(random.Random(SEED).sample(rows, min(count, len(rows))), "alpaca_sample.json")


def _write_rows(rows: list[dict[str, Any]], name: str) -> Path:
    path = Path(tempfile.mkdtemp()) / name
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
    return {
        "tokens": tokens,
        "tokens_per_s": tokens / runtime,
        "runtime": runtime,
        "tokens_per_cpu_s": tokens / counter.cpu_s,
        "cpu_s": counter.cpu_s,
        "steps": trainer.state.global_step,
        "computed_tokens": counter.computed,
        "loss_tokens": counter.loss_tokens,
        "dataset_tokens": dataset_tokens,
    }


def _lora() -> Any:
    from largeforge.config import LoRAConfig

    return LoRAConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear")


def run_largeforge(
    model: str,
    data: Path,
    batch: int,
    *,
    steps: int = -1,
    packing: bool = False,
    rows_of_max_length: bool = False,
    dense_mask: bool = False,
) -> dict[str, float]:
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
        config = SFTConfig(
            output_dir=out,
            num_train_epochs=1,
            max_steps=steps,
            per_device_train_batch_size=batch,
            gradient_accumulation_steps=1,
            learning_rate=LR,
            weight_decay=0.0,
            warmup_ratio=0.0,
            logging_steps=1,
            save_steps=10_000,
            max_seq_length=MAX_LENGTH,
            packing=packing,
            bf16=False,
            seed=SEED,
        )
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
        args = SFTConfig(
            output_dir=out,
            num_train_epochs=1,
            max_steps=steps,
            per_device_train_batch_size=batch,
            gradient_accumulation_steps=1,
            learning_rate=LR,
            weight_decay=0.0,
            warmup_steps=0,
            logging_steps=1,
            save_steps=10_000,
            max_length=MAX_LENGTH,
            bf16=False,
            gradient_checkpointing=False,
            report_to="none",
            disable_tqdm=True,
            seed=SEED,
            data_seed=SEED,
            dataloader_pin_memory=False,
            completion_only_loss=True,
        )
        trainer = SFTTrainer(
            model=AutoModelForCausalLM.from_pretrained(path),
            args=args,
            train_dataset=dataset,
            processing_class=AutoTokenizer.from_pretrained(path),
            peft_config=LoraConfig(
                r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
            ),
        )
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
    parser.add_argument(
        "--alpaca-examples",
        type=int,
        default=128,
        help="Alpaca demo rows sampled for packing (0 skips that comparison)",
    )
    parser.add_argument("--variants", action="store_true", help="add the diagnostic packing variants on identity")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    alpaca = DATA / "alpaca_en_demo.json"
    packing_data = {"identity": _identity_rows(args.examples)}
    if args.alpaca_examples:
        packing_data["alpaca"] = _alpaca_rows(args.alpaca_examples)

    started = time.time()
    load_before = os.getloadavg()
    run_largeforge(args.model, packing_data["identity"], args.batch, steps=1)  # warm-up, untimed
    runners: dict[str, Callable[[], dict[str, float]]] = {
        "largeforge": lambda: run_largeforge(args.model, alpaca, args.batch, steps=args.steps),
        "trl": lambda: run_trl(args.model, alpaca, args.batch, steps=args.steps),
    }
    groups: dict[str, dict[str, list[dict[str, float]]]] = {"largeforge_vs_trl": {"largeforge": [], "trl": []}}
    for data_name, path in packing_data.items():
        arms = dict(PACKING_ARMS, **(PACKING_VARIANTS if args.variants and data_name == "identity" else {}))
        groups[f"packing_{data_name}"] = {f"{data_name}/{arm}": [] for arm in arms}
        for arm, flags in arms.items():
            runners[f"{data_name}/{arm}"] = functools.partial(run_largeforge, args.model, path, args.batch, **flags)
    for round_ in range(args.repeats):
        for group in groups.values():
            for name in list(group) if round_ % 2 == 0 else list(reversed(group)):
                run = runners[name]()
                run["load_average_1min"] = os.getloadavg()[0]
                group[name].append(run)
                print(
                    f"round {round_ + 1} {name}: {run['tokens_per_s']:.2f} tokens/s, "
                    f"{run['tokens_per_cpu_s']:.2f} per CPU s (load {run['load_average_1min']:.2f})",
                    flush=True,
                )
    for group in groups.values():
        _same_tokens(group)
    pair = groups["largeforge_vs_trl"]
    results: dict[str, Any] = {
        "model": args.model,
        "steps": args.steps,
        "batch": args.batch,
        "repeats": args.repeats,
        "max_length": MAX_LENGTH,
        "lora": "r16 alpha32 all-linear, dropout 0",
        "metric": "real (non-padding) input tokens per second of train_runtime; TRL's num_tokens",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average_start": load_before},
        "largeforge_vs_trl": {
            "data": f"alpaca_en_demo.json ({args.steps} steps)",
            "largeforge": _median(pair["largeforge"]),
            "trl": _median(pair["trl"]),
            **_paired(pair, "largeforge", "trl"),
            "target": 0.97,
        },
        "packed_vs_unpacked": {},
    }
    for data_name, path in packing_data.items():
        group = groups[f"packing_{data_name}"]
        unpacked_name = f"{data_name}/unpacked"
        unpacked = _median(group[unpacked_name])
        entry: dict[str, Any] = {
            "data": f"{path.name} ({len(json.loads(path.read_text()))} rows, one epoch)",
            "unpacked": unpacked,
            "padding_ceiling": unpacked["computed_tokens"] / unpacked["tokens"],
            "target": 1.5,
        }
        for name in group:
            if name != unpacked_name:
                short = name.split("/", 1)[1]
                entry[short] = _median(group[name])
                paired = _paired(group, name, unpacked_name)
                prefix = "" if short == "packed" else f"{short}_"
                entry.update({f"{prefix}{key}": value for key, value in paired.items()})
        results["packed_vs_unpacked"][data_name] = entry
    results["machine"]["load_average_end"] = os.getloadavg()
    results["wall_time_s"] = time.time() - started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    pair_r = results["largeforge_vs_trl"]
    print(
        f"LargeForge / TRL tokens/s: {pair_r['ratio']:.3f} (target >= 0.97; "
        f"per CPU second {pair_r['cpu_time_ratio']:.3f})"
    )
    for data_name, entry in results["packed_vs_unpacked"].items():
        print(
            f"{data_name}: packed / unpacked tokens/s {entry['ratio']:.2f} (target >= 1.5; per CPU second "
            f"{entry['cpu_time_ratio']:.2f}; padding ceiling {entry['padding_ceiling']:.2f})"
        )
        for short in ("packed_rows_of_max_length", "packed_before"):
            if f"{short}_ratio" in entry:
                print(
                    f"  {short} / unpacked: {entry[f'{short}_ratio']:.2f} "
                    f"(per CPU second {entry[f'{short}_cpu_time_ratio']:.2f})"
                )
    print(f"load average {load_before} -> {results['machine']['load_average_end']}; written to {args.output}")


if __name__ == "__main__":
    main()
