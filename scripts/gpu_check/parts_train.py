"""Parts that train and quantize on the GPU: sft, dpo, gptq."""

from __future__ import annotations

import json
import shlex
import shutil
import statistics
from pathlib import Path
from typing import Any

from gpu_check.common import MODEL, CheckFailed, Context, answers, cuda_peak_mb, largeforge

#: Not in the identity data: the model must generalise, not recite.
PARAPHRASES = ["Who are you?", "What's your name?", "Introduce yourself, please.", "Who am I talking to?"]
CAPITAL = "What is the capital of France?"
#: The identity recipe of largeforge-train/README.md for 50 steps (about 2 epochs of 91 rows);
#: bf16 is the default, and the GPU has it. Checkpoints at 25 and 50 keep the TrainingArguments.
SFT_ARGS = shlex.split(
    "--max-steps 50 --num-epochs 3 --batch-size 4 --gradient-accumulation 1 --learning-rate 1e-3 --warmup-ratio 0 "
    "--max-length 160 --lora-r 16 --lora-alpha 32 --lora-dropout 0 --lora-target-modules all-linear "
    "--logging-steps 1 --save-steps 25"
)
#: The README's DPO step, on examples/train/pairs.json (8 pairs: 2 epochs at batch 4, 4 steps).
DPO_ARGS = shlex.split(
    "--num-epochs 2 --batch-size 4 --gradient-accumulation 1 --learning-rate 5e-4 --warmup-ratio 0 --beta 0.1 "
    "--max-length 256 --lora-r 16 --lora-target-modules all-linear --logging-steps 1 --save-steps 1000"
)
#: GPTQ W4 as benchmarks/quantize.py measures it on the CPU (32 calibration rows, 40 held out).
GPTQ_ARGS = shlex.split("--bits 4 --samples 32 --eval-samples 40")


def _bf16_in_checkpoint(output: Path) -> bool | None:
    """``bf16`` of the TrainingArguments saved with the last checkpoint (None without one)."""
    import torch

    saved = sorted(output.glob("checkpoint-*/training_args.bin"), key=lambda p: int(p.parent.name.split("-")[1]))
    return bool(torch.load(saved[-1], weights_only=False).bf16) if saved else None


def part_sft(ctx: Context) -> dict[str, Any]:
    """LoRA SFT with the identity recipe (bf16 on CUDA); does the adapter answer the new name?"""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from largeforge.models import resolve_model
    from largeforge_train.base import read_log

    identity, out = ctx.identity(), ctx.runs / "sft"
    shutil.rmtree(out, ignore_errors=True)  # a rerun starts afresh
    args = ["train", "sft", "--model", MODEL, "--dataset", identity["path"], "--output", str(out), *SFT_ARGS]
    code, facts, output = largeforge(ctx, *args, name="sft")
    losses = [r["loss"] for r in read_log(out) if "loss" in r]
    details: dict[str, Any] = {
        "exit": code,
        "losses": [round(x, 4) for x in losses],
        "summary": json.loads((out / "largeforge_training.json").read_text()) if code == 0 else {},
        "cuda_peak_mb": cuda_peak_mb(facts),
        "bf16_in_checkpoint_args": _bf16_in_checkpoint(out) if code == 0 else None,
    }
    if code != 0:
        raise CheckFailed(f"largeforge train sft exited {code}: {output.strip()[-300:]}", details)
    tokenizer = AutoTokenizer.from_pretrained(out)
    cuda = torch.cuda.is_available()  # the part runs on a CPU too (plumbing), where on_cuda fails
    dtype = torch.bfloat16 if cuda else torch.float32
    base: Any = AutoModelForCausalLM.from_pretrained(resolve_model(MODEL), dtype=dtype)
    base = base.to("cuda" if cuda else "cpu").eval()
    details["base_answers"] = answers(base, tokenizer, [*PARAPHRASES, CAPITAL])
    tuned = PeftModel.from_pretrained(base, str(out)).eval()  # wraps ``base``: its answers come first
    details["adapter_answers"] = after = answers(tuned, tokenizer, [*PARAPHRASES, CAPITAL])
    named = sum(identity["name"] in a for a in after[: len(PARAPHRASES)])
    details["name"], details["named"] = identity["name"], f"{named}/{len(PARAPHRASES)}"
    details["checks"] = {
        "steps_50": details["summary"].get("global_step") == 50,
        "loss_fell": bool(losses) and statistics.mean(losses[-5:]) < 0.7 * losses[0],
        "on_cuda": details["cuda_peak_mb"] > 0,
        "no_fp32_fallback": "training in fp32" not in output,
        "bf16": details["bf16_in_checkpoint_args"] is True,
        "answers_new_name": named >= len(PARAPHRASES) - 1,
    }
    return details


def part_dpo(ctx: Context) -> dict[str, Any]:
    """DPO from the SFT adapter (the base model if SFT left none) on examples/train/pairs.json."""
    from largeforge_train.base import read_log

    sft, out = ctx.runs / "sft", ctx.runs / "dpo"
    shutil.rmtree(out, ignore_errors=True)
    start = str(sft) if (sft / "adapter_config.json").is_file() else MODEL
    pairs = ctx.repo / "examples" / "train" / "pairs.json"
    args = ["train", "dpo", "--model", start, "--dataset", str(pairs), "--output", str(out), *DPO_ARGS]
    code, facts, output = largeforge(ctx, *args, name="dpo")
    logged = [r for r in read_log(out) if "rewards/margins" in r]
    margins = [round(r["rewards/margins"], 4) for r in logged]
    return {
        "checks": {
            "exit_0": code == 0,
            "steps_logged": len(logged) == 4,
            "on_cuda": cuda_peak_mb(facts) > 0,
            "margin_rose": len(margins) > 1 and margins[-1] > max(margins[0], 0),
        },
        "from": "the sft adapter" if start != MODEL else MODEL,
        "margins": margins,
        "accuracies": [r["rewards/accuracies"] for r in logged],
        "cuda_peak_mb": cuda_peak_mb(facts),
        "tail": output.strip()[-300:] if code else "",
    }


def part_gptq(ctx: Context) -> dict[str, Any]:
    """``largeforge quant gptq`` W4 through llm-compressor on CUDA: perplexity ratio, an answer."""
    from transformers import AutoTokenizer

    from largeforge_quant.loading import load_quantized

    out = ctx.runs / "gptq"
    shutil.rmtree(out, ignore_errors=True)
    code, facts, output = largeforge(
        ctx, "quant", "gptq", "--model", MODEL, "--output", str(out), *GPTQ_ARGS, name="gptq"
    )
    details: dict[str, Any] = {"exit": code, "cuda_peak_mb": cuda_peak_mb(facts)}
    if code != 0:
        raise CheckFailed(f"largeforge quant gptq exited {code}: {output.strip()[-300:]}", details)
    report = json.loads((out / "quantization_report.json").read_text())
    keep = ("scheme", "seconds", "linear_ratio_vs_16bit", "perplexity_before", "perplexity_after", "perplexity_ratio")
    details["report"] = {k: report.get(k) for k in keep}
    details["answer"] = answers(load_quantized(out), AutoTokenizer.from_pretrained(out), [CAPITAL])[0]
    details["checks"] = {
        "on_cuda": details["cuda_peak_mb"] > 0,
        # the CPU figures: 1.107× and 0.285× (README, Benchmarks)
        "perplexity_ratio_le_1_25": (report.get("perplexity_ratio") or 99) <= 1.25,
        "linear_ratio_le_0_30": (report.get("linear_ratio_vs_16bit") or 1) <= 0.30,
    }
    return details
