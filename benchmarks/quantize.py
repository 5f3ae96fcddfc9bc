"""4-bit GPTQ and AWQ against the unquantized model, in one run, on the embedded SmolLM2-135M.

Calibration: ``--samples`` Alpaca rows (``../shared/data/real/alpaca_en_demo.json``) rendered
with the chat template; evaluation: perplexity on the outputs of ``--heldout`` other Alpaca rows
(prompt tokens are context, only the answers are scored). For each model it records the time
taken, the size of the weight files and of the quantized linear layers (against their 16-bit
size), the held-out perplexity and whether it still answers "Paris". Writes
``benchmarks/results/quantize.json``.

    python benchmarks/quantize.py [--samples 128] [--heldout 40] [--methods gptq,awq]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

RESULTS = Path(__file__).parent / "results" / "quantize.json"
ALPACA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "alpaca_en_demo.json"
QUESTION = "What is the capital of France?"


def answer(model: Any, tokenizer: Any) -> str:
    """Greedy answer of ``model`` to the France question."""
    import torch

    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": QUESTION}], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=24, do_sample=False)
    return str(tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)).strip()


def evaluate(model_dir: Path, heldout: list[Any], seq_length: int, quantized: bool) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from largeforge_quant import load_quantized
    from largeforge_quant.report import perplexity

    model = (
        load_quantized(model_dir)
        if quantized
        else AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    start = time.perf_counter()
    ppl = perplexity(model, tokenizer, heldout, seq_length)
    reply = answer(model, tokenizer)
    return {
        "perplexity": round(ppl, 4),
        "eval_seconds": round(time.perf_counter() - start, 1),
        "answer": reply,
        "answers_paris": "Paris" in reply,
    }


def run_method(
    method: str, model: str, split: Any, seq_length: int, threads: int, options: dict[str, Any]
) -> dict[str, Any]:
    """Quantize with ``method``, then measure it (a function of its own so it can run in a worker)."""
    import torch

    from largeforge_quant import AWQQuantizer, GPTQQuantizer
    from largeforge_quant.report import model_size, quantized_layers

    if threads:
        torch.set_num_threads(threads)
    quantizer = {"gptq": GPTQQuantizer, "awq": AWQQuantizer}[method](model, bits=4, seq_length=seq_length, **options)
    with tempfile.TemporaryDirectory(prefix=f"lf-quant-bench-{method}-") as tmp:
        out = Path(tmp) / method
        start = time.perf_counter()
        quantizer.quantize(split.texts, out)
        seconds = time.perf_counter() - start
        size = model_size(out, quantized_layers(out))
        return {
            "scheme": quantizer.config.merged(group_size=quantizer.group_size).label,
            "quantize_seconds": round(seconds, 1),
            "total_bytes": size.total_bytes,
            "linear_bytes": size.linear_bytes,
            **evaluate(out, split.heldout, seq_length, quantized=True),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--calibration", default=str(ALPACA))
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--heldout", type=int, default=40)
    parser.add_argument("--seq-length", type=int, default=512)
    parser.add_argument("--methods", default="gptq,awq")
    parser.add_argument("--awq-n-grid", type=int, default=20, help="AWQ scale-search grid points.")
    parser.add_argument(
        "--parallel",
        action="store_true",
        help="Run the methods and the baseline in separate single-threaded processes "
        "(faster on a busy machine; each time then includes the others' load).",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    import llmcompressor
    import torch
    from transformers import AutoTokenizer

    from largeforge.models import resolve_model
    from largeforge_quant.calibration import load_calibration_split
    from largeforge_quant.report import model_size

    base = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(base)
    split = load_calibration_split(
        args.calibration,
        tokenizer,
        num_samples=args.samples,
        num_heldout=args.heldout,
        seq_length=args.seq_length,
        seed=0,
    )
    print(f"calibration: {len(split.texts)} rows, held-out: {len(split.heldout)} rows", flush=True)
    results: dict[str, Any] = {
        "benchmark": "quantize",
        "model": args.model,
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "cuda": torch.cuda.is_available(),
            "torch": torch.__version__,
            "llmcompressor": llmcompressor.__version__,
            "parallel": args.parallel,
        },
        "settings": {
            "calibration": Path(args.calibration).name,
            "calibration_samples": len(split.texts),
            "heldout_samples": len(split.heldout),
            "seq_length": args.seq_length,
            "scheme": "W4 asymmetric, group size chosen from the layer widths",
            "awq_n_grid": args.awq_n_grid,
        },
        "models": {},
    }
    methods = args.methods.split(",")
    options = {"gptq": {}, "awq": {"n_grid": args.awq_n_grid}}

    def record(name: str, values: dict[str, Any]) -> None:
        """Add one model's figures and rewrite the file, so a long run keeps what it finished."""
        if name != "unquantized":
            base_run = results["models"]["unquantized"]
            values["linear_ratio_vs_16bit"] = round(values["linear_bytes"] / base_run["linear_bytes_16bit"], 4)
            values["total_ratio"] = round(values["total_bytes"] / base_run["total_bytes"], 4)
            values["perplexity_ratio"] = round(values["perplexity"] / base_run["perplexity"], 4)
        results["models"][name] = values
        results["complete"] = set(results["models"]) == {"unquantized", *methods}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(name, values, flush=True)

    # Linear-layer bytes of the base model are those of the layers the quantizers touch: every
    # Linear except lm_head (read from the model's config on the meta device, no weights loaded).
    from largeforge_quant.layers import quantized_layer_widths

    before = model_size(base, list(quantized_layer_widths(base, ["lm_head"])))
    base_sizes = {
        "quantize_seconds": 0.0,
        "total_bytes": before.total_bytes,
        "linear_bytes": before.linear_bytes,
        "linear_bytes_16bit": before.linear_bytes_16bit,
    }
    if args.parallel:
        from concurrent.futures import ProcessPoolExecutor

        torch.set_num_threads(1)
        with ProcessPoolExecutor(max_workers=len(methods)) as pool:
            futures = {
                m: pool.submit(run_method, m, args.model, split, args.seq_length, 1, options[m]) for m in methods
            }
            record("unquantized", {**base_sizes, **evaluate(base, split.heldout, args.seq_length, False)})
            for method, future in futures.items():
                record(method, future.result())
    else:
        record("unquantized", {**base_sizes, **evaluate(base, split.heldout, args.seq_length, False)})
        for method in methods:
            record(method, run_method(method, args.model, split, args.seq_length, 0, options[method]))
    print(json.dumps(results["models"], indent=2))


if __name__ == "__main__":
    main()
